/* Node mode `robust`: the children's whole gradients land in G × d registered rows (the
 * pull is the sum mode's, node/sum.c, but each read lands in its child's row), then the library's engine runs the
 * job's rule over them (the same pn_agg_* the aggregator uses; NaN/Inf children are
 * dropped and counted by it) and the node serves G × the rule's output, so the root's
 * division by all n leaves gives the mean of the groups' robust aggregates. */
#include "node/node_internal.h"
#include "job/session_worker.h" /* pn_sess_send: the report goes up the parent session */

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int pn_node_robust_setup(pn_node *n)
{
	if (!n->cfg->rule)
		return pn_node_fail(n, -EINVAL, "--node-mode robust needs a rule");
	pn_agg_config ac = *n->cfg->rule;
	ac.p = n->g;
	ac.d = n->d;
	if (ac.grad_dtype != PN_DTYPE_F32)
		return pn_node_fail(n, -EINVAL, "a robust node takes f32 gradients");
	void *rb;
	int rc = pn_tp_alloc(n->ctx, (size_t)n->g * n->d * sizeof(float), PN_ACCESS_LOCAL_WRITE, &rb, &n->rows_mr);
	if (rc)
		return pn_node_fail(n, rc, "registered memory for %d × %zu floats: %s", n->g, n->d,
				    pn_tp_errmsg(n->ctx));
	n->rows = rb;
	float **ptrs = n->rowp = malloc((size_t)n->g * sizeof *ptrs);
	if (!ptrs)
		return pn_node_fail(n, -ENOMEM, "out of memory");
	for (int c = 0; c < n->g; c++)
		ptrs[c] = n->rows + (size_t)c * n->d;
	char e[256];
	n->agg = pn_agg_begin(&ac, ptrs, e, sizeof e);
	if (!n->agg)
		return pn_node_fail(n, -EINVAL, "the rule over %d children: %s", n->g, e);
	return 0;
}

void pn_node_robust_teardown(pn_node *n)
{
	if (n->agg)
		pn_agg_free(n->agg);
	if (n->rows_mr)
		pn_tp_deregister(n->rows_mr);
	free(n->rowp);
	n->rows_mr = NULL;
	n->agg = NULL;
	n->rows = NULL;
	n->rowp = NULL;
}

/* Per child: dropped for NaN/Inf, the round's most suspect one (highest finite score). */
static void account(pn_node *n, int *nonfinite, int *suspect)
{
	const int *st = pn_agg_status(n->agg);
	const double *sc = pn_agg_scores(n->agg);
	*nonfinite = 0;
	*suspect = -1;
	for (int c = 0; c < n->g; c++) {
		if (st[c] != PN_AGG_USED) {
			n->kids[c].nonfinite += st[c] == PN_AGG_NONFINITE;
			*nonfinite += st[c] == PN_AGG_NONFINITE;
			continue;
		}
		if (isfinite(sc[c])) {
			n->kids[c].score_sum += sc[c];
			if (*suspect < 0 || sc[c] > sc[*suspect])
				*suspect = c;
		}
	}
	if (*suspect >= 0)
		n->kids[*suspect].top_suspect++;
}

/* The rule's verdict on every child to the parent, before READY (the parent keeps it for
 * the round: statuses, scores, and its trust roll-up), in messages of at most
 * PN_JOB_MAX_PARTS children. */
static int report_children(pn_node *n)
{
	const int *st = pn_agg_status(n->agg);
	const double *sc = pn_agg_scores(n->agg);
	for (int c0 = 0; c0 < n->g; c0 += PN_JOB_MAX_PARTS) {
		pn_job_msg m = {.type = PN_MSG_NODE_REPORT, .round = n->round,
				.rank = (uint32_t)(n->cfg->first_rank + c0)};
		for (int c = c0; c < n->g && m.nparts < PN_JOB_MAX_PARTS; c++, m.nparts++) {
			m.parts[m.nparts] = st[c];
			m.coefs[m.nparts] = isnan(sc[c]) || sc[c] == -INFINITY ? INFINITY : sc[c];
		}
		int rc = pn_sess_send(n->parent, &m);
		if (rc)
			return pn_node_fail(n, rc, "parent: %s", pn_session_error(n->parent));
	}
	return 0;
}

int pn_node_robust_finish(pn_node *n)
{
	/* the engine reads the rows in place: reset forgets the last round's landed ranges */
	int rc = pn_agg_reset(n->agg, n->rowp);
	for (int c = 0; c < n->g && !rc; c++)
		rc = pn_agg_landed(n->agg, c, 0, n->d);
	if (!rc)
		rc = pn_agg_finish(n->agg, n->sum);
	if (rc)
		return pn_node_fail(n, rc, "round %lld: the rule over children %d..%d: %s", (long long)n->round,
				    n->cfg->first_rank, n->cfg->first_rank + n->g - 1, pn_agg_errmsg(n->agg));
	int nonfinite, suspect;
	account(n, &nonfinite, &suspect);
	const float scale = (float)n->g; /* the parent divides by the leaves */
	for (size_t i = 0; i < n->d; i++)
		n->sum[i] *= scale;
	pn_node_log(n, "node %d round %lld: %s over %d children, %d dropped (NaN/Inf), most suspect rank %d\n",
		    n->cfg->rank, (long long)n->round, pn_rule_name(n->cfg->rule->rule), n->g - nonfinite,
		    nonfinite, suspect < 0 ? -1 : n->cfg->first_rank + suspect);
	return report_children(n);
}
