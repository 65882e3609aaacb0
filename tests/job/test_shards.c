/* Sharded aggregation in-process: K engines, each over its own coordinate range of the
 * same p workers, settle, merge their facts (pn_shard_merge) and finish on the one
 * decision. For every rule, 20 rounds of SGD with K = 2 and 4 shards give the model of
 * the unsharded engine (relative difference <= 1e-5) with the same per-round worker
 * statuses, including a round where a worker is NaN only inside the last shard's range
 * and a round where a worker never lands a chunk of the first shard's range. */
#include "job/shard_facts.h"
#include "pennant/agg.h"
#include "pennant/shard.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define P 8
#define ROUNDS 20
#define CHUNK 1000
#define NAN_ROUND 7
#define NAN_WORKER 2
#define LATE_ROUND 11
#define LATE_WORKER 3
#define BYZ_WORKER 7

static const size_t D = 5 * PN_SHARD_ALIGN + 777; /* ragged last shard for K = 2, 4 */

static float noise(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((double)(*s >> 11) / 9007199254740992.0 - 0.5);
}

static int mean_of_usable(void *ctx, const bool *usable, int p, double *w, char *err,
			  size_t errlen)
{
	(void)ctx, (void)err, (void)errlen;
	int k = 0;
	for (int i = 0; i < p; i++)
		k += usable[i];
	for (int i = 0; i < p; i++)
		w[i] = usable[i] && k ? 1.0 / k : 0.0;
	return 0;
}

/* This round's gradients: g_i = (x - t) + noise, the Byzantine worker sends -10 (x - t),
 * and the planted NaN. */
static void gradients(int v, const float *x, const float *t, float *g)
{
	for (int i = 0; i < P; i++) {
		uint64_t s = (uint64_t)v * 1000003u + (uint64_t)i * 7919u + 1;
		float *gi = g + (size_t)i * D;
		for (size_t c = 0; c < D; c++) {
			float e = x[c] - t[c];
			gi[c] = i == BYZ_WORKER ? -10.0f * e : e + 0.3f * noise(&s);
		}
	}
	if (v == NAN_ROUND)
		g[(size_t)NAN_WORKER * D + D - 5] = NAN;
}

typedef struct job_trace {
	int rc[ROUNDS];
	int status[ROUNDS][P];
	int picked[ROUNDS][P]; /* shard 0's weight != 0 (selection rules) */
	float *x;
} job_trace;

