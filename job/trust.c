/* Trust bookkeeping: each worker's trust is an exponential moving average of its share
 * of the rule's weight in the rounds where it was judged. A worker left out for cause
 * (non-finite gradient, a replica that disagrees, flagged by the rule) is judged with
 * share 0. */
#include "job/aggregator_internal.h"

/* Weight of the past: a worker's trust halves after ~3 rounds judged at share 0. */
#define PN_TRUST_MEMORY 0.8

void pn_job_trust_observe(pn_job_worker *w, double share)
{
	w->trust = PN_TRUST_MEMORY * w->trust + (1.0 - PN_TRUST_MEMORY) * share;
}
