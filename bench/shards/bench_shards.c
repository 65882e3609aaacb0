/* Sharded aggregation, compute side only (no network): K = 1, 2, 4 shards over the same
 * n workers' d floats, each shard an engine over its range with the same thread count,
 * run one after another in this process. Prints, per K: each shard's ingress (the bytes
 * it would pull per round), the slowest shard's land+settle+finish time next to K = 1's
 * (the same run), and the bytes of the facts/decision exchange per round next to the
 * gradient bytes. The exchange is (K-1) facts blobs to shard 0 and (K-1) decisions back,
 * each p + p²·8 + 24 bytes (job/shard_facts.h).
 *   pennant-bench-shards [d (default 1e7)] [n (default 15)] [rule (default krum)] [threads (1)]
 */
#include "job/shard_facts.h"
#include "pennant/agg.h"
#include "pennant/shard.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One round with K shards; returns the slowest shard's seconds, or < 0 on error. */
static double round_k(int K, size_t d, int n, pn_rule rule, int threads, float **g, float *out)
{
	pn_shard_range rg[4];
	char err[256];
	if (pn_shard_plan(d, K, NULL, 0, rg, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	int *st = malloc(sizeof(int) * (size_t)(K * n)), *dec = malloc(sizeof(int) * (size_t)n);
	double *grams = malloc(sizeof(double) * (size_t)(K * n * n)), *G = malloc(sizeof(double) * (size_t)(n * n));
	float **rows = malloc(sizeof(float *) * (size_t)n);
	pn_agg *eng[4];
	double slowest = 0, t_settle[4];
	for (int k = 0; k < K; k++) {
		pn_agg_config cfg;
		pn_agg_config_init(&cfg, n, rg[k].hi - rg[k].lo, rule);
		cfg.f = 1;
		cfg.threads = threads;
		eng[k] = pn_agg_create(&cfg, err, sizeof err);
		if (!eng[k]) {
			fprintf(stderr, "%s\n", err);
			return -1;
		}
		for (int i = 0; i < n; i++)
			rows[i] = g[i] + rg[k].lo;
		double t0 = now_s();
		pn_agg_reset(eng[k], rows);
		for (int i = 0; i < n; i++)
			pn_agg_landed(eng[k], i, 0, rg[k].hi - rg[k].lo);
		pn_agg_settle(eng[k], st + k * n, grams + (size_t)k * n * n);
		t_settle[k] = now_s() - t0;
	}
	pn_shard_merge(K, n, st, grams, dec, G);
	for (int k = 0; k < K; k++) {
		double t0 = now_s();
		int rc = pn_agg_finish_shared(eng[k], dec, G, out + rg[k].lo);
		double t = t_settle[k] + now_s() - t0;
		if (rc != 0) {
			fprintf(stderr, "shard %d: %s\n", k, pn_agg_errmsg(eng[k]));
			slowest = -1;
			break;
		}
		printf("  K=%d shard %d: [%zu, %zu) ingress %.1f MB, %.3f s\n", K, k, rg[k].lo,
		       rg[k].hi, (double)n * (double)(rg[k].hi - rg[k].lo) * 4 / 1e6, t);
		if (t > slowest)
			slowest = t;
	}
	for (int k = 0; k < K; k++)
		pn_agg_free(eng[k]);
	free(st), free(dec), free(grams), free(G), free(rows);
	return slowest;
}

int main(int argc, char **argv)
{
	size_t d = argc > 1 ? (size_t)strtod(argv[1], NULL) : 10000000;
	int n = argc > 2 ? atoi(argv[2]) : 15;
	int rule = pn_rule_from_name(argc > 3 ? argv[3] : "krum");
	int threads = argc > 4 ? atoi(argv[4]) : 1;
	if (d < 4 || n < 5 || n > 4095 || rule < 0 || rule == PN_RULE_WEIGHTED || threads < 1) {
		fprintf(stderr, "usage: pennant-bench-shards [d >= 4] [n in 5..4095] [rule] [threads]\n");
		return 2;
	}
	float **g = malloc(sizeof(float *) * (size_t)n), *out = malloc(sizeof(float) * d);
	uint64_t s = 1;
	for (int i = 0; i < n; i++) {
		g[i] = malloc(sizeof(float) * d);
		if (!g[i]) {
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		for (size_t c = 0; c < d; c++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			g[i][c] = (float)((double)(s >> 40) / 16777216.0 - 0.5);
		}
	}
	printf("sharded aggregation (compute only, shards run one after another): d=%zu n=%d rule=%s threads/shard=%d\n",
	       d, n, pn_rule_name(rule), threads);
	double base = 0;
	int Ks[] = {1, 2, 4};
	for (int j = 0; j < 3; j++) {
		double t = round_k(Ks[j], d, n, (pn_rule)rule, threads, g, out);
		if (t < 0)
			return 1;
		if (Ks[j] == 1)
			base = t;
		bool gram = rule == PN_RULE_KRUM || rule == PN_RULE_MULTI_KRUM || rule == PN_RULE_BULYAN ||
			    rule == PN_RULE_GEOMED || rule == PN_RULE_FLAG;
		double xbytes = 2.0 * (Ks[j] - 1) * (double)pn_shard_facts_size(n, gram);
		double gbytes = (double)n * (double)d * 4;
		printf("K=%d: slowest shard %.3f s (K=1: %.3f s, ratio %.2f); exchange %.0f B/round vs gradients %.0f B/round (%.2e of them)\n",
		       Ks[j], t, base, base > 0 ? t / base : 0, xbytes, gbytes, xbytes / gbytes);
	}
	for (int i = 0; i < n; i++)
		free(g[i]);
	free(g), free(out);
	return 0;
}
