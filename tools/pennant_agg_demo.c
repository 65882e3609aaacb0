/* pennant-agg-demo: the offline aggregation demo. Builds p synthetic gradients around
 * a common direction, lets f of them attack, and shows how every rule fares against
 * the honest mean (cosine, relative error, time). The attacks are the job's fault
 * injection (job/faults.c); the colluding ones (alie, ipm, mimic) are handed the
 * actual honest gradients, the omniscient setting of their papers. */
#include "cli.h"
#include "json.h"
#include "version.h"
#include "pennant/agg.h"
#include "job/faults.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static double uniform01(void)
{
	rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) * 0x1.0p-53;
}

static double normal(void)
{
	return sqrt(-2.0 * log(uniform01() + 1e-300)) * cos(2 * M_PI * uniform01());
}

/* "huge" is the demo's own (1e6·N(0,1)); the rest are pn_byzantine attacks. labelflip needs
 * labels, so it only exists in the training job. */
static const char *const attacks[] = {"uniform", "reverse", "huge", "nan", "scaled", "signflip",
				      "gaussian", "alie", "ipm", "mimic", NULL};

static void usage(FILE *o)
{
	fprintf(o, "usage: pennant-agg-demo [--p 15] [--f 3] [--d 1000000] [--attack A] [--noise 0.1] [--seed N]\n"
		   "                        [--json] [--version]\n"
		   "attacks: uniform, reverse (-10g), huge (1e6 N(0,1)), nan, scaled (100g), signflip, gaussian\n"
		   "(g + N(0,1)), alie (mean - z std of the honest), ipm (-0.1 mean of the honest), mimic (a\n"
		   "copy of one honest worker)\n"
		   "Generates p gradients (honest = common direction + noise), turns f into attackers\n"
		   "and aggregates with every rule, reporting agreement with the honest mean.\n");
}

