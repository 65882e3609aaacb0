/* Every rule against a naive direct implementation on small inputs. The engine works
 * on the Gram matrix and in blocks; the references work on the raw vectors. d crosses
 * several 4096-float blocks and is not a multiple of the block or SIMD width. */
#include "helpers.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#define D 9001

static void run_rule(pn_agg_config *cfg, const float *x, float *out)
{
	char err[256];
	int rc = pn_aggregate(cfg, x, out, NULL, NULL, err, sizeof err);
	cr_assert_eq(rc, 0, "%s failed: %s", pn_rule_name(cfg->rule), err);
}

static float *spread_data(int p, uint64_t seed, float *center)
{
	/* Spread-out gradients with a few outliers so selections are not ties. */
	float *x = make_gradients(p, D, 0.6, seed, center);
	uint64_t s = seed * 7 + 1;
	for (size_t c = 0; c < D; c++)
		x[c] += (float)(3.0 * rng_normal(&s));
	return x;
}

Test(rules_naive, coordinate_rules_match_sorting)
{
	const pn_rule rules[] = {PN_RULE_MEAN, PN_RULE_MEDIAN, PN_RULE_TRIMMED_MEAN, PN_RULE_MEAMED,
				 PN_RULE_PHOCAS};
	for (int p = 4; p <= 15; p += 11 - 4) { /* p = 4 (even) and p = 11 (odd) */
		float *center = malloc(sizeof(float) * D), *out = malloc(sizeof(float) * D),
		      *ref = malloc(sizeof(float) * D);
		float *x = spread_data(p, 11 + (uint64_t)p, center);
		for (size_t r = 0; r < sizeof rules / sizeof *rules; r++) {
			pn_agg_config cfg;
			pn_agg_config_init(&cfg, p, D, rules[r]);
			cfg.f = 1;
			run_rule(&cfg, x, out);
			naive_coordinate(rules[r], x, p, D, 1, 1, ref);
			double e = max_rel_diff(out, ref, D);
			cr_expect_lt(e, 1e-6, "%s p=%d differs from naive: %g", pn_rule_name(rules[r]), p, e);
		}
		free(center), free(out), free(ref), free(x);
	}
}

Test(rules_naive, krum_and_multi_krum_match_brute_force)
{
	int p = 11, f = 2;
	float *center = malloc(sizeof(float) * D), *out = malloc(sizeof(float) * D),
	      *ref = malloc(sizeof(float) * D);
	float *x = spread_data(p, 5, center);
	for (int m = 1; m <= 5; m += 4) {
		pn_agg_config cfg;
		pn_agg_config_init(&cfg, p, D, m == 1 ? PN_RULE_KRUM : PN_RULE_MULTI_KRUM);
		cfg.f = f;
		cfg.m = m;
		run_rule(&cfg, x, out);
		naive_multi_krum(x, p, D, f, m, ref);
		cr_expect_lt(max_rel_diff(out, ref, D), 1e-6, "m=%d", m);
	}
	free(center), free(out), free(ref), free(x);
}

Test(rules_naive, bulyan_matches_brute_force)
{
	int p = 11, f = 2; /* p >= 4f+3 */
	float *center = malloc(sizeof(float) * D), *out = malloc(sizeof(float) * D),
	      *ref = malloc(sizeof(float) * D);
	float *x = spread_data(p, 9, center);
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, p, D, PN_RULE_BULYAN);
	cfg.f = f;
	run_rule(&cfg, x, out);
	naive_bulyan(x, p, D, f, ref);
	cr_expect_lt(max_rel_diff(out, ref, D), 1e-6);
	free(center), free(out), free(ref), free(x);
}

Test(rules_naive, geomed_matches_weiszfeld_in_full_dimension)
{
	int p = 9;
	float *center = malloc(sizeof(float) * D), *out = malloc(sizeof(float) * D),
	      *ref = malloc(sizeof(float) * D);
	float *x = spread_data(p, 3, center);
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, p, D, PN_RULE_GEOMED);
	cfg.max_iters = 500;
	cfg.tol = 1e-14;
	run_rule(&cfg, x, out);
	naive_geomed(x, p, D, 500, ref);
	cr_expect_lt(rel_err(out, ref, D), 1e-5, "rel err %g", rel_err(out, ref, D));
	free(center), free(out), free(ref), free(x);
}

