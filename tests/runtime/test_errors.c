/* Malformed input and non-finite values are handled as specified: clear errors, never
 * a crash; NaN/Inf workers are excluded and reported. */
#include "helpers.h"
#include "pennant/npy.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Test(errors, bad_configs_are_rejected_with_a_message)
{
	pn_agg_config c;
	char err[256];
	pn_agg_config_init(&c, 0, 10, PN_RULE_MEAN);
	cr_expect_eq(pn_agg_config_check(&c, err, sizeof err), -EINVAL);
	cr_expect(strstr(err, "worker") != NULL, "%s", err);
	pn_agg_config_init(&c, 5, 10, PN_RULE_KRUM);
	c.f = 5;
	cr_expect_eq(pn_agg_config_check(&c, err, sizeof err), -EINVAL);
	pn_agg_config_init(&c, 5, 10, PN_RULE_TRIMMED_MEAN);
	c.beta = 0.6;
	cr_expect_eq(pn_agg_config_check(&c, err, sizeof err), -EINVAL);
	pn_agg_config_init(&c, 5, 10, PN_RULE_FLAG);
	c.lambda = -1;
	cr_expect_eq(pn_agg_config_check(&c, err, sizeof err), -EINVAL);
	c.lambda = NAN;
	cr_expect_eq(pn_agg_config_check(&c, err, sizeof err), -EINVAL);
	cr_expect_null(pn_agg_begin(&c, NULL, err, sizeof err));
	cr_expect_eq(pn_rule_from_name("nope"), -1);
	cr_expect_eq(pn_rule_from_name("multi-krum"), PN_RULE_MULTI_KRUM);
}

Test(errors, wrong_sizes_and_double_landing_are_errors)
{
	pn_agg_config c;
	pn_agg_config_init(&c, 3, 5000, PN_RULE_MEAN);
	char err[256];
	pn_agg *a = pn_agg_begin(&c, NULL, err, sizeof err);
	cr_assert(a);
	float buf[5000] = {0};
	cr_expect_eq(pn_agg_feed(a, 3, 0, buf, 10), -EINVAL);
	cr_expect_eq(pn_agg_feed(a, -1, 0, buf, 10), -EINVAL);
	cr_expect_eq(pn_agg_feed(a, 0, 4990, buf, 11), -ERANGE);
	cr_expect(strstr(pn_agg_errmsg(a), "outside") != NULL, "%s", pn_agg_errmsg(a));
	cr_expect_eq(pn_agg_feed(a, 0, 0, buf, 0), -ERANGE);
	cr_expect_eq(pn_agg_feed(a, 0, 0, buf, 100), 0);
	cr_expect_eq(pn_agg_feed(a, 0, 50, buf, 100), -EEXIST, "overlap must be refused");
	cr_expect(strstr(pn_agg_errmsg(a), "twice") != NULL);
	pn_agg_free(a);
}

Test(errors, too_few_workers_for_the_rule_is_a_clear_error)
{
	int p = 5;
	size_t d = 100;
	float center[100];
	float *x = make_gradients(p, d, 1, 3, center), out[100];
	pn_agg_config c;
	pn_agg_config_init(&c, p, d, PN_RULE_BULYAN);
	c.f = 1;
	char err[256];
	cr_expect_eq(pn_aggregate(&c, x, out, NULL, NULL, err, sizeof err), -ENODATA);
	cr_expect(strstr(err, "4f+3") != NULL, "%s", err);
	free(x);
}

Test(errors, nonfinite_workers_are_excluded_and_reported)
{
	grad_set g;
	grad_set_make(&g, 9, 10000, 0.5, 17);
	/* rows 0 and 1 poisoned in different blocks */
	g.x[7000] = NAN;
	g.x[g.d + 123] = INFINITY;
	const pn_rule rules[] = {PN_RULE_MEAN, PN_RULE_MEDIAN, PN_RULE_PHOCAS, PN_RULE_KRUM,
				 PN_RULE_BULYAN, PN_RULE_GEOMED, PN_RULE_FLAG};
	for (size_t r = 0; r < sizeof rules / sizeof *rules; r++) {
		for (int threads = 1; threads <= 2; threads++) {
			/* r explicit: the default depends on p */
			pn_agg_config c = agg_config(g.p, g.d, rules[r], 1, 4, threads);
			pn_agg_report rep;
			char err[256];
			double w[9];
			cr_assert_eq(pn_aggregate(&c, g.x, g.out, &rep, w, err, sizeof err), 0, "%s: %s",
				     pn_rule_name(rules[r]), err);
			cr_expect_eq(rep.nonfinite, 2, "%s", pn_rule_name(rules[r]));
			cr_expect_eq(rep.used, g.p - 2);
			cr_expect_eq(w[0], 0.0);
			cr_expect_eq(w[1], 0.0);
			/* same as aggregating the clean rows only; the Gram rules' f drops by the
			 * two workers that left as non-finite (they were the faulty ones) */
			c.p = g.p - 2;
			if (rules[r] == PN_RULE_KRUM || rules[r] == PN_RULE_BULYAN)
				c.f = 0;
			cr_assert_eq(pn_aggregate(&c, g.x + 2 * g.d, g.ref, NULL, NULL, err, sizeof err), 0, "%s", err);
			for (size_t k = 0; k < g.d; k++)
				cr_assert(isfinite(g.out[k]), "%s: output[%zu] not finite", pn_rule_name(rules[r]), k);
			cr_expect_lt(max_rel_diff(g.out, g.ref, g.d), 1e-5, "%s threads=%d", pn_rule_name(rules[r]),
				     threads);
		}
	}
	grad_set_free(&g);
}

