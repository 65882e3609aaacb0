/* Approximate codes (expander, BIBD): the least-squares residual stays within the bound
 * the spectral construction promises, and σ₂ is what the construction claims. */
#include "code_helpers.h"
#include "sched/lsq.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static pn_code *make(pn_code_kind kind, int n, int s, uint64_t seed)
{
	pn_code_params p;
	pn_code_params_init(&p, kind, n, s);
	p.seed = seed;
	pn_code *c = NULL;
	char err[256] = "";
	cr_assert_eq(pn_code_create(&p, &c, err, sizeof err), 0, "%s n=%d s=%d: %s", pn_code_kind_name(kind),
		     n, s, err);
	return c;
}

/* Second largest singular value of B from LAPACK, independent of the construction. */
static double lapack_sigma2(const pn_code *c)
{
	int n = pn_code_n(c);
	double sv[128];
	cr_assert_eq(pn_singular_values(n, n, pn_code_matrix(c), sv), 0);
	return n > 1 ? sv[1] : 0;
}

static void check_bound(pn_code *c, pn_rng *rng, int reps)
{
	int n = pn_code_n(c), s = pn_code_s(c);
	bool f[128];
	double a[128], uni[128];
	/* Constant row and column sums d = s+1: the bound's premise. */
	const double *B = pn_code_matrix(c);
	for (int i = 0; i < n; i++) {
		double row = 0, col = 0;
		for (int j = 0; j < n; j++) {
			row += B[i * n + j];
			col += B[j * n + i];
		}
		cr_assert_float_eq(row, s + 1, 1e-12);
		cr_assert_float_eq(col, s + 1, 1e-12);
	}
	for (int rep = 0; rep < reps; rep++) {
		/* Finished sets from n−s down to about half the workers. */
		int k = n - s - (int)pn_rng_below(rng, (uint64_t)(n / 2 - s > 0 ? n / 2 - s + 1 : 1));
		if (k < 1)
			k = 1;
		for (int i = 0; i < n; i++)
			f[i] = false;
		for (int m = 0; m < k;) {
			int i = (int)pn_rng_below(rng, (uint64_t)n);
			if (!f[i]) {
				f[i] = true;
				m++;
			}
		}
		cr_assert_eq(pn_code_ready(c, f), k >= n - s);
		pn_decode_info info;
		cr_assert_eq(pn_code_decode(c, f, a, &info), 0);
		cr_assert_gt(info.bound, 0);
		/* The solver's residual is real: recompute it. */
		cr_assert_float_eq(info.residual, residual_of(c, f, a), 1e-9);
		/* The uniform decode obeys the spectral bound, and least squares is no worse. */
		for (int i = 0; i < n; i++)
			uni[i] = f[i] ? (double)n / ((s + 1.0) * k) : 0;
		double ru = residual_of(c, f, uni);
		cr_assert_leq(ru, info.bound + 1e-9, "%s k=%d: uniform residual %g > bound %g",
			      pn_code_describe(c), k, ru, info.bound);
		cr_assert_leq(info.residual, ru + 1e-9, "%s k=%d: LS %g worse than uniform %g",
			      pn_code_describe(c), k, info.residual, ru);
	}
}

Test(codes_approx, expander_residual_within_spectral_bound)
{
	static const int ns[] = { 8, 12, 16, 24, 32, 48, 64 };
	static const int ss[] = { 1, 2, 3, 4 };
	pn_rng rng;
	pn_rng_seed(&rng, 21);
	for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++)
		for (size_t u = 0; u < sizeof ss / sizeof ss[0]; u++) {
			pn_code *c = make(PN_CODE_EXPANDER, ns[t], ss[u], 7 + t);
			cr_assert_float_eq(pn_code_sigma2(c), lapack_sigma2(c), 1e-9, "%s: σ₂ %g vs LAPACK %g",
					   pn_code_describe(c), pn_code_sigma2(c), lapack_sigma2(c));
			/* A good expander: strictly below the trivial σ₂ = d. */
			cr_assert_lt(pn_code_sigma2(c), ss[u] + 1.0 - 1e-6);
			check_bound(c, &rng, 40);
			pn_code_free(c);
		}
}

Test(codes_approx, bibd_sigma2_is_sqrt_k_minus_lambda)
{
	static const struct {
		int n, s;
		double lambda;
	} designs[] = {
		{ 7, 2, 1 }, { 13, 3, 1 }, { 21, 4, 1 }, { 31, 5, 1 }, { 57, 7, 1 }, { 73, 8, 1 },
		{ 11, 4, 2 }, { 19, 8, 4 }, { 23, 10, 5 },
	};
	pn_rng rng;
	pn_rng_seed(&rng, 22);
	for (size_t t = 0; t < sizeof designs / sizeof designs[0]; t++) {
		pn_code *c = make(PN_CODE_BIBD, designs[t].n, designs[t].s, 1);
		double expect = sqrt(designs[t].s + 1 - designs[t].lambda);
		cr_assert_float_eq(pn_code_sigma2(c), expect, 1e-12);
		cr_assert_float_eq(lapack_sigma2(c), expect, 1e-9, "%s", pn_code_describe(c));
		check_bound(c, &rng, 30);
		pn_code_free(c);
	}
}

Test(codes_approx, more_finished_workers_never_hurt)
{
	pn_code *c = make(PN_CODE_EXPANDER, 32, 3, 5);
	bool f[32] = { false };
	double a[32];
	double prev = INFINITY;
	for (int k = 1; k <= 32; k++) {
		f[(k * 7) % 32] = true; /* grow the set one worker at a time */
		pn_decode_info info;
		cr_assert_eq(pn_code_decode(c, f, a, &info), 0);
		cr_assert_leq(info.residual, prev + 1e-9, "k=%d residual %g grew from %g", k, info.residual, prev);
		prev = info.residual;
	}
	cr_assert_lt(prev, 1e-9, "all workers finished: exact (B is invertible here)");
	pn_code_free(c);
}

Test(codes_approx, uncoded_ignore_stragglers_residual)
{
	pn_code *c = make(PN_CODE_UNCODED, 10, 0, 1);
	bool f[10];
	double a[10];
	for (int i = 0; i < 10; i++)
		f[i] = i < 7;
	pn_decode_info info;
	cr_assert_eq(pn_code_decode(c, f, a, &info), 0);
	cr_assert_float_eq(info.residual, sqrt(3.0), 1e-12); /* three partitions missing */
	for (int i = 0; i < 7; i++)
		cr_assert_float_eq(a[i], 1.0, 1e-12);
	cr_assert_not(info.exact);
	cr_assert_not(pn_code_ready(c, f));
	pn_code_free(c);
}

Test(codes_approx, expander_is_deterministic_per_seed)
{
	pn_code *c1 = make(PN_CODE_EXPANDER, 24, 2, 99);
	pn_code *c2 = make(PN_CODE_EXPANDER, 24, 2, 99);
	cr_assert_eq(memcmp(pn_code_matrix(c1), pn_code_matrix(c2), sizeof(double) * 24 * 24), 0);
	pn_code_free(c1);
	pn_code_free(c2);
}
