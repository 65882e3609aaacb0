/* Robustness: p = 15 workers, f = 3 attackers. Robust rules stay close to the honest
 * mean; the plain mean does not. Flag's output has its own scale (a sum of unit
 * vectors projected on the subspace, divided by r), so it is judged by direction. */
#include "helpers.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#define P 15
#define F 3
#define D 20000

enum attack { UNIFORM, REVERSE, HUGE };
static const char *const attack_name[] = {"uniform[0,1)", "reverse -10g", "huge norm"};

static float *attacked(enum attack at, float *honest_mean)
{
	float center[D];
	float *x = make_gradients(P, D, 0.05, 2024, center);
	uint64_t s = 99;
	for (int i = 0; i < F; i++)
		for (size_t c = 0; c < D; c++) {
			float *v = &x[(size_t)i * D + c];
			switch (at) {
			case UNIFORM: *v = (float)rng_uniform(&s); break;
			case REVERSE: *v = -10.0f * *v; break;
			case HUGE: *v = (float)(1e6 * rng_normal(&s)); break;
			}
		}
	for (size_t c = 0; c < D; c++) {
		double m = 0;
		for (int i = F; i < P; i++)
			m += x[(size_t)i * D + c];
		honest_mean[c] = (float)(m / (P - F));
	}
	return x;
}

static void aggregate(pn_rule rule, const float *x, float *out)
{
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, P, D, rule);
	cfg.f = F;
	cfg.r = 8;
	char err[256];
	cr_assert_eq(pn_aggregate(&cfg, x, out, NULL, NULL, err, sizeof err), 0, "%s: %s",
		     pn_rule_name(rule), err);
}

Test(robust, robust_rules_resist_attacks_mean_does_not)
{
	static float hm[D], out[D];
	const pn_rule robust[] = {PN_RULE_MEDIAN, PN_RULE_TRIMMED_MEAN, PN_RULE_MEAMED, PN_RULE_PHOCAS,
				  PN_RULE_KRUM, PN_RULE_MULTI_KRUM, PN_RULE_BULYAN, PN_RULE_GEOMED};
	for (int at = UNIFORM; at <= HUGE; at++) {
		float *x = attacked((enum attack)at, hm);
		for (size_t r = 0; r < sizeof robust / sizeof *robust; r++) {
			aggregate(robust[r], x, out);
			double e = rel_err(out, hm, D);
			cr_expect_lt(e, 0.1, "%s under %s: relative error %g", pn_rule_name(robust[r]),
				     attack_name[at], e);
		}
		aggregate(PN_RULE_FLAG, x, out);
		double c = cosine(out, hm, D);
		cr_expect_gt(c, 0.95, "flag under %s: cosine %g", attack_name[at], c);

		aggregate(PN_RULE_MEAN, x, out);
		double e = rel_err(out, hm, D);
		cr_expect_gt(e, 0.2, "mean under %s should be pulled away, rel err %g", attack_name[at], e);
		free(x);
	}
}

Test(robust, flag_weights_rank_attackers_last)
{
	static float hm[D], out[D];
	float *x = attacked(UNIFORM, hm);
	pn_agg_config cfg = agg_config(P, D, PN_RULE_FLAG, 0, 2, 0);
	cfg.flag_mode = PN_FLAG_CONVERGED;
	float *rows[P];
	for (int i = 0; i < P; i++)
		rows[i] = x + (size_t)i * D;
	char err[256];
	pn_agg *a = pn_agg_begin(&cfg, rows, err, sizeof err);
	cr_assert(a);
	for (int i = 0; i < P; i++)
		pn_agg_landed(a, i, 0, D);
	cr_assert_eq(pn_agg_finish(a, out), 0, "%s", pn_agg_errmsg(a));
	const double *sc = pn_agg_scores(a);
	double worst_honest = -1;
	for (int i = F; i < P; i++)
		worst_honest = fmax(worst_honest, sc[i]);
	/* the honest cluster is explained by the subspace better than any attacker */
	for (int i = 0; i < F; i++)
		cr_expect_gt(sc[i], worst_honest, "attacker %d score %g <= honest %g", i, sc[i], worst_honest);
	pn_agg_free(a);
	free(x);
}