/* Bulyan at p = 4f + 3 with every attacker sending NaN: the attackers leave on their own,
 * so the rule runs on the rest with f = 0 instead of skipping the round. */
Test(errors, nonfinite_attackers_count_against_f_for_gram_rules)
{
	grad_set g;
	grad_set_make(&g, 15, 4000, 0.5, 29);
	for (int i = 0; i < 3; i++)
		g.x[(size_t)i * g.d + 100 * (size_t)i] = NAN;
	pn_agg_config c = agg_config(g.p, g.d, PN_RULE_BULYAN, 3, 4, 2);
	pn_agg_report rep;
	char err[256];
	cr_assert_eq(pn_aggregate(&c, g.x, g.out, &rep, NULL, err, sizeof err), 0, "%s", err);
	cr_expect_eq(rep.nonfinite, 3);
	c.p = g.p - 3;
	c.f = 0;
	cr_assert_eq(pn_aggregate(&c, g.x + 3 * g.d, g.ref, NULL, NULL, err, sizeof err), 0, "%s", err);
	cr_expect_lt(max_rel_diff(g.out, g.ref, g.d), 1e-5);
	/* two NaN attackers of f = 3: one may still hide among the 13 (4*1+3 <= 13) */
	grad_set_free(&g);
	grad_set_make(&g, 15, 4000, 0.5, 31);
	g.x[5] = NAN;
	g.x[g.d + 7] = INFINITY;
	c = agg_config(g.p, g.d, PN_RULE_BULYAN, 3, 4, 2);
	cr_assert_eq(pn_aggregate(&c, g.x, g.out, &rep, NULL, err, sizeof err), 0, "%s", err);
	c.p = g.p - 2;
	c.f = 1;
	cr_assert_eq(pn_aggregate(&c, g.x + 2 * g.d, g.ref, NULL, NULL, err, sizeof err), 0, "%s", err);
	cr_expect_lt(max_rel_diff(g.out, g.ref, g.d), 1e-5);
	grad_set_free(&g);
}

Test(errors, all_workers_nonfinite_is_an_error_not_a_crash)
{
	float x[2 * 50];
	for (int i = 0; i < 100; i++)
		x[i] = NAN;
	float out[50];
	pn_agg_config c;
	pn_agg_config_init(&c, 2, 50, PN_RULE_FLAG);
	char err[256];
	cr_expect_eq(pn_aggregate(&c, x, out, NULL, NULL, err, sizeof err), -ENODATA);
	pn_agg_config_init(&c, 2, 50, PN_RULE_MEDIAN);
	cr_expect_eq(pn_aggregate(&c, x, out, NULL, NULL, err, sizeof err), -ENODATA);
}

/* ---- .npy ---- */

Test(npy, round_trip_and_versions)
{
	char path[] = "/tmp/pn-npy-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	float v[6] = {1, 2, 3, 4, 5, -6.5f};
	size_t shape[2] = {2, 3};
	char err[256];
	cr_assert_eq(pn_npy_write_f32(path, v, shape, 2, err, sizeof err), 0, "%s", err);
	float *r;
	size_t sh[PN_NPY_MAX_DIMS];
	int nd;
	cr_assert_eq(pn_npy_read_f32(path, &r, sh, &nd, err, sizeof err), 0, "%s", err);
	cr_expect_eq(nd, 2);
	cr_expect_eq(sh[0], 2);
	cr_expect_eq(sh[1], 3);
	cr_expect_arr_eq(r, v, sizeof v);
	free(r);
	unsigned char img[256];
	size_t n = npy_image(img, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", v, 24, 2);
	cr_assert_eq(pn_npy_parse_f32(img, n, &r, sh, &nd, err, sizeof err), 0, "%s", err);
	cr_expect_eq(nd, 1);
	free(r);
	close(fd);
	unlink(path);
}

Test(npy, malformed_files_are_rejected_clearly)
{
	float v[6] = {0};
	unsigned char img[512];
	float *r;
	size_t sh[PN_NPY_MAX_DIMS];
	int nd;
	char err[256];
	for (size_t k = 0; k < npy_bad_case_count; k++) {
		const struct npy_bad_case *c = &npy_bad_cases[k];
		size_t n = npy_image(img, c->dict, v, c->dlen, 1);
		err[0] = 0;
		cr_expect_neq(pn_npy_parse_f32(img, n, &r, sh, &nd, err, sizeof err), 0, "case %zu", k);
		cr_expect(strstr(err, c->expect) != NULL, "case %zu: '%s' lacks '%s'", k, err,
			  c->expect);
	}
	cr_expect_neq(pn_npy_parse_f32((const unsigned char *)"garbage!!!!!", 12, &r, sh, &nd, err,
				       sizeof err), 0);
	cr_expect(strstr(err, "magic") != NULL);
	/* header length beyond the file */
	size_t n = npy_image(img, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", v, 24, 1);
	img[9] = 0x7f;
	cr_expect_neq(pn_npy_parse_f32(img, n, &r, sh, &nd, err, sizeof err), 0);
	cr_expect(strstr(err, "truncated") != NULL, "%s", err);
	cr_expect_neq(pn_npy_read_f32("/nonexistent/x.npy", &r, sh, &nd, err, sizeof err), 0);
	cr_expect(strstr(err, "No such file") != NULL, "%s", err);
}
