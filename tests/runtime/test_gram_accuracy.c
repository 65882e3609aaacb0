/* Every Gram kernel variant this CPU runs, against a long-double reference: the error
 * bound stated in gram_kernel_f32.c (float32 products) or the float64 bound (exact
 * products, float64 sums), on random rows, identical rows (Krum's distance exactly 0)
 * and nearly identical rows (where G_ii + G_jj - 2 G_ij cancels), and extreme
 * magnitudes (which the float32 path must hand to a float64 kernel). */
#include "agg/agg_internal.h"
#include "agg/gram_variants.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define P 13
#define D (3 * PN_AGG_BLOCK + 77)

static const char *const kernels[] = {"avx2-f32", "avx512-tri", "avx512", "avx2-3x4", "avx2", "generic"};

/* The engine's way: blocks of PN_AGG_BLOCK into one float64 G (upper triangle). */
static void gram(const float *x, int p, size_t d, double *G)
{
	memset(G, 0, sizeof(double) * (size_t)p * p);
	const float *rows[64];
	for (size_t b = 0; b < d; b += PN_AGG_BLOCK) {
		for (int i = 0; i < p; i++)
			rows[i] = x + (size_t)i * d + b;
		pn_gram_block(rows, p, d - b < PN_AGG_BLOCK ? d - b : PN_AGG_BLOCK, G);
	}
}

static double bound_for(const char *kernel, size_t d)
{
	/* float32 chains: 3.9e-6 (gram_kernel_f32.c); float64: γ_d with u = 2^-53 */
	return strcmp(kernel, "avx2-f32") == 0 ? 3.9e-6 : (double)d * 0x1p-53 * 1.01;
}

static void check_against_long_double(const char *kernel, const float *x, int p, size_t d)
{
	double *G = malloc(sizeof(double) * (size_t)p * p);
	gram(x, p, d, G);
	double bound = bound_for(kernel, d);
	for (int i = 0; i < p; i++)
		for (int j = i; j < p; j++) {
			long double e = 0, a = 0;
			for (size_t c = 0; c < d; c++) {
				long double t = (long double)x[(size_t)i * d + c] * x[(size_t)j * d + c];
				e += t;
				a += fabsl(t);
			}
			double err = fabs((double)((long double)G[i * p + j] - e));
			cr_expect_leq(err, bound * (double)a + (double)d * 0x1p-149,
				      "%s G[%d][%d]: error %g, bound %g·%Lg", kernel, i, j, err, bound, a);
		}
	free(G);
}

Test(gram_accuracy, random_rows_within_the_stated_bound)
{
	float *center = malloc(sizeof(float) * D);
	float *x = make_gradients(P, D, 1.0, 17, center);
	for (size_t q = 0; q < sizeof kernels / sizeof *kernels; q++) {
		if (pn_gram_use_kernel(kernels[q]) != 0)
			continue; /* not on this CPU */
		check_against_long_double(kernels[q], x, P, D);
	}
	free(center), free(x);
}

Test(gram_accuracy, identical_and_nearly_identical_rows)
{
	float *center = malloc(sizeof(float) * D);
	float *x = make_gradients(P, D, 0.5, 23, center);
	/* rows 1 and 2 equal row 0; row 3 is row 0 with a relative change of 1e-4 on every
	 * 10th coordinate */
	for (int r = 1; r <= 3; r++)
		memcpy(x + (size_t)r * D, x, sizeof(float) * D);
	for (size_t c = 0; c < D; c += 10)
		x[3 * (size_t)D + c] *= 1.0f + 1e-4f;
	double *G = malloc(sizeof(double) * P * P);
	for (size_t q = 0; q < sizeof kernels / sizeof *kernels; q++) {
		if (pn_gram_use_kernel(kernels[q]) != 0)
			continue;
		gram(x, P, D, G);
		for (int j = 1; j <= 2; j++) {
			double dist = G[0] + G[j * P + j] - 2 * G[j];
			cr_expect_eq(dist, 0.0, "%s: distance of identical rows 0 and %d is %g", kernels[q], j, dist);
			cr_expect_eq(G[0], G[j * P + j], "%s", kernels[q]);
		}
		long double dref = 0, scale = 0;
		for (size_t c = 0; c < D; c++) {
			long double a = x[c], b = x[3 * (size_t)D + c];
			dref += (a - b) * (a - b);
			scale += a * a + b * b + 2 * fabsl(a * b);
		}
		double dist = G[0] + G[3 * P + 3] - 2 * G[3];
		double err = fabs((double)((long double)dist - dref));
		/* the bound of each entry, summed over the three entries of the distance */
		double bound = bound_for(kernels[q], D) * (double)scale;
		cr_expect_leq(err, bound, "%s: near-identical distance %g vs %Lg (error %g, bound %g)",
			      kernels[q], dist, dref, err, bound);
	}
	free(G), free(center), free(x);
}

