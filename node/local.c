/* pn_node_run_local: a node and its G children on one host (pennant-train --tree G). */
#include "job/local_fork.h"
#include "pennant/node.h"

#include <stdbool.h>

typedef struct node_run {
	pn_node_config *cfg;
	pn_node_result *res;
} node_run;

static int run_node(void *ctx, char *err, size_t errlen)
{
	node_run *r = ctx;
	return pn_node_run(r->cfg, r->res, err, errlen);
}

int pn_node_run_local(pn_node_config *cfg, pn_worker_main leaf_main, void *ctx,
		      pn_node_result *res, int *bad_exits, char *err, size_t errlen)
{
	/* a mode the node refuses forks nothing: pn_node_run then says why */
	bool known = cfg->mode == PN_NODE_SUM || cfg->mode == PN_NODE_REPLICA ||
		     (cfg->mode == PN_NODE_ROBUST && cfg->rule);
	int n = known && cfg->children > 0 ? cfg->children : 0;
	node_run r = {cfg, res};
	return pn_local_launch(n, cfg->first_rank, leaf_main, ctx, &cfg->on_listen, &cfg->on_listen_ctx,
			       run_node, &r, bad_exits, err, errlen);
}
