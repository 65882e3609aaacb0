/* k-of-n redundancy with two speed levels: the queueing model, its simulation and the
 * closed-form approximation used by pennant-bench-kofn. */
#ifndef PN_BENCH_KOFN_H
#define PN_BENCH_KOFN_H

#include <stdbool.h>
#include <stdint.h>

#define KOFN_MAX_N 64

typedef struct kofn_params {
	int n, k;             /* every request forks to n servers and is done when k finish */
	double lambda;        /* Poisson arrival rate */
	double mu_low, mu_high;   /* service rates of the two speed levels */
	double p_low, p_high;     /* power drawn while serving at each level (idle: 0) */
	double q;             /* P(a core serves a task at the high speed), drawn per task */
} kofn_params;

typedef struct kofn_result {
	bool stable;          /* false: the metric is not defined (approximation: rho >= 1;
			       * simulation: the backlog hit its cap) */
	double mean_in_system, mean_response, energy_per_request, rho;
	double stage_mean_in_system; /* approximation only: the stage model (kofn_model.c), a lower
				      * bound for q = 0 or 1; NAN if some stage is overloaded */
} kofn_result;

/* Split-merge M/G/1 approximation (see kofn_model.c). */
void kofn_approx(const kofn_params *p, kofn_result *r);
/* Moments of the service time X = k-th order statistic of the n mixed exponentials, and
 * the split-merge energy E[Σ_i P_i·min(S_i, X)]. */
void kofn_service_moments(const kofn_params *p, double *ex, double *ex2, double *energy);
/* Event simulation of the fork-join system with cancellation. Returns 0 or -ENOMEM. */
int kofn_simulate(const kofn_params *p, long requests, long warmup, uint64_t seed, kofn_result *r);

#endif
