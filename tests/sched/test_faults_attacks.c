/* The attack suite of the fault injection: names, the single-gradient attacks and the
 * colluding ones (ALIE, IPM, mimic) against hand-computed values. */
#include "job/faults.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

static const char *const all[] = { "none", "uniform", "reverse", "scaled", "signflip", "labelflip",
				   "nan", "gaussian", "alie", "ipm", "mimic" };

Test(attacks, names_round_trip)
{
	for (int b = 0; b < (int)(sizeof all / sizeof *all); b++) {
		cr_assert_eq(pn_byzantine_from_name(all[b]), b, "%s", all[b]);
		cr_assert_str_eq(pn_byzantine_name((pn_byzantine)b), all[b]);
	}
	cr_assert_eq(pn_byzantine_from_name("nope"), -1);
	cr_assert(pn_byzantine_needs_honest(PN_BYZ_ALIE) && pn_byzantine_needs_honest(PN_BYZ_IPM) &&
		  pn_byzantine_needs_honest(PN_BYZ_MIMIC));
	cr_assert_not(pn_byzantine_needs_honest(PN_BYZ_GAUSSIAN));
	cr_assert_not(pn_byzantine_needs_honest(PN_BYZ_SIGNFLIP));
}

Test(attacks, alie_z_matches_the_paper)
{
	/* n = 15, f = 3: s = 8 − 3 = 5, z = Φ⁻¹(10/15) = 0.430727... */
	cr_assert_float_eq(pn_alie_z(15, 3), 0.4307272992954576, 1e-9);
	/* n = 50, f = 12 (the paper's example): s = 14, z = Φ⁻¹(36/50) = 0.5828415... */
	cr_assert_float_eq(pn_alie_z(50, 12), 0.5828415072712162, 1e-9);
	cr_assert_eq(pn_alie_z(4, 3), 0.0);
}

Test(attacks, colluding_attacks_from_honest_samples)
{
	float h0[3] = { 1, 2, 3 }, h1[3] = { 3, 2, 1 }, h2[3] = { 2, 2, 5 };
	const float *h[3] = { h0, h1, h2 };
	pn_faults f = { .byzantine = PN_BYZ_ALIE };
	pn_fault_state st;
	pn_faults_init_state(&st, &f);
	float g[3] = { 9, 9, 9 };
	cr_assert_eq(pn_faults_corrupt_colluding(&f, &st, g, 3, h, 3, 15, 3), 0);
	double z = pn_alie_z(15, 3);
	/* coordinate 0: mean 2, sample std 1; coordinate 1: std 0; coordinate 2: mean 3, std 2 */
	cr_assert_float_eq(g[0], 2 - z * 1, 1e-5);
	cr_assert_float_eq(g[1], 2, 1e-6);
	cr_assert_float_eq(g[2], 3 - z * 2, 1e-5);
	f.byzantine = PN_BYZ_IPM;
	cr_assert_eq(pn_faults_corrupt_colluding(&f, &st, g, 3, h, 3, 15, 3), 0);
	cr_assert_float_eq(g[0], -0.2, 1e-6);
	cr_assert_float_eq(g[2], -0.3, 1e-6);
	f.byzantine = PN_BYZ_MIMIC;
	cr_assert_eq(pn_faults_corrupt_colluding(&f, &st, g, 3, h, 3, 15, 3), 0);
	cr_assert_eq(memcmp(g, h0, sizeof g), 0);
	cr_assert_eq(pn_faults_corrupt_colluding(&f, &st, g, 3, NULL, 0, 15, 3), -EINVAL);
	/* Without honest samples the single-gradient entry point leaves g alone (and warns). */
	float before[3] = { 4, 5, 6 }, same[3] = { 4, 5, 6 };
	f.byzantine = PN_BYZ_ALIE;
	pn_faults_corrupt(&f, &st, same, 3);
	cr_assert_eq(memcmp(before, same, sizeof same), 0);
	/* A single-gradient attack goes through the colluding entry point unchanged. */
	f.byzantine = PN_BYZ_SIGNFLIP;
	cr_assert_eq(pn_faults_corrupt_colluding(&f, &st, same, 3, NULL, 0, 15, 3), 0);
	cr_assert_float_eq(same[0], -4, 1e-6);
}

Test(attacks, gaussian_noise_has_unit_variance)
{
	enum { D = 200000 };
	static float g[D];
	pn_faults f = { .byzantine = PN_BYZ_GAUSSIAN, .seed = 3 };
	pn_fault_state st;
	pn_faults_init_state(&st, &f);
	for (int k = 0; k < D; k++)
		g[k] = 5;
	pn_faults_corrupt(&f, &st, g, D);
	double m = 0, v = 0;
	for (int k = 0; k < D; k++)
		m += g[k];
	m /= D;
	for (int k = 0; k < D; k++)
		v += (g[k] - m) * (g[k] - m);
	v /= D - 1;
	cr_assert_float_eq(m, 5, 0.02);
	cr_assert_float_eq(v, 1, 0.02);
}

/* Partition j's gradient is the constant j+1 times the coefficient. */
static int fake_compute(void *ctx, uint64_t round, const float *model, const int *parts, const double *coefs,
			int nparts, float *out, double *loss)
{
	(void)ctx, (void)round, (void)model;
	size_t d = 4;
	for (size_t k = 0; k < d; k++) {
		double v = 0;
		for (int p = 0; p < nparts; p++)
			v += coefs[p] * (parts[p] + 1);
		out[k] = (float)v;
	}
	*loss = 0;
	return 0;
}

Test(attacks, job_side_computes_honest_samples)
{
	pn_grad_source src = { .ctx = NULL, .d = 4, .compute = fake_compute };
	pn_faults f = { .byzantine = PN_BYZ_IPM };
	pn_fault_state st;
	pn_faults_init_state(&st, &f);
	float g[4] = { 0 }, model[4] = { 0 };
	double coefs[1] = { 1 };
	/* n = 5 partitions: honest gradients 1..5, mean 3 -> IPM sends -0.3. */
	cr_assert_eq(pn_faults_corrupt_job(&f, &st, g, 4, &src, 0, model, coefs, 1, 5, 1), 0);
	for (int k = 0; k < 4; k++)
		cr_assert_float_eq(g[k], -0.3, 1e-6);
	/* A worker whose row sums to 3 (fractional, s = 2) is scaled like its coded gradient. */
	double c3[3] = { 1, 1, 1 };
	f.byzantine = PN_BYZ_MIMIC;
	cr_assert_eq(pn_faults_corrupt_job(&f, &st, g, 4, &src, 0, model, c3, 3, 5, 1), 0);
	cr_assert_float_eq(g[0], 3.0, 1e-6); /* partition 0's gradient (1) × 3 */
}
