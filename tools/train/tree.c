/* A local tree (--tree G): node `node` of the root's n/G peers runs here, a forked
 * process of the root, and forks its G workers (ranks node·G .. node·G + G - 1) itself. */
#include "roles.h"
#include "topology.h"
#include "pennant/node.h"

#include <signal.h>
#include <stdio.h>

int train_local_node(void *ctx, int node, const char *addr)
{
	train_local *lc = ctx;
	train_opts *o = lc->o;
	struct sigaction ign = {.sa_handler = SIG_IGN}, dfl = {.sa_handler = SIG_DFL};
	sigaction(SIGINT, &ign, NULL); /* stopped by its parent, as a worker is */
	sigaction(SIGTERM, &dfl, NULL);
	char optbuf[4096];
	/* node ids: 0 the root, rank + 1 the workers, then the nodes */
	pn_node_config nc = {.tp = topology_tp_config(o, (uint32_t)(o->n + 1 + node), optbuf, sizeof optbuf),
			     .parent = addr, .rank = node, .listen = "127.0.0.1:0", .children = o->tree,
			     .first_rank = node * o->tree, .leaves = o->n, .d = lc->job->model.nparams,
			     .mode = (pn_node_mode)pn_node_mode_from_name(o->node_mode),
			     .accept_timeout_ms = 120000, .log = o->quiet ? NULL : stderr};
	pn_node_result res;
	char err[512];
	int bad = 0;
	int rc = pn_node_run_local(&nc, train_local_worker, lc, &res, &bad, err, sizeof err);
	if (rc)
		fprintf(stderr, "%s: node %d: %s\n", o->prog, node, err);
	else if (!o->quiet)
		fprintf(stderr, "%s: node %d: %lld rounds, %.1f MB pulled from its %d workers, %.2f MB of "
			"data memory (its children's d-vectors would be %.2f MB)\n", o->prog, node,
			(long long)res.rounds, res.bytes_pulled / 1e6, o->tree, res.memory_bytes / 1e6,
			(double)o->tree * (double)nc.d * 4 / 1e6);
	if (bad)
		fprintf(stderr, "%s: node %d: %d worker(s) did not exit cleanly\n", o->prog, node, bad);
	return rc || bad ? 1 : 0;
}
