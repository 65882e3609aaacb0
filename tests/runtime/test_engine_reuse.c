/* One engine for many rounds (create once, reset per round) gives exactly what a fresh
 * engine per round gives; the fixed-weights rule; the rule table's names and ids. */
#include "helpers.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P 9
#define D 20000

static float *rows_of(float *x, float **rows)
{
	for (int i = 0; i < P; i++)
		rows[i] = x + (size_t)i * D;
	return x;
}

typedef struct cover {
	size_t covered;
	int calls;
} cover;

static void count_piece(void *ctx, size_t off, const float *out, size_t len)
{
	cover *c = ctx;
	(void)off;
	for (size_t k = 0; k < len; k++)
		cr_assert(isfinite(out[k]));
	__atomic_add_fetch(&c->covered, len, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->calls, 1, __ATOMIC_RELAXED);
}

Test(reuse, reset_rounds_equal_fresh_engines_for_every_rule)
{
	float center[D];
	/* two landing "parities" with different data, used alternately as the job does */
	float *x0 = make_gradients(P, D, 0.5, 7, center), *x1 = make_gradients(P, D, 0.5, 8, center);
	float *rows0[P], *rows1[P];
	rows_of(x0, rows0), rows_of(x1, rows1);
	float *out = malloc(sizeof(float) * D), *ref = malloc(sizeof(float) * D);
	for (int rule = 0; rule < PN_RULE_COUNT_; rule++) {
		if (rule == PN_RULE_WEIGHTED)
			continue; /* below */
		for (int threads = 1; threads <= 2; threads++) {
			pn_agg_config cfg = agg_config(P, D, (pn_rule)rule, 1, 3, threads);
			char err[256];
			pn_agg *a = pn_agg_create(&cfg, err, sizeof err);
			cr_assert(a, "%s", err);
			cover cv = {0};
			cr_assert_eq(pn_agg_set_consumer(a, count_piece, &cv), 0);
			for (int round = 0; round < 4; round++) {
				float **rows = round & 1 ? rows1 : rows0;
				cr_assert_eq(pn_agg_reset(a, rows), 0);
				if (round == 2)
					pn_agg_exclude(a, 3); /* exclusions do not leak into round 3 */
				for (int i = 0; i < P; i++)
					cr_assert_eq(pn_agg_landed(a, i, 0, D), 0, "%s", pn_agg_errmsg(a));
				cv.covered = 0;
				cr_assert_eq(pn_agg_finish(a, out), 0, "%s", pn_agg_errmsg(a));
				cr_expect_eq(cv.covered, D, "%s: consumer saw %zu of %d", pn_rule_name(rule),
					     cv.covered, D);
				pn_agg_report rep;
				pn_agg_get_report(a, &rep);
				cr_expect_eq(rep.used, round == 2 ? P - 1 : P, "%s round %d", pn_rule_name(rule), round);
				/* the same round on a fresh one-round engine */
				pn_agg *b = pn_agg_begin(&cfg, rows, err, sizeof err);
				cr_assert(b, "%s", err);
				if (round == 2)
					pn_agg_exclude(b, 3);
				for (int i = 0; i < P; i++)
					pn_agg_landed(b, i, 0, D);
				cr_assert_eq(pn_agg_finish(b, ref), 0, "%s", pn_agg_errmsg(b));
				cr_expect_lt(max_rel_diff(out, ref, D), 1e-6, "%s threads=%d round %d",
					     pn_rule_name(rule), threads, round);
				for (int i = 0; i < P; i++)
					cr_expect_eq(pn_agg_status(a)[i], pn_agg_status(b)[i]);
				pn_agg_free(b);
			}
			cr_expect_eq(pn_agg_finish(a, out), -EINVAL, "finish twice in a round");
			pn_agg_free(a);
		}
	}
	free(x0), free(x1), free(out), free(ref);
}