static void check_flag(int p, size_t d, int r, double lambda, int converged)
{
	float *center = malloc(sizeof(float) * d), *out = malloc(sizeof(float) * d),
	      *ref = malloc(sizeof(float) * d);
	float *x = make_gradients(p, d, 0.8, 21 + (uint64_t)p, center);
	/* two attackers so the weights actually differ */
	uint64_t s = 77;
	for (size_t c = 0; c < d; c++) {
		x[c] = (float)rng_uniform(&s);
		x[d + c] = -10.0f * x[2 * d + c];
	}
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, p, d, PN_RULE_FLAG);
	cfg.r = r;
	cfg.lambda = lambda;
	cfg.flag_mode = converged ? PN_FLAG_CONVERGED : PN_FLAG_REFERENCE;
	cfg.max_iters = 20;
	cfg.tol = 1e-10;
	pn_agg_report rep;
	char err[256];
	cr_assert_eq(pn_aggregate(&cfg, x, out, &rep, NULL, err, sizeof err), 0, "%s", err);
	int it = naive_flag(x, p, d, r, lambda, converged, 20, 1e-10, ref);
	double e = rel_err(out, ref, d);
	cr_expect_lt(e, 1e-5, "flag p=%d r=%d lambda=%g %s: rel err %g vs SVD route", p, r, lambda,
		     converged ? "converged" : "reference", e);
	cr_expect_eq(rep.iterations, it, "iterations %d vs naive %d", rep.iterations, it);
	free(center), free(out), free(ref), free(x);
}

Test(rules_naive, flag_reference_matches_svd_route)
{
	check_flag(15, 3001, 8, 0.0, 0);
	check_flag(7, 2000, 3, 0.0, 0);
}

Test(rules_naive, flag_with_pairwise_terms_matches_svd_route)
{
	check_flag(8, 1500, 4, 2.0, 0);
}

Test(rules_naive, flag_converged_matches_naive_irls)
{
	check_flag(10, 2500, 4, 0.0, 1);
	check_flag(6, 1200, 2, 1.0, 1);
}

Test(rules_naive, flag_converged_objective_not_worse_than_reference)
{
	int p = 15;
	size_t d = 4000;
	float *center = malloc(sizeof(float) * d), *out = malloc(sizeof(float) * d);
	float *x = make_gradients(p, d, 1.0, 99, center);
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, p, d, PN_RULE_FLAG);
	cfg.r = 4;
	pn_agg_report ref, conv;
	char err[256];
	cr_assert_eq(pn_aggregate(&cfg, x, out, &ref, NULL, err, sizeof err), 0, "%s", err);
	cfg.flag_mode = PN_FLAG_CONVERGED;
	cr_assert_eq(pn_aggregate(&cfg, x, out, &conv, NULL, err, sizeof err), 0, "%s", err);
	cr_expect_leq(conv.objective, ref.objective + 1e-12);
	cr_expect_geq(conv.iterations, 1);
	free(center), free(out), free(x);
}

Test(rules_naive, gram_matrix_matches_direct_dot_products)
{
	int p = 13;
	size_t d = 10007;
	float *center = malloc(sizeof(float) * d);
	float *x = make_gradients(p, d, 1.0, 5, center);
	float *rows[NAIVE_MAX_P];
	for (int i = 0; i < p; i++)
		rows[i] = x + (size_t)i * d;
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, p, d, PN_RULE_GEOMED);
	char err[256];
	pn_agg *a = pn_agg_begin(&cfg, rows, err, sizeof err);
	cr_assert(a, "%s", err);
	for (int i = 0; i < p; i++)
		cr_assert_eq(pn_agg_landed(a, i, 0, d), 0);
	float *out = malloc(sizeof(float) * d);
	cr_assert_eq(pn_agg_finish(a, out), 0);
	const double *G = pn_agg_gram(a);
	for (int i = 0; i < p; i++)
		for (int j = 0; j < p; j++) {
			double s = 0;
			for (size_t c = 0; c < d; c++)
				s += (double)rows[i][c] * rows[j][c];
			cr_expect_lt(fabs(G[i * p + j] - s), 1e-9 * fmax(1.0, fabs(s)), "G[%d][%d]", i, j);
		}
	pn_agg_free(a);
	free(out), free(center), free(x);
}