/* 20 rounds with K shards; K == 1 runs the plain engine (pn_agg_finish), the reference. */
static void run_job(pn_rule rule, int K, job_trace *tr)
{
	pn_shard_range rg[4];
	char err[256] = "";
	cr_assert_eq(pn_shard_plan(D, K, NULL, 0, rg, err, sizeof err), 0, "%s", err);
	float *g = malloc(sizeof(float) * D * P), *out = calloc(D, sizeof(float));
	float *t = malloc(sizeof(float) * D);
	tr->x = calloc(D, sizeof(float));
	uint64_t s = 42;
	for (size_t c = 0; c < D; c++)
		t[c] = 2.0f * noise(&s);
	pn_agg *eng[4];
	for (int k = 0; k < K; k++) {
		pn_agg_config cfg;
		pn_agg_config_init(&cfg, P, rg[k].hi - rg[k].lo, rule);
		cfg.f = 1;
		cfg.threads = k == 0 ? 2 : 1; /* a pool in one shard, inline in the others */
		cfg.flag_rescale = 1;
		eng[k] = pn_agg_create(&cfg, err, sizeof err);
		cr_assert(eng[k], "%s", err);
		if (rule == PN_RULE_WEIGHTED)
			pn_agg_set_weight_fn(eng[k], mean_of_usable, NULL);
	}
	int st[4 * P];
	double *grams = malloc(sizeof(double) * 4 * P * P), G[P * P];
	uint8_t *blob = malloc(pn_shard_facts_size(P, true));
	bool gram_rule = rule == PN_RULE_KRUM || rule == PN_RULE_MULTI_KRUM ||
			 rule == PN_RULE_BULYAN || rule == PN_RULE_GEOMED || rule == PN_RULE_FLAG;
	for (int v = 0; v < ROUNDS; v++) {
		gradients(v, tr->x, t, g);
		for (int k = 0; k < K; k++) {
			float *rows[P];
			for (int i = 0; i < P; i++)
				rows[i] = g + (size_t)i * D + rg[k].lo;
			cr_assert_eq(pn_agg_reset(eng[k], rows), 0);
			size_t len = rg[k].hi - rg[k].lo;
			for (int i = 0; i < P; i++)
				for (size_t o = 0; o < len; o += CHUNK) {
					if (v == LATE_ROUND && i == LATE_WORKER && k == 0 && o == 0)
						continue; /* never lands: a straggler in shard 0 only */
					size_t n = len - o < CHUNK ? len - o : CHUNK;
					cr_assert_eq(pn_agg_landed(eng[k], i, o, n), 0);
				}
		}
		int rc = 0;
		if (K == 1) {
			rc = pn_agg_finish(eng[0], out);
			memcpy(tr->status[v], pn_agg_status(eng[0]), sizeof(int) * P);
		} else {
			for (int k = 0; k < K; k++)
				cr_assert_eq(pn_agg_settle(eng[k], st + k * P,
							   gram_rule ? grams + (size_t)k * P * P : NULL),
					     0);
			/* shards 1..K-1 hand their facts to shard 0 as bytes, shard 0 merges and
			 * hands the decision back as bytes: the wire form, not just the math */
			for (int k = 1; k < K; k++) {
				double *Gk = gram_rule ? grams + (size_t)k * P * P : NULL;
				size_t n = pn_shard_facts_pack(v, P, st + k * P, Gk, blob);
				cr_assert_eq(pn_shard_facts_unpack(blob, n, v, P, st + k * P, Gk), 0);
			}
			int decided[P];
			cr_assert_gt(pn_shard_merge(K, P, st, gram_rule ? grams : NULL, decided,
						    gram_rule ? G : NULL),
				     0);
			size_t n = pn_shard_facts_pack(v, P, decided, gram_rule ? G : NULL, blob);
			cr_assert_eq(pn_shard_facts_unpack(blob, n, v, P, tr->status[v],
							   gram_rule ? G : NULL),
				     0);
			for (int k = 0; k < K && rc == 0; k++)
				rc = pn_agg_finish_shared(eng[k], tr->status[v], gram_rule ? G : NULL,
							  out + rg[k].lo);
			for (int k = 1; k < K; k++)
				cr_expect_arr_eq(pn_agg_status(eng[k]), tr->status[v], sizeof(int) * P,
						 "round %d: shard %d's statuses differ from the decision", v, k);
		}
		tr->rc[v] = rc;
		const double *w = pn_agg_weights(eng[0]);
		for (int i = 0; i < P; i++)
			tr->picked[v][i] = w[i] != 0.0;
		if (rc == 0)
			for (size_t c = 0; c < D; c++)
				tr->x[c] -= 0.2f * out[c];
	}
	for (int k = 0; k < K; k++)
		pn_agg_free(eng[k]);
	free(g), free(out), free(t), free(grams), free(blob);
}

static void check_rule(pn_rule rule)
{
	job_trace ref, sh;
	run_job(rule, 1, &ref);
	cr_expect_eq(ref.status[NAN_ROUND][NAN_WORKER], PN_AGG_NONFINITE);
	cr_expect_eq(ref.status[LATE_ROUND][LATE_WORKER], PN_AGG_INCOMPLETE);
	double n2 = 0;
	for (size_t c = 0; c < D; c++)
		n2 += (double)ref.x[c] * ref.x[c];
	cr_assert_gt(n2, 1.0, "%s: the model did not move", pn_rule_name(rule));
	bool selects = rule == PN_RULE_KRUM || rule == PN_RULE_MULTI_KRUM;
	int Ks[] = {2, 4};
	for (int j = 0; j < 2; j++) {
		run_job(rule, Ks[j], &sh);
		double e2 = 0;
		for (size_t c = 0; c < D; c++)
			e2 += ((double)sh.x[c] - ref.x[c]) * ((double)sh.x[c] - ref.x[c]);
		cr_expect_leq(sqrt(e2 / n2), 1e-5, "%s K=%d: relative difference %g",
			      pn_rule_name(rule), Ks[j], sqrt(e2 / n2));
		for (int v = 0; v < ROUNDS; v++) {
			cr_expect_eq(sh.rc[v], ref.rc[v], "%s K=%d round %d: rc %d vs %d",
				     pn_rule_name(rule), Ks[j], v, sh.rc[v], ref.rc[v]);
			cr_expect_arr_eq(sh.status[v], ref.status[v], sizeof(int) * P,
					 "%s K=%d round %d: statuses differ", pn_rule_name(rule),
					 Ks[j], v);
			if (selects)
				cr_expect_arr_eq(sh.picked[v], ref.picked[v], sizeof(int) * P,
						 "%s K=%d round %d: selections differ",
						 pn_rule_name(rule), Ks[j], v);
		}
		free(sh.x);
	}
	free(ref.x);
}

