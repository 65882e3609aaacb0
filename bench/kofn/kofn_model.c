/* Closed-form approximation of the k-of-n fork-join system with two speed levels.
 *
 * System: requests arrive as a Poisson process of rate λ; each is forked into n tasks, one
 * per server (FIFO queue at every server); a server picks the high speed (rate μ_H, power
 * P_H) with probability q when it starts a task, else the low one (μ_L, P_L); the request
 * leaves when k of its tasks finished, and its other n−k tasks are cancelled (removed from
 * the queues, or preempted in service).
 *
 * Approximation (split-merge, Joshi–Liu–Soljanin): pretend a request occupies all n servers
 * from the moment it starts until its k-th task finishes, so requests are served one at a
 * time: an M/G/1 queue whose service time X is the k-th order statistic of n independent
 * exponentials with rates drawn i.i.d. from {μ_H w.p. q, μ_L w.p. 1−q}. Pollaczek–Khinchine:
 *     ρ = λ·E[X],   E[N] = ρ + λ²·E[X²] / (2(1−ρ))   (ρ < 1).
 * It ignores that in the real system a server that finished its task may start the next
 * request early, so it overestimates E[N] (it is an upper bound) and the error grows with
 * the load. Energy per request is the split-merge one, E[Σ_i P_i·min(S_i, X)]: every
 * server runs until its own task ends or the request leaves.
 *
 * Moments of X, exactly, by the exponential race: with h high and l low servers still
 * running, the next completion comes after Exp(r), r = h·μ_H + l·μ_L, from a high server
 * w.p. h·μ_H/r; the energy drawn meanwhile is (h·P_H + l·P_L)/r on average. X is the sum of
 * k such independent stages, so with T = stage time and X' the rest,
 *     E[X] = 1/r + E[X'],  E[X²] = 2/r² + 2·E[X']/r + E[X'²],  E[energy] = (hP_H+lP_L)/r + E[energy'],
 * averaged over the branch and, at the start, over h ~ Binomial(n, q).
 *
 * Second estimate, from below (the stage model of Joshi et al.): a server that finished its
 * task moves on at once, so think of stage j (j tasks of the oldest request done) as its own
 * M/M/1 queue of rate r_j: E[T] ≈ Σ_{j<k} 1/(r_j − λ). With one speed, r_j = (n−j)·μ and
 * this is Joshi et al.'s lower bound (exact for k = 1). With two speeds we take
 * r_j = 1/E[Y_j], Y_j the length of stage j of the race above (so that Σ_j E[Y_j] = E[X]);
 * then it is an approximation, not a proven bound. The simulation falls between the two
 * estimates in every configuration we ran; the split-merge one is closer at low load. */
#include "kofn.h"

#include <math.h>
#include <string.h>

struct mom {
	double x, x2, e;
};

/* Moments of the remaining time until `left` more completions, given h high and l low running. */
static struct mom race(const kofn_params *p, int h, int l, int left, struct mom memo[][KOFN_MAX_N + 1][KOFN_MAX_N + 1],
		       bool seen[][KOFN_MAX_N + 1][KOFN_MAX_N + 1])
{
	struct mom m = { 0, 0, 0 };
	if (left == 0 || h + l == 0)
		return m;
	if (seen[left][h][l])
		return memo[left][h][l];
	double rh = h * p->mu_high, rl = l * p->mu_low, r = rh + rl;
	double t = 1.0 / r, pw = h * p->p_high + l * p->p_low;
	struct mom a = { 0, 0, 0 }, b = { 0, 0, 0 };
	if (h > 0)
		a = race(p, h - 1, l, left - 1, memo, seen);
	if (l > 0)
		b = race(p, h, l - 1, left - 1, memo, seen);
	double ph = rh / r, pl = rl / r;
	double rx = ph * a.x + pl * b.x, rx2 = ph * a.x2 + pl * b.x2, re = ph * a.e + pl * b.e;
	m.x = t + rx;
	m.x2 = 2 * t * t + 2 * t * rx + rx2;
	m.e = pw * t + re;
	memo[left][h][l] = m;
	seen[left][h][l] = true;
	return m;
}

void kofn_service_moments(const kofn_params *p, double *ex, double *ex2, double *energy)
{
	static struct mom memo[KOFN_MAX_N + 1][KOFN_MAX_N + 1][KOFN_MAX_N + 1];
	static bool seen[KOFN_MAX_N + 1][KOFN_MAX_N + 1][KOFN_MAX_N + 1];
	memset(seen, 0, sizeof seen);
	int n = p->n;
	double x = 0, x2 = 0, e = 0;
	for (int h = 0; h <= n; h++) {
		/* Binomial(n, q) weight of h high-speed servers. */
		double w = exp(lgamma(n + 1.0) - lgamma(h + 1.0) - lgamma(n - h + 1.0)) *
			   (h ? pow(p->q, h) : 1.0) * (n - h ? pow(1 - p->q, n - h) : 1.0);
		if (w == 0)
			continue;
		struct mom m = race(p, h, n - h, p->k, memo, seen);
		x += w * m.x;
		x2 += w * m.x2;
		e += w * m.e;
	}
	*ex = x;
	*ex2 = x2;
	*energy = e;
}

/* E[Y_j] for j < k: forward distribution over (high, low) servers still running. */
static void stage_means(const kofn_params *p, double *ey)
{
	static double P[KOFN_MAX_N + 1][KOFN_MAX_N + 1], Q[KOFN_MAX_N + 1][KOFN_MAX_N + 1];
	int n = p->n;
	memset(P, 0, sizeof P);
	for (int h = 0; h <= n; h++)
		P[h][n - h] = exp(lgamma(n + 1.0) - lgamma(h + 1.0) - lgamma(n - h + 1.0)) *
			      (h ? pow(p->q, h) : 1.0) * (n - h ? pow(1 - p->q, n - h) : 1.0);
	for (int j = 0; j < p->k; j++) {
		memset(Q, 0, sizeof Q);
		ey[j] = 0;
		for (int h = 0; h <= n; h++) {
			int l = n - j - h;
			if (l < 0 || P[h][l] == 0)
				continue;
			double rh = h * p->mu_high, rl = l * p->mu_low, r = rh + rl;
			ey[j] += P[h][l] / r;
			if (h > 0)
				Q[h - 1][l] += P[h][l] * rh / r;
			if (l > 0)
				Q[h][l - 1] += P[h][l] * rl / r;
		}
		memcpy(P, Q, sizeof P);
	}
}

void kofn_approx(const kofn_params *p, kofn_result *r)
{
	double ey[KOFN_MAX_N], et = 0;
	stage_means(p, ey);
	bool ok = true;
	for (int j = 0; j < p->k; j++) {
		double rj = 1.0 / ey[j];
		ok = ok && rj > p->lambda;
		et += ok ? 1.0 / (rj - p->lambda) : 0;
	}
	r->stage_mean_in_system = ok ? p->lambda * et : NAN;
	double ex, ex2, en;
	kofn_service_moments(p, &ex, &ex2, &en);
	r->rho = p->lambda * ex;
	r->energy_per_request = en;
	r->stable = r->rho < 1;
	if (r->stable) {
		r->mean_in_system = r->rho + p->lambda * p->lambda * ex2 / (2 * (1 - r->rho));
		r->mean_response = r->mean_in_system / p->lambda;
	} else {
		r->mean_in_system = r->mean_response = NAN;
	}
}
