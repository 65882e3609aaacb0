/* The engine on bf16/fp16 rows against the float32 engine on the same values widened:
 * same math on the same numbers, so outputs, weights and statuses must agree (bit for bit
 * with one thread, to float rounding of a different Gram summation order with a pool).
 * Every rule, several blocks plus a tail, one Byzantine row; also the copy-in path,
 * fp16 overflow arriving as Inf, and the float32 entry points refusing half engines. */
#include "helpers.h"
#include "pennant/dtype.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define P 11
#define F 2
#define D (2 * 4096 + 123)

typedef struct half_set {
	grad_set g;        /* the float32 source rows */
	uint16_t *h;       /* p×d half rows */
	float *wide;       /* p×d: h widened back to float32 */
} half_set;

static void half_set_make(half_set *s, pn_dtype t, uint64_t seed)
{
	grad_set_make(&s->g, P, D, 0.3, seed);
	for (size_t c = 0; c < D; c++) /* a Byzantine worker: far from the others */
		s->g.x[c] = -8.0f * s->g.center[c];
	s->h = malloc(sizeof(uint16_t) * P * D);
	s->wide = malloc(sizeof(float) * P * D);
	cr_assert(s->h && s->wide);
	pn_f32_to_half(t, s->h, s->g.x, (size_t)P * D);
	pn_half_to_f32(t, s->wide, s->h, (size_t)P * D);
}

static void half_set_free(half_set *s)
{
	grad_set_free(&s->g);
	free(s->h), free(s->wide);
}

typedef struct result {
	int rc;
	float out[D];
	double w[P];
	int status[P];
} result;

/* One round over p×d elements at x (of cfg->grad_dtype), landed in three chunks per row. */
static void run(const pn_agg_config *cfg, const void *x, result *r)
{
	const void *rows[P];
	size_t es = pn_dtype_size(cfg->grad_dtype);
	for (int i = 0; i < P; i++)
		rows[i] = (const char *)x + (size_t)i * D * es;
	char err[256];
	pn_agg *a = pn_agg_begin_typed(cfg, rows, err, sizeof err);
	cr_assert(a, "%s", err);
	if (cfg->rule == PN_RULE_WEIGHTED) {
		double w[P];
		for (int i = 0; i < P; i++)
			w[i] = 1.0 / (i + 2);
		cr_assert_eq(pn_agg_set_weights(a, w), 0);
	}
	size_t cuts[4] = {0, 1000, 5000, D};
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < P; i++)
			cr_assert_eq(pn_agg_landed(a, i, cuts[k], cuts[k + 1] - cuts[k]), 0, "%s",
				     pn_agg_errmsg(a));
	r->rc = pn_agg_finish(a, r->out);
	cr_assert_eq(r->rc, 0, "%s: %s", pn_rule_name(cfg->rule), pn_agg_errmsg(a));
	memcpy(r->w, pn_agg_weights(a), sizeof r->w);
	memcpy(r->status, pn_agg_status(a), sizeof r->status);
	pn_agg_free(a);
}

static void compare_rules(pn_dtype t, int threads, double tol)
{
	half_set s;
	half_set_make(&s, t, 7 + (uint64_t)t);
	static result hr, fr;
	for (int rule = 0; rule < PN_RULE_COUNT_; rule++) {
		pn_agg_config cfg = agg_config(P, D, (pn_rule)rule, F, 3, threads);
		pn_agg_config fcfg = cfg;
		cfg.grad_dtype = t;
		run(&cfg, s.h, &hr);
		run(&fcfg, s.wide, &fr);
		const char *name = pn_rule_name((pn_rule)rule);
		double diff = max_rel_diff(hr.out, fr.out, D);
		cr_expect(diff <= tol, "%s/%s, %d threads: output differs by %g", pn_dtype_name(t), name,
			  threads, diff);
		for (int i = 0; i < P; i++) {
			cr_expect_eq(hr.status[i], fr.status[i], "%s/%s: status of %d", pn_dtype_name(t), name, i);
			cr_expect(fabs(hr.w[i] - fr.w[i]) <= tol * (1 + fabs(fr.w[i])),
				  "%s/%s: weight %d %.17g vs %.17g", pn_dtype_name(t), name, i, hr.w[i], fr.w[i]);
		}
	}
	half_set_free(&s);
}

Test(half_engine, bf16_equals_f32_on_widened_values_for_every_rule_inline)
{
	compare_rules(PN_DTYPE_BF16, 1, 0.0);
}

