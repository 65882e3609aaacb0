/* Puller state, shared by the puller and the policy view accessors. */
#ifndef PN_SCHED_PULL_INTERNAL_H
#define PN_SCHED_PULL_INTERNAL_H

#include "pennant/sched.h"

#include <stdint.h>

enum chunk_state { CH_PENDING = 0, CH_INFLIGHT, CH_DONE, CH_DROPPED };

struct pull_worker {
	bool ready, needed, failed;
	double ready_time;
	int inflight, pending, done;
	int cursor; /* no pending chunk below this index */
	size_t upto; /* elements final so far (SIZE_MAX once wholly ready) */
};

struct pn_pull_view {
	const struct pn_puller *p;
};

struct pn_puller {
	int n, nchunks;
	int window_worker, window_total;
	int inflight_total;
	const pn_chunk_plan *plan;
	const pn_pull_policy *policy;
	void *policy_state;
	struct pull_worker *w;
	uint8_t *state; /* n × nchunks, enum chunk_state */
	struct pn_pull_view view;
	pn_pull_stats stats;
};

#endif
