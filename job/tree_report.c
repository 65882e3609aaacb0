/* A tree of robust nodes, at the root: each node's NODE_REPORT (its rule's status and
 * score of each of its children, sent before its READY) kept for the round (the round
 * record, and so the JSON) and rolled up over the job per worker (pn_leaf_stats): rounds
 * reported, dropped by its node, the group's top suspect, the sum of its scores. Only a
 * node may report, and only on its own children in the current round. */
#include "job/aggregator_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

static int nodes_of(const pn_job *j)
{
	return j->cfg->tree_nodes > 0 ? j->cfg->tree_nodes : j->n;
}

int pn_job_tree_report_setup(pn_job *j)
{
	int L = j->cfg->leaves;
	if (L <= 0)
		return 0;
	j->leaf_status = malloc(sizeof *j->leaf_status * (size_t)L);
	j->leaf_score = malloc(sizeof *j->leaf_score * (size_t)L);
	j->leaf_stats = calloc((size_t)L, sizeof *j->leaf_stats);
	if (!j->leaf_status || !j->leaf_score || !j->leaf_stats)
		return pn_job_fail(j, -ENOMEM, "out of memory");
	return 0;
}

void pn_job_tree_report_begin(pn_job *j)
{
	j->leaf_reported = false;
	for (int r = 0; j->leaf_status && r < j->cfg->leaves; r++) {
		j->leaf_status[r] = -1;
		j->leaf_score[r] = NAN;
	}
}

void pn_job_tree_on_report(pn_job *j, int i, const pn_job_msg *m)
{
	int G = j->leaf_status && i < nodes_of(j) ? j->cfg->leaves / nodes_of(j) : 0;
	uint32_t lo = (uint32_t)(i * G), hi = lo + (uint32_t)G;
	if (G == 0 || m->rank < lo || m->rank + (uint32_t)m->nparts > hi) {
		pn_job_log(j, "round %lld: peer %d reported on workers %u..%u, not its own: dropped\n",
			   (long long)j->round, i, m->rank, m->rank + (uint32_t)m->nparts - 1);
		return;
	}
	if (m->round != j->round)
		return; /* a round already closed */
	for (int k = 0; k < m->nparts; k++) {
		j->leaf_status[m->rank + (uint32_t)k] = m->parts[k];
		j->leaf_score[m->rank + (uint32_t)k] = m->coefs[k];
	}
	j->leaf_reported = true;
}

/* Group k's workers that this round's reports name: the statuses, and who scored highest. */
static void roll_up_group(pn_job *j, int k, int G)
{
	int top = -1;
	for (int r = k * G; r < (k + 1) * G; r++) {
		if (j->leaf_status[r] < 0)
			continue;
		pn_leaf_stats *s = &j->leaf_stats[r];
		s->reports++;
		if (j->leaf_status[r] != PN_AGG_USED) {
			s->dropped++;
			continue;
		}
		if (isfinite(j->leaf_score[r])) {
			s->score_sum += j->leaf_score[r];
			if (top < 0 || j->leaf_score[r] > j->leaf_score[top])
				top = r;
		}
	}
	if (top >= 0)
		j->leaf_stats[top].top_suspect++;
}

void pn_job_tree_report_end(pn_job *j, pn_round_record *rec)
{
	if (!j->leaf_reported)
		return;
	int nodes = nodes_of(j), G = j->cfg->leaves / nodes;
	for (int k = 0; k < nodes; k++)
		roll_up_group(j, k, G);
	rec->leaf_status = j->leaf_status;
	rec->leaf_score = j->leaf_score;
}

void pn_job_tree_report_result(const pn_job *j, pn_agg_job_result *res)
{
	if (!j->leaf_stats)
		return;
	res->leaf_stats = malloc(sizeof *res->leaf_stats * (size_t)j->cfg->leaves);
	if (!res->leaf_stats)
		return;
	res->leaves = j->cfg->leaves;
	for (int r = 0; r < res->leaves; r++)
		res->leaf_stats[r] = j->leaf_stats[r];
}

void pn_job_tree_report_free(pn_job *j)
{
	free(j->leaf_status);
	free(j->leaf_score);
	free(j->leaf_stats);
}