Test(half_engine, f16_equals_f32_on_widened_values_for_every_rule_inline)
{
	compare_rules(PN_DTYPE_F16, 1, 0.0);
}

Test(half_engine, half_equals_f32_on_widened_values_with_a_pool)
{
	compare_rules(PN_DTYPE_BF16, 3, 1e-6);
	compare_rules(PN_DTYPE_F16, 3, 1e-6);
}

Test(half_engine, feed_typed_copies_half_chunks_into_owned_storage)
{
	half_set s;
	half_set_make(&s, PN_DTYPE_F16, 3);
	pn_agg_config cfg = agg_config(P, D, PN_RULE_KRUM, F, 0, 1);
	cfg.grad_dtype = PN_DTYPE_F16;
	char err[256];
	pn_agg *a = pn_agg_create(&cfg, err, sizeof err);
	cr_assert(a, "%s", err);
	cr_assert_eq(pn_agg_reset_typed(a, NULL), 0);
	for (int i = 0; i < P; i++) {
		cr_assert_eq(pn_agg_feed_typed(a, i, 0, s.h + (size_t)i * D, 4000), 0);
		cr_assert_eq(pn_agg_feed_typed(a, i, 4000, s.h + (size_t)i * D + 4000, D - 4000), 0);
	}
	static float out[D], ref[D];
	cr_assert_eq(pn_agg_finish(a, out), 0, "%s", pn_agg_errmsg(a));
	pn_agg_free(a);
	pn_agg_config fcfg = agg_config(P, D, PN_RULE_KRUM, F, 0, 1);
	cr_assert_eq(pn_aggregate(&fcfg, s.wide, ref, NULL, NULL, err, sizeof err), 0, "%s", err);
	cr_expect_arr_eq(out, ref, sizeof out);
	half_set_free(&s);
}

Test(half_engine, fp16_overflow_is_excluded_as_nonfinite)
{
	half_set s;
	half_set_make(&s, PN_DTYPE_F16, 5);
	s.g.x[3 * D + 17] = 1e6f; /* finite in float32, Inf in fp16 */
	pn_f32_to_half(PN_DTYPE_F16, s.h, s.g.x, (size_t)P * D);
	static float out[D];
	for (int rule = 0; rule < PN_RULE_COUNT_; rule++) {
		if (rule == PN_RULE_WEIGHTED)
			continue; /* a fixed weight on the Inf worker is an error, tested elsewhere */
		/* f = 1: Bulyan's 4f+3 must fit in the p-1 workers left */
		pn_agg_config cfg = agg_config(P, D, (pn_rule)rule, 1, 3, 1);
		cfg.grad_dtype = PN_DTYPE_F16;
		pn_agg_report rep;
		char err[256];
		int rc = pn_aggregate_typed(&cfg, s.h, out, &rep, NULL, err, sizeof err);
		cr_assert_eq(rc, 0, "%s: %s", pn_rule_name((pn_rule)rule), err);
		cr_expect_eq(rep.nonfinite, 1, "%s: the Inf row is excluded", pn_rule_name((pn_rule)rule));
		cr_expect(isfinite(out[17]));
	}
	half_set_free(&s);
}

Test(half_engine, float_entry_points_refuse_half_engines)
{
	pn_agg_config cfg = agg_config(3, 8, PN_RULE_MEAN, 0, 0, 1);
	cfg.grad_dtype = PN_DTYPE_BF16;
	char err[256] = "";
	float x[24] = {0}, out[8];
	cr_expect_eq(pn_aggregate(&cfg, x, out, NULL, NULL, err, sizeof err), -EINVAL);
	cr_expect(strstr(err, "pn_aggregate_typed"), "%s", err);
	cr_expect_null(pn_agg_begin(&cfg, NULL, err, sizeof err));
	pn_agg *a = pn_agg_create(&cfg, err, sizeof err);
	cr_assert(a);
	cr_expect_eq(pn_agg_reset(a, NULL), -EINVAL);
	cr_expect_eq(pn_agg_reset_typed(a, NULL), 0);
	cr_expect_eq(pn_agg_feed(a, 0, 0, x, 8), -EINVAL);
	pn_agg_free(a);
	cfg.grad_dtype = (pn_dtype)9;
	cr_expect_eq(pn_agg_config_check(&cfg, err, sizeof err), -EINVAL);
	cr_expect(strstr(err, "dtype"), "%s", err);
}
