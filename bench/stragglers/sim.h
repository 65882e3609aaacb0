/* One simulated round: workers become ready at given times, the aggregator pulls their
 * chunks through one ingress link with the real puller (windows, ordering policy), asks
 * the real straggler policy after every finished worker and cancels what is no longer
 * needed. Time unit: one worker computing one partition's gradient. */
#ifndef PN_BENCH_STRAGGLER_SIM_H
#define PN_BENCH_STRAGGLER_SIM_H

#include "pennant/codes.h"
#include "pennant/sched.h"
#include "pennant/straggler.h"

typedef struct sim_link {
	double chunk_time;     /* link time of one chunk read */
	int nchunks;           /* chunks per gradient (the puller's plan) */
	pn_puller *puller;     /* sized for the scheme's n workers and chunk plan */
} sim_link;

typedef struct sim_round_out {
	double t_end;          /* when the straggler policy said enough */
	pn_round_verdict verdict;
	bool *finished;        /* n flags (caller-owned buffer) */
	int cancelled;         /* reads cancelled this round */
} sim_round_out;

/* ready[i]: when worker i's coded gradient is ready. Returns 0 or -errno. */
int sim_round(sim_link *link, const pn_code *code, const pn_straggler_policy *pol, const double *ready,
	      sim_round_out *out);

#endif
