/* Round robin: one read per eligible worker in turn, each worker's chunks in order. */
#include "pennant/sched.h"

struct rr_state {
	int last; /* worker served last, stored +1 so the zeroed state starts at worker 0 */
};

static int rr_pick(void *state, const pn_pull_view *v, int *chunk)
{
	struct rr_state *st = state;
	int n = pn_pull_view_workers(v);
	for (int k = 0; k < n; k++) {
		int w = (st->last + k) % n; /* last is already "previous + 1" */
		if (pn_pull_view_eligible(v, w)) {
			*chunk = pn_pull_view_next_chunk(v, w);
			st->last = w + 1;
			return w;
		}
	}
	return -1;
}

const pn_pull_policy pn_policy_round_robin = {
	.name = "round-robin",
	.state_size = sizeof(struct rr_state),
	.pick = rr_pick,
};