Test(shards, mean) { check_rule(PN_RULE_MEAN); }
Test(shards, median) { check_rule(PN_RULE_MEDIAN); }
Test(shards, trimmed_mean) { check_rule(PN_RULE_TRIMMED_MEAN); }
Test(shards, meamed) { check_rule(PN_RULE_MEAMED); }
Test(shards, phocas) { check_rule(PN_RULE_PHOCAS); }
Test(shards, krum) { check_rule(PN_RULE_KRUM); }
Test(shards, multi_krum) { check_rule(PN_RULE_MULTI_KRUM); }
Test(shards, bulyan) { check_rule(PN_RULE_BULYAN); }
Test(shards, geomed) { check_rule(PN_RULE_GEOMED); }
Test(shards, flag) { check_rule(PN_RULE_FLAG); }
Test(shards, weighted) { check_rule(PN_RULE_WEIGHTED); }

Test(shards, finish_shared_refuses_a_worker_this_shard_cannot_use)
{
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, 3, 64, PN_RULE_MEDIAN);
	cfg.threads = 1;
	char err[256];
	pn_agg *a = pn_agg_begin(&cfg, NULL, err, sizeof err);
	cr_assert(a, "%s", err);
	float buf[64] = {0};
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pn_agg_feed(a, i, 0, buf, 64), 0);
	int st[3], all_used[3] = {PN_AGG_USED, PN_AGG_USED, PN_AGG_USED};
	cr_assert_eq(pn_agg_settle(a, st, NULL), 0);
	cr_expect_eq(st[2], PN_AGG_INCOMPLETE);
	float out[64];
	cr_expect_eq(pn_agg_finish_shared(a, all_used, NULL, out), -EINVAL);
	cr_expect(strstr(pn_agg_errmsg(a), "worker 2"), "%s", pn_agg_errmsg(a));
	pn_agg_free(a);

	pn_agg_config_init(&cfg, 3, 64, PN_RULE_KRUM);
	cfg.threads = 1;
	a = pn_agg_begin(&cfg, NULL, err, sizeof err);
	cr_assert(a, "%s", err);
	cr_expect_eq(pn_agg_finish_shared(a, all_used, NULL, out), -EINVAL, "Krum without G");
	pn_agg_free(a);
}

Test(shards, plan_even_aligned_and_small)
{
	pn_shard_range r[8];
	char err[200];
	cr_assert_eq(pn_shard_plan(10 * PN_SHARD_ALIGN + 5, 4, NULL, 0, r, err, sizeof err), 0);
	size_t lo = 0;
	for (int k = 0; k < 4; k++) {
		cr_expect_eq(r[k].lo, lo);
		cr_expect_gt(r[k].hi, r[k].lo);
		if (k < 3)
			cr_expect_eq(r[k].hi % PN_SHARD_ALIGN, 0u, "cut %d at %zu", k, r[k].hi);
		lo = r[k].hi;
	}
	cr_expect_eq(lo, 10 * PN_SHARD_ALIGN + 5);
	cr_assert_eq(pn_shard_plan(10, 4, NULL, 0, r, err, sizeof err), 0);
	size_t want[] = {2, 5, 7, 10};
	for (int k = 0; k < 4; k++)
		cr_expect_eq(r[k].hi, want[k], "small d: shard %d ends at %zu", k, r[k].hi);
	cr_assert_eq(pn_shard_plan(1, 1, NULL, 0, r, err, sizeof err), 0);
	cr_expect(r[0].lo == 0 && r[0].hi == 1);
}

Test(shards, plan_follows_layer_boundaries)
{
	/* layers of 100, 900, 50, 50, 900: two shards cut at 1000 (nearest to 1000), four
	 * at 100 or 1000 ... each boundary used once, ranges non-empty */
	size_t b[] = {100, 1000, 1050, 1100};
	pn_shard_range r[4];
	char err[200];
	cr_assert_eq(pn_shard_plan(2000, 2, b, 4, r, err, sizeof err), 0, "%s", err);
	cr_expect_eq(r[0].hi, 1000u);
	cr_expect_eq(r[1].lo, 1000u);
	cr_expect_eq(r[1].hi, 2000u);
	cr_assert_eq(pn_shard_plan(2000, 4, b, 4, r, err, sizeof err), 0, "%s", err);
	size_t want[] = {100, 1000, 1100, 2000};
	for (int k = 0; k < 4; k++) {
		cr_expect_eq(r[k].hi, want[k], "shard %d ends at %zu", k, r[k].hi);
		cr_expect_gt(r[k].hi, r[k].lo);
	}
	/* the last shard keeps a boundary for itself even if all sit near the start */
	size_t early[] = {1, 2, 3};
	cr_assert_eq(pn_shard_plan(2000, 4, early, 3, r, err, sizeof err), 0, "%s", err);
	cr_expect(r[0].hi == 1 && r[1].hi == 2 && r[2].hi == 3 && r[3].hi == 2000);
}

