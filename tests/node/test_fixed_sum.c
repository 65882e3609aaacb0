/* The node's block fixed-point sum (node/fixed_sum.h) against a long double reference:
 * the stated bound per coordinate, magnitudes that force rescales, NaN and zero blocks,
 * pieces that cut blocks, and order independence when no block rescales. */
#include "node/fixed_sum.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#define D 1000 /* 3 whole blocks and a partial one */
#define K 6

static float x[K][D];

static void fill(unsigned seed, double spread)
{
	srand(seed);
	for (int k = 0; k < K; k++)
		for (int i = 0; i < D; i++) {
			double u = (double)rand() / RAND_MAX - 0.5;
			/* addend k is scaled by spread^k: later addends are larger, so blocks rescale */
			x[k][i] = (float)(u * pow(spread, k) * (1 + i % 7));
		}
}

/* |fixed − exact| ≤ (addends + rescales) · step / 2, step ≤ 2^a · 2 · blockmax · 2^-30
 * (addends < 2^a), and a block rescales at most addends − 1 times per piece split. */
static void expect_bound(const pn_fixed_sum *s, const float *got, int pieces)
{
	int a;
	(void)frexp((double)K, &a);
	for (size_t b = 0; b < s->nblocks; b++) {
		size_t lo = b * PN_FIXED_BLOCK, hi = lo + PN_FIXED_BLOCK < D ? lo + PN_FIXED_BLOCK : D;
		long double blockmax = 0;
		for (int k = 0; k < K; k++)
			for (size_t i = lo; i < hi; i++)
				blockmax = fabsl((long double)x[k][i]) > blockmax ? fabsl((long double)x[k][i]) : blockmax;
		long double step = ldexpl(2 * blockmax, a - 30);
		long double bound = (K + K * pieces) * step / 2 + 1e-7L * blockmax * K; /* + float32 output rounding */
		for (size_t i = lo; i < hi; i++) {
			long double exact = 0;
			for (int k = 0; k < K; k++)
				exact += x[k][i];
			cr_assert_leq(fabsl((long double)got[i] - exact), bound, "coordinate %zu: %g vs %Lg (bound %Lg)",
				      i, got[i], exact, bound);
		}
	}
}

Test(fixed_sum, within_the_bound_with_rescales)
{
	fill(1, 4.0);
	pn_fixed_sum s;
	cr_assert_eq(pn_fixed_init(&s, D, K), 0);
	for (int k = 0; k < K; k++)
		pn_fixed_add(&s, 0, x[k], D);
	cr_expect_gt(s.rescales, 0, "growing addends moved the exponents down");
	static float got[D];
	pn_fixed_read(&s, got);
	expect_bound(&s, got, 1);
	/* the float32 comparison the node reports is small and not zero */
	static float fl[D];
	for (int i = 0; i < D; i++) {
		fl[i] = 0;
		for (int k = 0; k < K; k++)
			fl[i] += x[k][i];
	}
	double diff2 = 0, norm2 = 0;
	pn_fixed_read_over(&s, fl, &diff2, &norm2);
	cr_expect_gt(norm2, 0);
	cr_expect_lt(sqrt(diff2 / norm2), 1e-6, "relative error against float32 %g", sqrt(diff2 / norm2));
	for (int i = 0; i < D; i++)
		cr_assert_eq(fl[i], got[i], "read_over wrote the fixed-point sum");
	pn_fixed_free(&s);
}

Test(fixed_sum, pieces_that_cut_blocks_stay_within_the_bound)
{
	fill(2, 3.0);
	pn_fixed_sum s;
	cr_assert_eq(pn_fixed_init(&s, D, K), 0);
	for (int k = 0; k < K; k++) /* chunks of 100: blocks of 256 cut in up to 4 pieces */
		for (int off = 0; off < D; off += 100)
			pn_fixed_add(&s, (size_t)off, x[k] + off, 100);
	static float got[D];
	pn_fixed_read(&s, got);
	expect_bound(&s, got, 4);
	pn_fixed_free(&s);
}

Test(fixed_sum, integer_addition_is_order_independent_without_rescales)
{
	fill(3, 1.0);
	for (int i = 0; i < D; i++)
		x[0][i] = (float)(8 * (1 + i % 7)); /* the largest addend first fixes every exponent */
	pn_fixed_sum s, r;
	cr_assert_eq(pn_fixed_init(&s, D, K), 0);
	cr_assert_eq(pn_fixed_init(&r, D, K), 0);
	pn_fixed_add(&s, 0, x[0], D);
	pn_fixed_add(&r, 0, x[0], D);
	for (int k = 1; k < K; k++)
		pn_fixed_add(&s, 0, x[k], D);
	for (int k = K - 1; k >= 1; k--)
		pn_fixed_add(&r, 0, x[k], D);
	cr_expect_eq(s.rescales, 0);
	cr_expect_eq(r.rescales, 0);
	static float a[D], b[D];
	pn_fixed_read(&s, a);
	pn_fixed_read(&r, b);
	for (int i = 0; i < D; i++)
		cr_assert_eq(a[i], b[i], "coordinate %d: %g vs %g", i, a[i], b[i]);
	pn_fixed_free(&s);
	pn_fixed_free(&r);
}

Test(fixed_sum, nan_poisons_its_block_only_and_zero_blocks_read_zero)
{
	pn_fixed_sum s;
	cr_assert_eq(pn_fixed_init(&s, D, 2), 0);
	static float a[D], got[D];
	for (int i = 0; i < D; i++)
		a[i] = i < PN_FIXED_BLOCK ? 0.0f : 1.5f;
	a[300] = NAN;                        /* block 1 */
	pn_fixed_add(&s, 0, a, D);
	a[300] = 2.0f;
	a[900] = INFINITY;                   /* block 3 (partial) */
	pn_fixed_add(&s, 0, a, D);
	pn_fixed_read(&s, got);
	for (int i = 0; i < PN_FIXED_BLOCK; i++)
		cr_assert_eq(got[i], 0.0f, "block 0 took only zeros: %g at %d", got[i], i);
	for (int i = PN_FIXED_BLOCK; i < 2 * PN_FIXED_BLOCK; i++)
		cr_assert(isnan(got[i]), "block 1 took a NaN: %g at %d", got[i], i);
	for (int i = 2 * PN_FIXED_BLOCK; i < 3 * PN_FIXED_BLOCK; i++)
		cr_assert_eq(got[i], 3.0f, "block 2: 1.5 + 1.5 exactly, got %g at %d", got[i], i);
	for (int i = 3 * PN_FIXED_BLOCK; i < D; i++)
		cr_assert(isnan(got[i]), "block 3 took an Inf: %g at %d", got[i], i);
	pn_fixed_free(&s);
}
