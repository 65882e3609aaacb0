/* What a tree adds to pennant-train's record: with robust nodes, each round's statuses and
 * scores of every worker as its node reported them (JSON "leaf_status", "leaf_score"), and
 * over the job each worker's roll-up (JSON "leaves"; the human summary names the workers
 * their nodes distrust). A worker's trust at the root is its node's trust (the root's own
 * table is per node) times the share of its reported rounds in which its node's rule kept
 * it and it was not its group's top suspect. */
#include "report_tree.h"

#include <math.h>

void report_tree_round(pn_json *j, const train_opts *o, const pn_round_record *rec)
{
	if (!o->tree || !rec->leaf_status)
		return;
	pn_json_key(j, "leaf_status");
	pn_json_begin_array(j);
	for (int r = 0; r < o->n; r++)
		pn_json_int(j, rec->leaf_status[r]);
	pn_json_end_array(j);
	pn_json_key(j, "leaf_score");
	pn_json_begin_array(j);
	for (int r = 0; r < o->n; r++) /* +inf (excluded) and NaN (not reported) are null */
		pn_json_number(j, rec->leaf_score[r]);
	pn_json_end_array(j);
}

static double leaf_trust(const train_opts *o, const pn_agg_job_result *res, int r)
{
	const pn_leaf_stats *s = &res->leaf_stats[r];
	if (s->reports == 0)
		return NAN;
	double kept = (double)(s->reports - s->dropped - s->top_suspect) / (double)s->reports;
	return res->trust[r / o->tree] * kept;
}

void report_tree_final(pn_json *j, FILE *out, const train_opts *o, const pn_agg_job_result *res)
{
	if (!o->tree || !res || !res->leaf_stats || !res->trust)
		return;
	for (int r = 0; out && r < res->leaves; r++) {
		const pn_leaf_stats *s = &res->leaf_stats[r];
		if (s->reports > 0 && (2 * s->top_suspect > s->reports || s->dropped > 0))
			fprintf(out, "tree: worker %d (node %d): its group's top suspect in %lld of %lld rounds, "
				"dropped (NaN/Inf) in %lld, trust %.2f\n", r, r / o->tree, (long long)s->top_suspect,
				(long long)s->reports, (long long)s->dropped, leaf_trust(o, res, r));
	}
	if (!j)
		return;
	pn_json_key(j, "leaves");
	pn_json_begin_array(j);
	for (int r = 0; r < res->leaves; r++) {
		const pn_leaf_stats *s = &res->leaf_stats[r];
		pn_json_begin_object(j);
		pn_json_kint(j, "worker", r);
		pn_json_kint(j, "node", r / o->tree);
		pn_json_kint(j, "reports", s->reports);
		pn_json_kint(j, "dropped", s->dropped);
		pn_json_kint(j, "top_suspect", s->top_suspect);
		pn_json_knumber(j, "mean_score", s->reports > s->dropped ? s->score_sum / (double)(s->reports - s->dropped)
									  : NAN);
		pn_json_knumber(j, "trust", leaf_trust(o, res, r));
		pn_json_end_object(j);
	}
	pn_json_end_array(j);
}