Test(shards, plan_refuses_bad_input)
{
	pn_shard_range r[PN_SHARD_MAX + 1];
	char err[200] = "";
	size_t unordered[] = {500, 100}, outside[] = {0}, past[] = {2000};
	cr_expect_eq(pn_shard_plan(1000, 0, NULL, 0, r, err, sizeof err), -EINVAL);
	cr_expect_eq(pn_shard_plan(1000, PN_SHARD_MAX + 1, NULL, 0, r, err, sizeof err), -EINVAL);
	cr_expect_eq(pn_shard_plan(3, 4, NULL, 0, r, err, sizeof err), -EINVAL);
	cr_expect(strstr(err, "smaller"), "%s", err);
	cr_expect_eq(pn_shard_plan(1000, 2, unordered, 2, r, err, sizeof err), -EINVAL);
	cr_expect_eq(pn_shard_plan(1000, 2, outside, 1, r, err, sizeof err), -EINVAL);
	cr_expect_eq(pn_shard_plan(1000, 2, past, 1, r, err, sizeof err), -EINVAL);
	size_t one[] = {500};
	cr_expect_eq(pn_shard_plan(1000, 3, one, 1, r, err, sizeof err), -EINVAL);
	cr_expect(strstr(err, "boundaries"), "%s", err);
}

Test(shards, merge_is_the_union_of_exclusions_and_the_sum_of_grams)
{
	int st[2 * 3] = {PN_AGG_USED, PN_AGG_INCOMPLETE, PN_AGG_USED,
			 PN_AGG_NONFINITE, PN_AGG_USED, PN_AGG_USED};
	double grams[2 * 9], G[9];
	for (int e = 0; e < 9; e++)
		grams[e] = e, grams[9 + e] = 10 * e;
	int out[3];
	cr_assert_eq(pn_shard_merge(2, 3, st, grams, out, G), 1);
	cr_expect(out[0] == PN_AGG_NONFINITE && out[1] == PN_AGG_INCOMPLETE && out[2] == PN_AGG_USED);
	for (int e = 0; e < 9; e++)
		cr_expect_eq(G[e], 11.0 * e);
	cr_expect_eq(pn_shard_merge(2, 3, st, grams, out, NULL), -EINVAL);
	cr_expect_eq(pn_shard_merge(0, 3, st, NULL, out, NULL), -EINVAL);
}

Test(shards, facts_blob_round_trips_and_refuses_anything_else)
{
	int st[3] = {PN_AGG_USED, PN_AGG_NONFINITE, PN_AGG_EXCLUDED}, st2[3];
	double G[9], G2[9];
	for (int e = 0; e < 9; e++)
		G[e] = e == 4 ? INFINITY : 0.5 * e;
	uint8_t buf[256];
	size_t n = pn_shard_facts_pack(41, 3, st, G, buf);
	cr_assert_eq(n, pn_shard_facts_size(3, true));
	cr_assert_eq(n, 16 + 3 + 72 + 8u);
	cr_assert_eq(pn_shard_facts_unpack(buf, n, 41, 3, st2, G2), 0);
	cr_expect_arr_eq(st2, st, sizeof st);
	cr_expect_arr_eq(G2, G, sizeof G, "the Gram's bits, the diagonal's Inf included");
	cr_expect_eq(pn_shard_facts_unpack(buf, n, 42, 3, st2, G2), -EBADMSG, "another round");
	cr_expect_eq(pn_shard_facts_unpack(buf, n, 41, 2, st2, G2), -EBADMSG, "another p");
	cr_expect_eq(pn_shard_facts_unpack(buf, n, 41, 3, st2, NULL), -EBADMSG, "no Gram wanted");
	cr_expect_eq(pn_shard_facts_unpack(buf, n - 1, 41, 3, st2, G2), -EBADMSG, "short");
	for (size_t i = 0; i < n; i++) {
		buf[i] ^= 0x10;
		cr_expect_eq(pn_shard_facts_unpack(buf, n, 41, 3, st2, G2), -EBADMSG, "byte %zu", i);
		buf[i] ^= 0x10;
	}
	int bad[3] = {PN_AGG_USED, PN_AGG_EXCLUDED + 1, PN_AGG_USED};
	n = pn_shard_facts_pack(41, 3, bad, G, buf); /* checksum right, a status out of range */
	cr_expect_eq(pn_shard_facts_unpack(buf, n, 41, 3, st2, G2), -EBADMSG, "status 4");
	n = pn_shard_facts_pack(7, 3, st, NULL, buf);
	cr_assert_eq(n, pn_shard_facts_size(3, false));
	cr_expect_eq(pn_shard_facts_unpack(buf, n, 7, 3, st2, NULL), 0);
	cr_expect_eq(pn_shard_facts_size(0, true), 0u);
	cr_expect_eq(pn_shard_facts_size(4096, false), 0u);
}
