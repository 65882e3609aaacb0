/* Layer priority (MLfabric / ByteScheduler): the lowest layer's chunks first across all
 * workers, so the first layers' aggregate completes first and the next forward pass can
 * start while later layers are still in flight. Ties rotate over workers. */
#include "pennant/sched.h"

struct lp_state {
	int start; /* rotating tie-break origin */
};

static int lp_pick(void *state, const pn_pull_view *v, int *chunk)
{
	struct lp_state *st = state;
	int n = pn_pull_view_workers(v), best = -1, best_chunk = -1, best_layer = 0;
	for (int k = 0; k < n; k++) {
		int w = (st->start + k) % n;
		if (!pn_pull_view_eligible(v, w))
			continue;
		int c = pn_pull_view_next_chunk(v, w);
		int layer = pn_pull_view_chunk_layer(v, c);
		if (best < 0 || layer < best_layer || (layer == best_layer && c < best_chunk)) {
			best = w;
			best_chunk = c;
			best_layer = layer;
		}
	}
	if (best >= 0) {
		*chunk = best_chunk;
		st->start = (best + 1) % n;
	}
	return best;
}

const pn_pull_policy pn_policy_layer_priority = {
	.name = "layer-priority",
	.state_size = sizeof(struct lp_state),
	.pick = lp_pick,
};
