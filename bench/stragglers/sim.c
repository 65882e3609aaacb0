/* Discrete-event round simulation on top of the scheduler's puller and straggler policy.
 * The ingress link serves reads one after another (FIFO); a cancelled read keeps the link
 * time it already reserved (a conservative simplification). */
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

struct flight {
	int w, c;
	double t_done;
};

/* Workers by ready time (insertion sort: n is small; ties by index, deterministic). */
static void sort_by_ready(int n, const double *ready, int *order)
{
	for (int i = 0; i < n; i++) {
		int j = i;
		while (j > 0 && ready[order[j - 1]] > ready[i]) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
}

int sim_round(sim_link *link, const pn_code *code, const pn_straggler_policy *pol, const double *ready,
	      sim_round_out *out)
{
	int n = pn_code_n(code), rc = 0;
	pn_puller *pl = link->puller;
	size_t maxf = (size_t)n * (size_t)link->nchunks;
	int *order = malloc(sizeof(int) * (size_t)n);
	bool *failed = calloc((size_t)n, sizeof(bool)), *needed = malloc(sizeof(bool) * (size_t)n);
	int *pairs = malloc(sizeof(int) * 2 * maxf);
	struct flight *fl = malloc(sizeof(struct flight) * maxf);
	if (!order || !failed || !needed || !pairs || !fl) {
		rc = -ENOMEM;
		goto done;
	}
	pn_pull_reset(pl);
	sort_by_ready(n, ready, order);
	int next_ready = 0, nfl = 0;
	double now = 0, link_free = 0;
	out->cancelled = 0;
	out->verdict = PN_ROUND_WAIT;
	for (;;) {
		pn_pull_req req;
		int got;
		while ((got = pn_pull_next(pl, &req)) == 1) {
			double start = now > link_free ? now : link_free;
			link_free = start + link->chunk_time;
			fl[nfl++] = (struct flight){ req.worker, req.chunk, link_free };
		}
		if (got < 0) {
			rc = got;
			break;
		}
		double t_ready = next_ready < n ? ready[order[next_ready]] : INFINITY;
		int first = -1;
		for (int i = 0; i < nfl; i++)
			if (first < 0 || fl[i].t_done < fl[first].t_done)
				first = i;
		double t_comp = first >= 0 ? fl[first].t_done : INFINITY;
		if (isinf(t_ready) && isinf(t_comp)) {
			rc = -EDEADLK; /* nothing left to happen and the policy is not satisfied */
			break;
		}
		if (t_ready <= t_comp) {
			now = t_ready;
			pn_pull_set_ready(pl, order[next_ready++], now);
			continue;
		}
		now = t_comp;
		struct flight f = fl[first];
		fl[first] = fl[--nfl];
		if (pn_pull_complete(pl, f.w, f.c) != 1)
			continue;
		pn_pull_finished_set(pl, out->finished);
		out->verdict = pn_straggler_decide(pol, code, out->finished, failed, now, needed);
		int k = pn_pull_set_needed(pl, needed, pairs, (int)maxf);
		for (int p = 0; p < k; p++)
			for (int i = 0; i < nfl; i++)
				if (fl[i].w == pairs[2 * p] && fl[i].c == pairs[2 * p + 1]) {
					fl[i] = fl[--nfl];
					break;
				}
		out->cancelled += k;
		if (out->verdict != PN_ROUND_WAIT)
			break;
	}
	out->t_end = now;
	/* Reads still in flight at the end are cancelled too (not needed any more). */
	for (int w = 0; w < n; w++)
		needed[w] = false;
	if (rc == 0)
		out->cancelled += pn_pull_set_needed(pl, needed, NULL, 0);
done:
	free(order);
	free(failed);
	free(needed);
	free(pairs);
	free(fl);
	return rc;
}
