/* Helpers for the gradient-code tests: synthetic partition gradients, coded sums and the
 * decoded estimate, all in float64. */
#ifndef PN_TEST_CODE_HELPERS_H
#define PN_TEST_CODE_HELPERS_H

#include "pennant/codes.h"
#include "sched/rng.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#define TEST_DIM 4

/* grads: n×TEST_DIM random partition gradients. sum: their sum. coded: c_i = Σ B[i,j] g_j. */
static inline void make_coded(const pn_code *c, pn_rng *rng, double *grads, double *sum, double *coded)
{
	int n = pn_code_n(c);
	const double *B = pn_code_matrix(c);
	for (int t = 0; t < TEST_DIM; t++)
		sum[t] = 0;
	for (int j = 0; j < n; j++)
		for (int t = 0; t < TEST_DIM; t++) {
			grads[j * TEST_DIM + t] = pn_rng_gauss(rng);
			sum[t] += grads[j * TEST_DIM + t];
		}
	for (int i = 0; i < n; i++)
		for (int t = 0; t < TEST_DIM; t++) {
			double v = 0;
			for (int j = 0; j < n; j++)
				v += B[i * n + j] * grads[j * TEST_DIM + t];
			coded[i * TEST_DIM + t] = v;
		}
}

/* Largest |Σ_{i∈F} a_i c_i − Σ_j g_j| over the coordinates; uses only finished workers. */
static inline double decoded_error(int n, const bool *finished, const double *a, const double *coded,
				   const double *sum)
{
	double worst = 0;
	for (int t = 0; t < TEST_DIM; t++) {
		double est = 0;
		for (int i = 0; i < n; i++)
			if (finished[i])
				est += a[i] * coded[i * TEST_DIM + t];
		double e = fabs(est - sum[t]);
		if (e > worst)
			worst = e;
	}
	return worst;
}

/* Error allowed for a float64 decode: a few ulps per worker, amplified by cond(B_F). */
static inline double decode_tolerance(int n, double cond, const double *sum)
{
	double scale = 1;
	for (int t = 0; t < TEST_DIM; t++)
		scale = fmax(scale, fabs(sum[t]));
	return 8.0 * n * DBL_EPSILON * fmax(1.0, cond) * scale * sqrt((double)n);
}

/* ‖wᵀB_F − 1‖ for a given decode vector (a outside F must be ignored). */
static inline double residual_of(const pn_code *c, const bool *finished, const double *a)
{
	int n = pn_code_n(c);
	const double *B = pn_code_matrix(c);
	double r = 0;
	for (int j = 0; j < n; j++) {
		double v = -1;
		for (int i = 0; i < n; i++)
			if (finished[i])
				v += a[i] * B[i * n + j];
		r += v * v;
	}
	return sqrt(r);
}

#endif
