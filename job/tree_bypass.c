/* A tree's root around a dead node (pn_agg_job_config.tree_nodes, job/README.md
 * "Trees"). Peers 0 .. T-1 are the nodes, node k serving the sum of workers k·G ..
 * k·G + G - 1; peer T + r is worker r's own slot, taken only once its node is gone. A
 * round needs every worker's gradient exactly once: through its node, or, for a gone
 * node's workers, directly. Workers that join mid-round take part in it, the decision
 * held for them up to the straggler deadline; past it the round is lost and the next one
 * first waits (bounded) for them. Without bypass slots (tree_nodes 0) a node gone or
 * failed ends the job. */
#include "job/aggregator_internal.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>

static int group_size(const pn_job *j)
{
	return j->cfg->leaves / j->cfg->tree_nodes;
}

bool pn_job_is_leaf_slot(const pn_job *j, int i)
{
	return j->cfg->tree_nodes > 0 && i >= j->cfg->tree_nodes;
}

/* The node whose workers include the one of leaf slot i. */
static int node_of_leaf_slot(const pn_job *j, int i)
{
	return (i - j->cfg->tree_nodes) / group_size(j);
}

/* Node k's workers' slots: T + k·G .. T + k·G + G - 1. */
static int first_leaf_slot(const pn_job *j, int k)
{
	return j->cfg->tree_nodes + k * group_size(j);
}

static int leaves_joined(const pn_job *j, int k)
{
	int g = 0;
	for (int i = first_leaf_slot(j, k); i < first_leaf_slot(j, k) + group_size(j); i++)
		g += j->w[i].alive;
	return g;
}

const char *pn_job_tree_join_refusal(const pn_job *j, uint32_t rank, bool running)
{
	if (j->cfg->tree_nodes <= 0)
		return NULL;
	if (!pn_job_is_leaf_slot(j, (int)rank))
		return running ? "a node joining a running tree (only its workers are taken)" : NULL;
	if (!running || j->w[node_of_leaf_slot(j, (int)rank)].alive)
		return "its node is alive (a worker joins the root only once its node is gone)";
	return NULL;
}

int pn_job_tree_leaf_parts(const pn_job *j, int i, int *parts, double *coefs)
{
	parts[0] = i - j->cfg->tree_nodes; /* worker r computes partition r, as under its node */
	coefs[0] = 1.0;
	return 1;
}

/* While a node is gone: accept its workers' connections (their HELLO comes as a control
 * message from an unknown peer, pull.c). */
void pn_job_tree_accept(pn_job *j)
{
	bool open = false;
	for (int k = 0; k < j->cfg->tree_nodes; k++)
		open |= !j->w[k].alive && leaves_joined(j, k) < group_size(j);
	pn_tp_peer *p;
	for (int tries = 0; open && tries < 4; tries++)
		if (pn_tp_accept(j->ctx, &p, 0) != 0)
			break;
}

/* How long a gone node's workers may take to join: a worker notices its node gone by its
 * link dropping, or by the silence limit. */
static double rejoin_wait_s(const pn_job *j)
{
	return 2 * j->silence_s + 10;
}

/* Within a round they are waited for up to the straggler deadline (none: rejoin_wait_s). */
static double rejoin_limit(const pn_job *j)
{
	return j->cfg->deadline_ms > 0 ? j->cfg->deadline_ms / 1e3 : rejoin_wait_s(j);
}

void pn_job_tree_join_round(pn_job *j, int i)
{
	pn_job_msg m = {.type = PN_MSG_ROUND, .round = j->round, .slot = pn_job_slot(j->round)};
	m.nparts = pn_job_tree_leaf_parts(j, i, m.parts, m.coefs);
	if (pn_pull_readmit(j->puller, i)) /* (its slot was dropped at the round's first verdict) */
		return;
	j->failed[i] = false;
	j->finished[i] = false;
	if (pn_job_send(j, i, &m)) /* (a failed send marks it gone) */
		return;
	pn_job_log(j, "round %lld: worker %d takes part in it directly\n", (long long)j->round,
		   i - j->cfg->tree_nodes);
}

bool pn_job_tree_hold(const pn_job *j, double elapsed)
{
	for (int k = 0; k < j->cfg->tree_nodes; k++)
		if (!j->w[k].alive && !j->w[k].bypassed && leaves_joined(j, k) < group_size(j) &&
		    elapsed < rejoin_limit(j))
			return true;
	return false;
}

/* Node k gone and all its workers joined: from now on they stand for it. */
static void mark_bypassed(pn_job *j, int k, double waited)
{
	j->w[k].bypassed = true;
	j->nodes_bypassed++;
	pn_job_log(j, "node %d went away in round %lld; its %d workers have joined the root (%.2f s "
		   "waited before round %lld): pulled directly\n", k, (long long)j->w[k].gone_at,
		   group_size(j), waited, (long long)j->round);
}

int pn_job_tree_await_rejoins(pn_job *j)
{
	double limit = rejoin_wait_s(j), t0 = pn_now_s();
	for (int k = 0; k < j->cfg->tree_nodes; k++) {
		if (j->w[k].alive || j->w[k].bypassed)
			continue;
		while (leaves_joined(j, k) < group_size(j)) {
			if (pn_job_stop_requested(j))
				return -EINTR;
			if (pn_now_s() - t0 > limit)
				return pn_job_fail(j, -ETIMEDOUT, "node %d went away in round %lld and only %d of its %d "
						   "workers joined the root within %.0f s", k,
						   (long long)j->w[k].gone_at, leaves_joined(j, k), group_size(j), limit);
			pn_job_drive(j, 20);
		}
		mark_bypassed(j, k, pn_now_s() - t0);
	}
	return 0;
}

int pn_job_tree_check(pn_job *j, const char **lost)
{
	*lost = NULL;
	if (j->cfg->leaves <= 0)
		return 0;
	if (j->cfg->tree_nodes <= 0) { /* no bypass slots: a node gone or failed ends the job */
		for (int k = 0; k < j->n; k++)
			if (!j->w[k].alive || j->failed[k])
				return pn_job_fail(j, -ECONNRESET, "node %d %s in round %lld: its workers' sum is "
						   "missing (this root has no bypass slots)", k,
						   j->w[k].alive ? "failed" : "went away", (long long)j->round);
		return 0;
	}
	for (int k = 0; k < j->cfg->tree_nodes; k++) {
		bool whole = j->w[k].alive && j->finished[k] && !j->failed[k];
		if (!whole && !j->w[k].alive) { /* its workers, directly (joined this round or before) */
			whole = true;
			for (int i = first_leaf_slot(j, k); i < first_leaf_slot(j, k) + group_size(j); i++) {
				if (!j->w[i].alive && j->w[k].bypassed) /* no second bypass: every later
									 * round would be lost */
					return pn_job_fail(j, -ECONNRESET, "worker %d (of node %d, bypassed) went away "
							   "in round %lld: its gradient is missing",
							   i - j->cfg->tree_nodes, k, (long long)j->round);
				whole &= j->w[i].alive && j->finished[i] && !j->failed[i];
			}
			if (whole && !j->w[k].bypassed)
				mark_bypassed(j, k, 0);
		}
		if (whole)
			continue;
		pn_job_log(j, "round %lld: node %d %s: its workers' gradients are missing, the round is "
			   "lost\n", (long long)j->round, k,
			   j->w[k].alive ? "failed" : j->w[k].bypassed ? "(bypassed): a worker of it is missing"
								    : "went away");
		*lost = "a node's sum is missing (the node went away or failed)";
	}
	if (*lost)
		j->rounds_lost++;
	return 0;
}
