/* Earliest ready first: the worker whose gradient has been ready longest is drained first
 * (within its window); later workers fill the remaining total window. Finishing whole
 * workers early lets the straggler policy declare "enough" sooner. */
#include "pennant/sched.h"

static int er_pick(void *state, const pn_pull_view *v, int *chunk)
{
	(void)state;
	int n = pn_pull_view_workers(v), best = -1;
	for (int w = 0; w < n; w++) {
		if (!pn_pull_view_eligible(v, w))
			continue;
		if (best < 0 || pn_pull_view_ready_time(v, w) < pn_pull_view_ready_time(v, best))
			best = w; /* ties keep the lower index: deterministic */
	}
	if (best >= 0)
		*chunk = pn_pull_view_next_chunk(v, best);
	return best;
}

const pn_pull_policy pn_policy_earliest_ready = {
	.name = "earliest-ready",
	.state_size = 0,
	.pick = er_pick,
};