Test(weighted, fixed_weights_equal_the_linear_combination)
{
	float center[D];
	float *x = make_gradients(P, D, 0.5, 11, center), *rows[P];
	rows_of(x, rows);
	float *out = malloc(sizeof(float) * D);
	double w[P];
	for (int i = 0; i < P; i++)
		w[i] = i == 4 ? 0.0 : 0.1 * (i + 1) - 0.3;
	for (int threads = 1; threads <= 2; threads++) {
		pn_agg_config cfg;
		pn_agg_config_init(&cfg, P, D, PN_RULE_WEIGHTED);
		cfg.threads = threads;
		char err[256];
		pn_agg *a = pn_agg_create(&cfg, err, sizeof err);
		cr_assert(a, "%s", err);
		for (int round = 0; round < 2; round++) {
			cr_assert_eq(pn_agg_reset(a, rows), 0);
			cr_assert_eq(pn_agg_set_weights(a, w), 0, "%s", pn_agg_errmsg(a));
			for (int i = 0; i < P; i++)
				pn_agg_landed(a, i, 0, D);
			cr_assert_eq(pn_agg_finish(a, out), 0, "%s", pn_agg_errmsg(a));
			double worst = 0;
			for (size_t c = 0; c < D; c++) {
				double e = 0;
				for (int i = 0; i < P; i++)
					e += w[i] * x[(size_t)i * D + c];
				worst = fmax(worst, fabs(e - out[c]));
			}
			cr_expect_lt(worst, 1e-5, "threads=%d: |out - Σ w_i x_i| = %g", threads, worst);
			for (int i = 0; i < P; i++)
				cr_expect_eq(pn_agg_weights(a)[i], w[i]);
		}
		/* reset forgets the weights: a round without them is a clear error */
		pn_agg_reset(a, rows);
		for (int i = 0; i < P; i++)
			pn_agg_landed(a, i, 0, D);
		cr_expect_eq(pn_agg_finish(a, out), -EINVAL);
		cr_expect(strstr(pn_agg_errmsg(a), "needs weights") != NULL, "%s", pn_agg_errmsg(a));
		pn_agg_free(a);
	}
	free(x), free(out);
}

typedef struct decode_ctx {
	bool seen[P];
	int calls;
} decode_ctx;

/* A stand-in for a code's decode: equal weights over exactly the usable set. */
static int decode_usable(void *ctx, const bool *usable, int p, double *w, char *err, size_t errlen)
{
	decode_ctx *c = ctx;
	c->calls++;
	int k = 0;
	for (int i = 0; i < p; i++) {
		c->seen[i] = usable[i];
		k += usable[i];
	}
	if (k < 3) {
		snprintf(err, errlen, "cannot decode from %d workers", k);
		return -ENODATA;
	}
	for (int i = 0; i < p; i++)
		w[i] = usable[i] ? 1.0 / k : 0.0;
	return 0;
}