Test(gram_accuracy, extreme_magnitudes_go_to_float64)
{
	if (pn_gram_use_kernel("avx2-f32") != 0)
		return; /* no float32 path on this CPU: nothing to hand over */
	float *x = malloc(sizeof(float) * 3 * D);
	uint64_t s = 5;
	for (size_t c = 0; c < D; c++) {
		x[c] = (float)rng_normal(&s) * 1e30f;           /* squares overflow float32 */
		x[D + c] = (float)rng_normal(&s) * 1e-41f;      /* subnormal */
		x[2 * (size_t)D + c] = (float)rng_normal(&s);
	}
	double G[9];
	gram(x, 3, D, G);
	for (int i = 0; i < 3; i++) {
		cr_expect(isfinite(G[i * 3 + i]) && G[i * 3 + i] > 0, "G[%d][%d] = %g", i, i, G[i * 3 + i]);
	}
	check_against_long_double("generic", x, 3, D); /* the float64 bound holds */
	free(x);
}

/* Every row count from 1 to 34 (each tile shape, its padding rows), rows missing from
 * the block (NULL: not in this round), and lengths that are not whole vectors or whole
 * slices, for every variant this CPU runs: entries of present rows within the bound,
 * entries of missing rows untouched. */
Test(gram_accuracy, every_row_count_missing_rows_and_ragged_lengths)
{
	enum { PMAX = 34 };
	static const size_t lens[] = {1, 7, 13, 300, PN_AGG_BLOCK - 3};
	float *center = malloc(sizeof(float) * PN_AGG_BLOCK);
	float *x = make_gradients(PMAX, PN_AGG_BLOCK, 1.0, 41, center);
	double *G = malloc(sizeof(double) * PMAX * PMAX);
	const float *rows[PMAX];
	for (size_t q = 0; q < sizeof kernels / sizeof *kernels; q++) {
		if (pn_gram_use_kernel(kernels[q]) != 0)
			continue; /* not on this CPU ("generic" always is) */
		for (int p = 1; p <= PMAX; p++)
			for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
				size_t n = lens[li];
				for (int i = 0; i < p; i++)
					rows[i] = i % 7 == 3 ? NULL : x + (size_t)i * PN_AGG_BLOCK;
				for (int e = 0; e < p * p; e++)
					G[e] = 0.0;
				pn_gram_block(rows, p, n, G);
				double bound = bound_for(kernels[q], n);
				for (int i = 0; i < p; i++)
					for (int j = i; j < p; j++) {
						double got = G[i * p + j];
						if (!rows[i] || !rows[j]) {
							cr_expect_eq(got, 0.0, "%s p=%d n=%zu: G[%d][%d] of a missing row written",
								     kernels[q], p, n, i, j);
							continue;
						}
						long double e = 0, a = 0;
						for (size_t c = 0; c < n; c++) {
							long double t = (long double)rows[i][c] * rows[j][c];
							e += t, a += fabsl(t);
						}
						double err = fabs((double)((long double)got - e));
						cr_expect_leq(err, bound * (double)a + (double)n * 0x1p-149,
							      "%s p=%d n=%zu G[%d][%d]: error %g", kernels[q], p, n, i, j, err);
					}
			}
	}
	free(G), free(x), free(center);
}
