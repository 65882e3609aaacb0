/* Event simulation of the k-of-n fork-join system with cancellation (model in kofn_model.c).
 * Every server serves the active requests in arrival order, so departures are in arrival
 * order too (a request with k finished tasks implies the same servers finished every older
 * request first): active requests live in a ring, and a server only needs the sequence
 * number of the request it is on. Service times are drawn when a task starts (the speed
 * is chosen then). Energy is P × time in service, cancelled tasks included up to the
 * cancellation. Statistics skip the first `warmup` requests. */
#include "kofn.h"

#include "sched/rng.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#define RING_CAP (1L << 20) /* backlog above this: call the system unstable */

struct server {
	long seq;       /* request being served, -1 idle */
	double start, done, power;
};

struct req {
	double arrival, energy;
	int finished;
};

static void start_task(const kofn_params *p, pn_rng *rng, struct server *s, long seq, double now)
{
	bool high = pn_rng_uniform(rng) < p->q;
	s->seq = seq;
	s->start = now;
	s->done = now + pn_rng_exp(rng, 1.0 / (high ? p->mu_high : p->mu_low));
	s->power = high ? p->p_high : p->p_low;
}

int kofn_simulate(const kofn_params *p, long requests, long warmup, uint64_t seed, kofn_result *r)
{
	struct req *ring = malloc(sizeof(struct req) * RING_CAP);
	struct server sv[KOFN_MAX_N];
	if (!ring)
		return -ENOMEM;
	pn_rng rng;
	pn_rng_seed(&rng, seed);
	int n = p->n;
	for (int j = 0; j < n; j++)
		sv[j].seq = -1;
	long arrived = 0, departed = 0, head = 0; /* head: oldest active request's seq */
	double now = 0, next_arrival = pn_rng_exp(&rng, 1.0 / p->lambda);
	double area = 0, t0 = 0, resp = 0, energy = 0;
	long counted = 0;
	bool stable = true;
	while (departed < requests) {
		int j = -1;
		for (int i = 0; i < n; i++)
			if (sv[i].seq >= 0 && (j < 0 || sv[i].done < sv[j].done))
				j = i;
		double t = j >= 0 && sv[j].done < next_arrival ? sv[j].done : next_arrival;
		if (departed >= warmup)
			area += (double)(arrived - departed) * (t - now);
		else
			t0 = t;
		now = t;
		if (j < 0 || next_arrival <= sv[j].done) {
			if (arrived - head >= RING_CAP) {
				stable = false;
				break;
			}
			ring[arrived % RING_CAP] = (struct req){ .arrival = now };
			for (int i = 0; i < n; i++)
				if (sv[i].seq < 0)
					start_task(p, &rng, &sv[i], arrived, now);
			arrived++;
			next_arrival = now + pn_rng_exp(&rng, 1.0 / p->lambda);
			continue;
		}
		long seq = sv[j].seq;
		struct req *q = &ring[seq % RING_CAP];
		q->energy += sv[j].power * (now - sv[j].start);
		q->finished++;
		bool leaves = q->finished == p->k;
		/* Servers to move on: this one, and if the request leaves every server still on it. */
		for (int i = 0; i < n; i++) {
			if (sv[i].seq != seq || (i != j && !leaves))
				continue;
			if (i != j)
				q->energy += sv[i].power * (now - sv[i].start); /* cancelled in service */
			if (seq + 1 < arrived)
				start_task(p, &rng, &sv[i], seq + 1, now);
			else
				sv[i].seq = -1;
		}
		if (leaves) {
			/* FIFO departures: seq is the oldest active request. */
			if (departed >= warmup) {
				resp += now - q->arrival;
				energy += q->energy;
				counted++;
			}
			departed++;
			head = seq + 1;
		}
	}
	free(ring);
	r->stable = stable && counted > 0 && now > t0;
	r->mean_in_system = r->stable ? area / (now - t0) : NAN;
	r->mean_response = r->stable ? resp / (double)counted : NAN;
	r->energy_per_request = r->stable ? energy / (double)counted : NAN;
	r->rho = NAN;
	r->stage_mean_in_system = NAN;
	return 0;
}