Test(weighted, weight_function_sees_the_usable_set_and_unusable_weighted_workers_fail)
{
	float center[D];
	float *x = make_gradients(P, D, 0.5, 12, center), *rows[P];
	rows_of(x, rows);
	x[2 * D + 5000] = NAN; /* worker 2 non-finite */
	float *out = malloc(sizeof(float) * D), *ref = malloc(sizeof(float) * D);
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, P, D, PN_RULE_WEIGHTED);
	cfg.threads = 2;
	char err[256];
	pn_agg *a = pn_agg_create(&cfg, err, sizeof err);
	cr_assert(a);
	decode_ctx dc = {0};
	cr_assert_eq(pn_agg_set_weight_fn(a, decode_usable, &dc), 0);
	pn_agg_reset(a, rows);
	pn_agg_exclude(a, 5);
	for (int i = 0; i < P; i++)
		if (i != 7) /* worker 7 never completes */
			pn_agg_landed(a, i, 0, D);
	pn_agg_landed(a, 7, 0, D / 2);
	cr_assert_eq(pn_agg_finish(a, out), 0, "%s", pn_agg_errmsg(a));
	cr_expect_eq(dc.calls, 1);
	for (int i = 0; i < P; i++)
		cr_expect_eq(dc.seen[i], i != 2 && i != 5 && i != 7, "usable[%d]", i);
	cr_expect_eq(pn_agg_status(a)[2], PN_AGG_NONFINITE);
	cr_expect_eq(pn_agg_status(a)[5], PN_AGG_EXCLUDED);
	cr_expect_eq(pn_agg_status(a)[7], PN_AGG_INCOMPLETE);
	/* equals the plain mean of the six usable workers */
	pn_agg_config mc;
	pn_agg_config_init(&mc, 6, D, PN_RULE_MEAN);
	float *clean = malloc(sizeof(float) * 6 * D);
	for (int i = 0, k = 0; i < P; i++)
		if (dc.seen[i])
			memcpy(clean + (size_t)k++ * D, x + (size_t)i * D, sizeof(float) * D);
	cr_assert_eq(pn_aggregate(&mc, clean, ref, NULL, NULL, err, sizeof err), 0, "%s", err);
	cr_expect_lt(max_rel_diff(out, ref, D), 1e-5);

	/* static weights that count on the non-finite worker: refused, naming it */
	pn_agg_set_weight_fn(a, NULL, NULL);
	pn_agg_reset(a, rows);
	double w[P];
	for (int i = 0; i < P; i++)
		w[i] = 1.0 / P;
	pn_agg_set_weights(a, w);
	for (int i = 0; i < P; i++)
		pn_agg_landed(a, i, 0, D);
	cr_expect_eq(pn_agg_finish(a, out), -ENODATA);
	cr_expect(strstr(pn_agg_errmsg(a), "worker 2") && strstr(pn_agg_errmsg(a), "nonfinite"), "%s",
		  pn_agg_errmsg(a));
	pn_agg_free(a);

	/* weights are only for the weighted rule; non-finite weights are refused */
	pn_agg_config_init(&cfg, P, D, PN_RULE_KRUM);
	a = pn_agg_begin(&cfg, rows, err, sizeof err);
	cr_expect_eq(pn_agg_set_weights(a, w), -EINVAL);
	cr_expect_eq(pn_agg_set_weight_fn(a, decode_usable, &dc), -EINVAL);
	pn_agg_free(a);
	pn_agg_config_init(&cfg, P, D, PN_RULE_WEIGHTED);
	a = pn_agg_begin(&cfg, rows, err, sizeof err);
	w[1] = INFINITY;
	cr_expect_eq(pn_agg_set_weights(a, w), -EINVAL);
	pn_agg_free(a);
	free(x), free(out), free(ref), free(clean);
}

Test(rules, every_id_has_one_name_and_unknown_is_an_error)
{
	for (int r = 0; r < PN_RULE_COUNT_; r++) {
		const char *name = pn_rule_name((pn_rule)r);
		cr_expect_str_neq(name, "?", "rule %d has no descriptor", r);
		cr_expect_eq(pn_rule_from_name(name), r, "%s", name);
	}
	cr_expect_eq(pn_rule_from_name("weighted"), PN_RULE_WEIGHTED);
	cr_expect_eq(pn_rule_from_name("Flag"), -1);
	cr_expect_eq(pn_rule_from_name(NULL), -1);
	cr_expect_str_eq(pn_rule_name(PN_RULE_COUNT_), "?");
	pn_agg_config c;
	char err[128];
	pn_agg_config_init(&c, 5, 10, PN_RULE_COUNT_);
	cr_expect_eq(pn_agg_config_check(&c, err, sizeof err), -EINVAL, "unknown id must not fall back");
	cr_expect_null(pn_agg_create(&c, err, sizeof err));
	c.rule = (pn_rule)-1;
	cr_expect_eq(pn_agg_config_check(&c, err, sizeof err), -EINVAL);
	cr_expect_eq(pn_rule_min_workers(&c), -EINVAL);
	pn_agg_config_init(&c, 9, 10, PN_RULE_KRUM);
	c.f = 2;
	cr_expect_eq(pn_rule_min_workers(&c), 7);
	c.rule = PN_RULE_BULYAN;
	cr_expect_eq(pn_rule_min_workers(&c), 11);
	c.rule = PN_RULE_MEAMED;
	cr_expect_eq(pn_rule_min_workers(&c), 3);
	c.rule = PN_RULE_TRIMMED_MEAN;
	cr_expect_eq(pn_rule_min_workers(&c), 5);
	cr_expect_str_eq(pn_agg_status_name(PN_AGG_INCOMPLETE), "incomplete");
	cr_expect_str_eq(pn_agg_status_name(7), "?");
}