int main(int argc, char **argv)
{
	int p = 15, f = 3, json = 0;
	size_t d = 1000000;
	double noise = 0.1;
	const char *attack = "uniform";
	static const struct option lo[] = {
		{"p", required_argument, 0, 'p'},     {"f", required_argument, 0, 'f'},
		{"d", required_argument, 0, 'd'},     {"attack", required_argument, 0, 'a'},
		{"noise", required_argument, 0, 'n'}, {"seed", required_argument, 0, 's'},
		{"json", no_argument, 0, 'j'},        {"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},     {0, 0, 0, 0},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'p': p = (int)strtol(optarg, &end, 10); break;
		case 'f': f = (int)strtol(optarg, &end, 10); break;
		case 'd': d = (size_t)strtod(optarg, &end); break;
		case 'n': noise = strtod(optarg, &end); break;
		case 's': rng_state = strtoull(optarg, &end, 10) | 1; break;
		case 'a': attack = optarg; break;
		case 'j': json = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': pn_tools_print_version(stdout, "pennant-agg-demo"); return 0;
		default: return pn_cli_bad_option("pennant-agg-demo", c, argv);
		}
		if (end && (*end || end == optarg)) {
			fprintf(stderr, "pennant-agg-demo: bad value '%s'\n", optarg);
			return 2;
		}
	}
	int known = 0;
	for (int i = 0; attacks[i]; i++)
		known |= strcmp(attack, attacks[i]) == 0;
	if (attack && strcmp(attack, "labelflip") == 0) {
		fprintf(stderr, "pennant-agg-demo: labelflip needs labelled data; it exists in pennant-train "
				"(--attack labelflip), not on synthetic gradients\n");
		return 2;
	}
	if (!known || p < 1 || f < 0 || f >= p || d < 1 || !(noise >= 0)) {
		fprintf(stderr, "pennant-agg-demo: need 0 <= f < p, d >= 1, noise >= 0 and a known attack "
				"(see pennant-agg-demo --help)\n");
		return 2;
	}
	float *x = malloc(sizeof(float) * p * d), *hm = malloc(sizeof(float) * d),
	      *out = malloc(sizeof(float) * d);
	double *w = malloc(sizeof(double) * (size_t)p);
	if (!x || !hm || !out || !w) {
		fprintf(stderr, "pennant-agg-demo: cannot allocate %zu MB\n", (size_t)p * d * 4 >> 20);
		return 1;
	}
	/* Every worker's honest gradient first (the attackers' too: theirs is what they replace). */
	for (size_t k = 0; k < d; k++) {
		double g = normal();
		double m = 0;
		for (int i = 0; i < p; i++) {
			float v = (float)(g + noise * normal());
			x[(size_t)i * d + k] = v;
			if (i >= f)
				m += v;
		}
		hm[k] = (float)(m / (p - f));
	}
	const float **honest = malloc(sizeof(float *) * (size_t)p);
	if (!honest)
		return 1;
	for (int i = f; i < p; i++)
		honest[i - f] = x + (size_t)i * d;
	for (int i = 0; i < f; i++) {
		float *row = x + (size_t)i * d;
		if (!strcmp(attack, "huge")) {
			for (size_t k = 0; k < d; k++)
				row[k] = (float)(1e6 * normal());
			continue;
		}
		pn_faults fl = {.byzantine = (pn_byzantine)pn_byzantine_from_name(attack),
				.seed = rng_state + (uint64_t)i};
		pn_fault_state st;
		pn_faults_init_state(&st, &fl);
		if (pn_faults_corrupt_colluding(&fl, &st, row, d, honest, p - f, p, f) < 0) {
			fprintf(stderr, "pennant-agg-demo: %s needs at least one honest worker\n", attack);
			return 2;
		}
	}
	free(honest);
	if (!json)
		printf("p=%d workers, f=%d attacking (%s), d=%zu, honest noise %.2f\n\n"
		       "%-13s %9s %11s %9s  %s\n", p, f, attack, d, noise, "rule", "cosine", "rel.error",
		       "time ms", "workers used, attackers' share of the weight");
	pn_json j;
	pn_json_init(&j, stdout);
	if (json) {
		pn_json_begin_object(&j);
		pn_json_provenance(&j, "pennant-agg-demo");
		pn_json_kint(&j, "p", p);
		pn_json_kint(&j, "f", f);
		pn_json_kuint(&j, "d", d);
		pn_json_kstring(&j, "attack", attack);
		pn_json_key(&j, "rules");
		pn_json_begin_array(&j);
	}
	for (int r = 0; r < PN_RULE_COUNT_; r++) {
		pn_agg_config cfg;
		pn_agg_config_init(&cfg, p, d, (pn_rule)r);
		cfg.f = f;
		pn_agg_report rep;
		char err[256];
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc = pn_aggregate(&cfg, x, out, &rep, w, err, sizeof err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		if (rc != 0) {
			if (!json) {
				printf("%-13s  skipped: %s\n", pn_rule_name((pn_rule)r), err);
			} else {
				pn_json_begin_object(&j);
				pn_json_kstring(&j, "rule", pn_rule_name((pn_rule)r));
				pn_json_kstring(&j, "skipped", err);
				pn_json_end_object(&j);
			}
			continue;
		}
		double ab = 0, aa = 0, bb = 0, ee = 0;
		for (size_t k = 0; k < d; k++) {
			ab += (double)out[k] * hm[k];
			aa += (double)out[k] * out[k];
			bb += (double)hm[k] * hm[k];
			ee += ((double)out[k] - hm[k]) * ((double)out[k] - hm[k]);
		}
		double cosv = ab / sqrt(aa * bb), rel = sqrt(ee / bb);
		/* The attackers' share of the weight tells whether the rule saw through them. */
		double wa = 0, wt = 0;
		for (int i = 0; i < p; i++) {
			wt += fabs(w[i]);
			if (i < f)
				wa += fabs(w[i]);
		}
		if (!json)
			printf("%-13s %9.4f %11.4f %9.1f  %d used, attackers hold %.0f%%%s\n",
			       pn_rule_name((pn_rule)r), cosv, rel, ms, rep.used, wt > 0 ? 100 * wa / wt : 0,
			       r == PN_RULE_FLAG ? " (flag: judge by cosine, its scale is its own)" : "");
		else {
			pn_json_begin_object(&j);
			pn_json_kstring(&j, "rule", pn_rule_name((pn_rule)r));
			pn_json_knumber(&j, "cosine", cosv);
			pn_json_knumber(&j, "rel_error", rel);
			pn_json_knumber(&j, "time_ms", ms);
			pn_json_kint(&j, "used", rep.used);
			pn_json_knumber(&j, "attacker_weight_share", wt > 0 ? wa / wt : NAN);
			pn_json_end_object(&j);
		}
	}
	int rc = 0;
	if (json) {
		pn_json_end_array(&j);
		pn_json_end_object(&j);
		rc = pn_json_close(&j) ? 1 : 0;
	}
	free(x), free(hm), free(out), free(w);
	return rc;
}
