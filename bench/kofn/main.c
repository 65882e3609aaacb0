/* pennant-bench-kofn: k-of-n redundancy with two speed levels. For every q (probability
 * that a core serves a task at the high speed) it simulates the fork-join system with
 * cancellation and prints the mean number of requests in the system and the energy per
 * request beside the split-merge M/G/1 approximation (kofn_model.c) and its relative
 * error. Seeded and deterministic. */
#include "kofn.h"

#include "pennant_config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct options {
	kofn_params p;
	long requests;
	uint64_t seed;
	int steps;
	bool json;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pennant-bench-kofn [options]\n"
		"Requests arrive (Poisson, rate lambda), fork to n servers and finish when k of their\n"
		"tasks finish (the rest are cancelled); service is exponential; each core serves a task at\n"
		"the high speed (rate mu-high, power p-high) with probability q, else at the low one.\n"
		"For q = 0, 1/steps, ..., 1: simulated mean number in system E[N] and energy per request,\n"
		"beside the split-merge M/G/1 approximation (service = k-th order statistic of n mixed\n"
		"exponentials; an upper bound on E[N]) and the relative error |approx - sim| / sim, and\n"
		"the stage approximation of E[N] (a lower bound with one speed) with its error.\n"
		"  --n N            servers per request (default 10, at most %d)\n"
		"  --k K            tasks needed (default 5)\n"
		"  --lambda X       arrival rate (default 1.0)\n"
		"  --mu-low X --mu-high X     service rates (default 1 / 2)\n"
		"  --p-low X --p-high X       power while serving (default 1 / 8: power ~ speed^3)\n"
		"  --steps S        q grid 0..1 in S steps (default 10)\n"
		"  --requests R     requests simulated per q, 10%% more as warm-up (default 200000)\n"
		"  --seed X         RNG seed (default 1)\n"
		"  --json           JSON output; null for a value that is not defined: the approximation\n"
		"                   when rho >= 1, the simulation when the backlog reached 2^20 requests\n"
		"  --version, --help\n",
		KOFN_MAX_N);
}

