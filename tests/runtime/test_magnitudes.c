/* Finite inputs of any magnitude give a finite output or a clear error, for every rule:
 * a subnormal row, an all-zero row, tiny (1e-30) rows, huge (1e30, 1e38) rows, mixed
 * magnitudes. Run with the job's settings (Flag rescaled to the median norm) and
 * without. A non-finite output is never handed back: finish returns -EDOM. */
#include "helpers.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P 8
#define D 16

Test(magnitudes, every_rule_is_finite_or_a_clear_error)
{
	float x[P * D], out[D];
	for (int s = 0; s < MAGNITUDE_CASES; s++) {
		magnitude_case(s, P, D, x);
		for (int rule = 0; rule < PN_RULE_COUNT_; rule++) {
			for (int rescale = 0; rescale <= 1; rescale++) {
				pn_agg_config cfg;
				pn_agg_config_init(&cfg, P, D, (pn_rule)rule);
				cfg.f = 1;
				cfg.flag_rescale = rescale;
				cfg.threads = 1 + rescale;
				char err[256] = "";
				pn_agg_report rep;
				memset(&rep, 0, sizeof rep);
				int rc;
				if (rule == PN_RULE_WEIGHTED) {
					pn_agg *a = pn_agg_begin(&cfg, NULL, err, sizeof err);
					cr_assert(a, "%s", err);
					double w[P];
					for (int i = 0; i < P; i++)
						w[i] = 1.0 / P;
					pn_agg_set_weights(a, w);
					for (int i = 0; i < P; i++)
						pn_agg_feed(a, i, 0, x + i * D, D);
					rc = pn_agg_finish(a, out);
					snprintf(err, sizeof err, "%s", pn_agg_errmsg(a));
					pn_agg_get_report(a, &rep);
					pn_agg_free(a);
				} else {
					rc = pn_aggregate(&cfg, x, out, &rep, NULL, err, sizeof err);
				}
				const char *rn = pn_rule_name((pn_rule)rule);
				if (rc == 0) {
					for (int c = 0; c < D; c++)
						cr_assert(isfinite(out[c]), "%s, %s, rescale=%d: output[%d] = %g",
							  rn, magnitude_case_name[s], rescale, c, out[c]);
					cr_expect_eq(rep.output_nonfinite, 0);
				} else {
					cr_expect(rc == -EDOM || rc == -ENODATA, "%s, %s: rc %d", rn, magnitude_case_name[s], rc);
					cr_expect(err[0] != 0, "%s, %s: error without a message", rn, magnitude_case_name[s]);
					if (rc == -EDOM)
						cr_expect_eq(rep.output_nonfinite, 1);
				}
				/* these inputs are all legitimate: only the 1e38 case may overflow */
				if (s != MAG_HUGEST_ROWS)
					cr_expect_eq(rc, 0, "%s, %s, rescale=%d: %s", rn, magnitude_case_name[s], rescale, err);
			}
		}
	}
}

/* Flag looks only at directions: row 0 = 1e-44·(1,…,1) gives the same output as
 * row 0 = (1,…,1), and a zero row gets weight 0 and is reported as degenerate. */
Test(magnitudes, flag_is_scale_invariant_down_to_subnormals)
{
	float x[P * D], y[P * D], out[D], ref[D];
	magnitude_case(MAG_SUBNORMAL_ROW, P, D, x);
	memcpy(y, x, sizeof x);
	for (int c = 0; c < D; c++)
		y[c] = 1.0f;
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, P, D, PN_RULE_FLAG);
	char err[256];
	double w[P];
	cr_assert_eq(pn_aggregate(&cfg, x, out, NULL, w, err, sizeof err), 0, "%s", err);
	cr_assert_eq(pn_aggregate(&cfg, y, ref, NULL, NULL, err, sizeof err), 0, "%s", err);
	cr_expect_lt(max_rel_diff(out, ref, D), 1e-4, "subnormal row changes Flag's output");
	cr_expect(w[0] > 1e38, "row 0's coefficient %g is beyond float32, applied in float64", w[0]);

	magnitude_case(MAG_ZERO_ROW, P, D, x);
	pn_agg_report rep;
	cr_assert_eq(pn_aggregate(&cfg, x, out, &rep, w, err, sizeof err), 0, "%s", err);
	cr_expect_eq(w[0], 0.0);
	cr_expect_eq(rep.degenerate, 1);
	cr_expect_eq(rep.used, P);
}

static int pieces_seen;
static void no_nonfinite_piece(void *ctx, size_t off, const float *out, size_t len)
{
	(void)ctx, (void)off;
	for (size_t k = 0; k < len; k++)
		cr_assert(isfinite(out[k]), "consumer got a non-finite piece");
	pieces_seen++;
}

Test(magnitudes, overflowing_output_is_refused_not_returned)
{
	static float x[4 * 300000], out[300000];
	size_t d = 300000;
	for (size_t k = 0; k < 4 * d; k++)
		x[k] = 3e38f;
	for (int threads = 1; threads <= 2; threads++) {
		pn_agg_config cfg;
		pn_agg_config_init(&cfg, 4, d, PN_RULE_WEIGHTED);
		cfg.threads = threads;
		char err[256];
		pn_agg *a = pn_agg_begin(&cfg, NULL, err, sizeof err);
		cr_assert(a);
		double w[4] = {1, 1, 1, 1}; /* 1.2e39: beyond float32 */
		pn_agg_set_weights(a, w);
		pn_agg_set_consumer(a, no_nonfinite_piece, NULL);
		for (int i = 0; i < 4; i++)
			pn_agg_feed(a, i, 0, x + i * d, d);
		cr_expect_eq(pn_agg_finish(a, out), -EDOM);
		cr_expect(strstr(pn_agg_errmsg(a), "not finite") != NULL, "%s", pn_agg_errmsg(a));
		pn_agg_report rep;
		pn_agg_get_report(a, &rep);
		cr_expect_eq(rep.output_nonfinite, 1);
		pn_agg_free(a);
	}
	/* Flag at 1e38 is fine: its output is a direction rescaled to the median norm */
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, 4, d, PN_RULE_FLAG);
	cfg.flag_rescale = 1;
	char err[256];
	cr_expect_eq(pn_aggregate(&cfg, x, out, NULL, NULL, err, sizeof err), 0, "%s", err);
}
