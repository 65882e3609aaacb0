/* The round decision: pull until the straggler policy (sched/straggler.c, the only
 * policy) says the round has enough, or nothing more can come. A worker that failed
 * leaves the set waited for; this file never overrides the policy's verdict. */
#include "job/aggregator_internal.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>

int pn_job_pull_until_decided(pn_job *j, double t_round0, pn_round_verdict *verdict)
{
	/* a backstop against a policy that can never be met (e.g. wait=all, a silent link) */
	double hard_cap = fmax(j->cfg->deadline_ms / 1e3, 1.0) * 4 + 30;
	for (;;) {
		pn_job_post_reads(j);
		pn_job_drive(j, 2);
		for (int i = 0; i < j->n; i++)
			if (pn_pull_worker_failed(j->puller, i))
				j->failed[i] = true;
		double el = pn_now_s() - t_round0;
		*verdict = pn_straggler_decide(&j->pol, j->code, j->finished, j->failed, el, j->needed);
		pn_pull_set_needed(j->puller, j->needed, NULL, 0);
		if (pn_job_stop_requested(j))
			return -EINTR; /* abandoned: the model stays the last completed one */
		int lost = pn_shard_link_check(j);
		if (lost)
			return lost; /* another shard is gone: the job cannot decide any more */
		/* a tree's node gone this round: its workers may still join and take part */
		bool hold = j->cfg->tree_nodes > 0 && pn_job_tree_hold(j, el);
		if (*verdict != PN_ROUND_WAIT && !hold)
			return 0;
		bool any_hope = false;
		for (int i = 0; i < j->n; i++)
			any_hope |= !j->finished[i] && !j->failed[i];
		if (!any_hope && !hold) {
			*verdict = PN_ROUND_IMPOSSIBLE;
			return 0;
		}
		if (el > hard_cap) {
			*verdict = PN_ROUND_DEADLINE;
			pn_job_log(j, "round %lld: nothing decodable after %.0f s, giving up on it\n",
				   (long long)j->round, el);
			return 0;
		}
	}
}
