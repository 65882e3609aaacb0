/* pn_node_run_local: a node and its G children on one host (pennant-train --tree G). */
#include "job/local_fork.h"
#include "pennant/node.h"

typedef struct node_launch {
	pn_local_children *kids;
	void (*user_on_listen)(void *, const char *);
	void *user_ctx;
} node_launch;

static void tell_children(void *ctx, const char *addr)
{
	node_launch *l = ctx;
	pn_local_tell(l->kids, addr);
	if (l->user_on_listen)
		l->user_on_listen(l->user_ctx, addr);
}

int pn_node_run_local(pn_node_config *cfg, pn_worker_main leaf_main, void *ctx,
		      pn_node_result *res, int *bad_exits, char *err, size_t errlen)
{
	pn_local_children kids;
	int n = cfg->mode == PN_NODE_SUM && cfg->children > 0 ? cfg->children : 0; /* else refused below */
	int rc = pn_local_fork(&kids, n, cfg->first_rank, leaf_main, ctx, err, errlen);
	if (rc == 0) {
		node_launch l = {.kids = &kids, .user_on_listen = cfg->on_listen, .user_ctx = cfg->on_listen_ctx};
		cfg->on_listen = tell_children;
		cfg->on_listen_ctx = &l;
		rc = pn_node_run(cfg, res, err, errlen);
		cfg->on_listen = l.user_on_listen;
		cfg->on_listen_ctx = l.user_ctx;
	}
	int bad = pn_local_reap(&kids);
	if (bad_exits)
		*bad_exits = bad;
	return rc;
}