static int parse(int argc, char **argv, struct options *o)
{
	*o = (struct options){ .p = { .n = 10, .k = 5, .lambda = 1.0, .mu_low = 1, .mu_high = 2, .p_low = 1,
				      .p_high = 8 },
			       .requests = 200000, .seed = 1, .steps = 10 };
	static const struct option lo[] = {
		{ "n", 1, 0, 'n' },       { "k", 1, 0, 'k' },        { "lambda", 1, 0, 'l' },
		{ "mu-low", 1, 0, 'a' },  { "mu-high", 1, 0, 'b' },  { "p-low", 1, 0, 'c' },
		{ "p-high", 1, 0, 'd' },  { "steps", 1, 0, 's' },    { "requests", 1, 0, 'r' },
		{ "seed", 1, 0, 'x' },    { "json", 0, 0, 'J' },     { "version", 0, 0, 'V' },
		{ "help", 0, 0, 'h' },    { 0, 0, 0, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		char *end = NULL;
		double v = optarg ? strtod(optarg, &end) : 0;
		if (optarg && (end == optarg || *end || !isfinite(v) || v < 0)) {
			fprintf(stderr, "pennant-bench-kofn: bad number '%s'\n", optarg);
			return -EINVAL;
		}
		switch (c) {
		case 'n': o->p.n = (int)v; break;
		case 'k': o->p.k = (int)v; break;
		case 'l': o->p.lambda = v; break;
		case 'a': o->p.mu_low = v; break;
		case 'b': o->p.mu_high = v; break;
		case 'c': o->p.p_low = v; break;
		case 'd': o->p.p_high = v; break;
		case 's': o->steps = (int)v; break;
		case 'r': o->requests = (long)v; break;
		case 'x': o->seed = (uint64_t)v; break;
		case 'J': o->json = true; break;
		case 'V': printf("pennant-bench-kofn %s\n", PN_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	const char *why = NULL;
	if (optind < argc)
		why = "unexpected argument";
	else if (o->p.n < 1 || o->p.n > KOFN_MAX_N || o->p.k < 1 || o->p.k > o->p.n)
		why = "need 1 <= k <= n <= 64";
	else if (!(o->p.lambda > 0) || !(o->p.mu_low > 0) || !(o->p.mu_high > 0))
		why = "lambda and the service rates must be > 0";
	else if (o->steps < 1 || o->steps > 1000 || o->requests < 100 || o->requests > 100000000)
		why = "steps in [1, 1000], requests in [100, 1e8]";
	if (why) {
		fprintf(stderr, "pennant-bench-kofn: %s\n", why);
		return -EINVAL;
	}
	return 0;
}

/* A JSON number, or null when it is not defined. */
static void jnum(const char *key, double v, bool last)
{
	if (isfinite(v))
		printf("\"%s\":%.6g%s", key, v, last ? "" : ",");
	else
		printf("\"%s\":null%s", key, last ? "" : ",");
}

static double rel_err(double approx, double sim)
{
	return isfinite(approx) && isfinite(sim) && sim != 0 ? fabs(approx - sim) / fabs(sim) : NAN;
}

int main(int argc, char **argv)
{
	struct options o;
	if (parse(argc, argv, &o) < 0)
		return 2;
	if (o.json)
		printf("{\"n\":%d,\"k\":%d,\"lambda\":%g,\"mu_low\":%g,\"mu_high\":%g,\"p_low\":%g,\"p_high\":%g,"
		       "\"requests\":%ld,\"seed\":%llu,\"approximation\":\"split-merge M/G/1\",\"rows\":[",
		       o.p.n, o.p.k, o.p.lambda, o.p.mu_low, o.p.mu_high, o.p.p_low, o.p.p_high, o.requests,
		       (unsigned long long)o.seed);
	else
		printf("pennant-bench-kofn: n=%d k=%d lambda=%g mu=%g/%g power=%g/%g, %ld requests per q (+10%% "
		       "warm-up), seed %llu\napproximation: split-merge M/G/1, service = k-th of n mixed "
		       "exponentials (an upper bound on E[N]); stage: M/M/1 per stage (a lower bound with one speed)\n"
		       "%5s %6s | %9s %9s %7s %9s %7s | %9s %9s %7s | %9s\n",
		       o.p.n, o.p.k, o.p.lambda, o.p.mu_low, o.p.mu_high, o.p.p_low, o.p.p_high, o.requests,
		       (unsigned long long)o.seed, "q", "rho", "E[N] sim", "approx", "err", "stage", "err",
		       "E/req sim", "approx", "err", "E[T] sim");
	for (int i = 0; i <= o.steps; i++) {
		o.p.q = (double)i / o.steps;
		kofn_result sim, ap;
		kofn_approx(&o.p, &ap);
		if (kofn_simulate(&o.p, o.requests + o.requests / 10, o.requests / 10, o.seed + (uint64_t)i, &sim) < 0) {
			fprintf(stderr, "pennant-bench-kofn: out of memory\n");
			return 1;
		}
		double en = rel_err(ap.mean_in_system, sim.mean_in_system);
		double ee = rel_err(ap.energy_per_request, sim.energy_per_request);
		double es = rel_err(ap.stage_mean_in_system, sim.mean_in_system);
		if (o.json) {
			printf("%s{", i ? "," : "");
			jnum("q", o.p.q, false);
			jnum("rho_approx", ap.rho, false);
			jnum("sim_mean_in_system", sim.mean_in_system, false);
			jnum("approx_mean_in_system", ap.mean_in_system, false);
			jnum("rel_err_mean_in_system", en, false);
			jnum("stage_mean_in_system", ap.stage_mean_in_system, false);
			jnum("rel_err_stage_mean_in_system", es, false);
			jnum("sim_energy_per_request", sim.energy_per_request, false);
			jnum("approx_energy_per_request", ap.energy_per_request, false);
			jnum("rel_err_energy", ee, false);
			jnum("sim_mean_response", sim.mean_response, true);
			printf("}");
		} else {
			printf("%5.2f %6.3f | %9.4f %9.4f %6.1f%% %9.4f %6.1f%% | %9.4f %9.4f %6.1f%% | %9.4f\n", o.p.q,
			       ap.rho, sim.mean_in_system, ap.mean_in_system, 100 * en, ap.stage_mean_in_system,
			       100 * es, sim.energy_per_request, ap.energy_per_request, 100 * ee, sim.mean_response);
		}
	}
	if (o.json)
		printf("]}\n");
	return 0;
}
