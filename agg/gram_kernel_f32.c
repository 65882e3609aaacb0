/* Gram kernel with float32 products: G += XᵀX for one block, AVX2+FMA.
 *
 * The float64 kernel is compute-bound on this shape (p(p+1)/2 products per coordinate
 * at 4 lanes); float32 FMAs give 8 lanes. Each slice of L ≤ 512 coordinates of all rows
 * (≤ 24 KiB, in L1) is walked by 3×4 tiles of row pairs (12 ymm accumulators, 3 row
 * registers, 1 column register); every accumulator lane runs one FMA chain of at most
 * m = L/8 ≤ 64 terms, then its 8 lanes are widened and summed in float64, and slices are
 * summed into G in float64.
 *
 * Error bound (per entry, against exact arithmetic): a float32 FMA chain of m terms is
 * within γ_m·Σ|x_c y_c| of its exact value (γ_m = m·u/(1-m·u), u = 2^-24, the first term
 * rounded once, each later step once); the float64 sums of the chains add at most
 * γ64_{n/8+3} of the same sum. With m ≤ 64:
 *     |Ĝ_ij − G_ij| ≤ 3.9e-6 · Σ_c |x_ic·x_jc|   (+ n·2^-149 for products that underflow)
 * independent of the block length and of d, unlike one float32 sum over d. Identical
 * rows go through identical operations, so G_ii = G_jj = G_ij exactly and Krum's
 * distance G_ii + G_jj − 2G_ij is exactly 0 (tests/runtime/test_gram_accuracy.c).
 * The range check keeps products away from float32 overflow and from the subnormal
 * range: a block with a row whose max |x| is outside [2^-40, 2^40] is left to the
 * float64 kernel, whose products are exact. */
#include "gram_tile.h"
#include "gram_variants.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TI 3
#define TJ 4
#define MAX_SLICE 512
#define SLICE_BYTES (24 * 1024)
#define MAX_ROWS_STACK 64

static const float zero_row[MAX_SLICE]; /* padding rows of a tile */

__attribute__((target("avx2"))) static float max_abs_avx2(const float *x, size_t n)
{
	const __m256 mag = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	__m256 m0 = _mm256_setzero_ps(), m1 = m0;
	size_t c = 0;
	for (; c + 16 <= n; c += 16) {
		/* max(a, m) returns m when a is NaN: NaN is ignored, Inf wins */
		m0 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + c), mag), m0);
		m1 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + c + 8), mag), m1);
	}
	m0 = _mm256_max_ps(m0, m1);
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(m0), _mm256_extractf128_ps(m0, 1));
	h = _mm_max_ps(h, _mm_movehl_ps(h, h));
	h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
	float m = _mm_cvtss_f32(h);
	for (; c < n; c++) {
		float a = fabsf(x[c]);
		m = a > m ? a : m;
	}
	return m;
}

__attribute__((target("avx2,fma"))) static inline double hsum8_wide(__m256 v)
{
	__m256d s = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)),
				  _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
	__m128d lo = _mm256_castpd256_pd128(s), hi = _mm256_extractf128_pd(s, 1);
	lo = _mm_add_pd(lo, hi);
	return _mm_cvtsd_f64(_mm_add_sd(lo, _mm_unpackhi_pd(lo, lo)));
}

/* acc[x][y] += Σ_{c<len} ri[x][c]·rj[y][c] for a 3×4 tile; len is a multiple of 8. */
__attribute__((target("avx2,fma"))) static void tile34(const float *const *ri, const float *const *rj,
						       size_t len, double acc[TI][TJ])
{
	const float *x0p = ri[0], *x1p = ri[1], *x2p = ri[2];
	const float *y0p = rj[0], *y1p = rj[1], *y2p = rj[2], *y3p = rj[3];
	__m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
	__m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
	__m256 a20 = a00, a21 = a00, a22 = a00, a23 = a00;
	for (size_t c = 0; c < len; c += 8) {
		__m256 x0 = _mm256_loadu_ps(x0p + c), x1 = _mm256_loadu_ps(x1p + c),
		       x2 = _mm256_loadu_ps(x2p + c);
		GRAM_TILE_STEP(__m256, GRAM_COL3, _mm256_loadu_ps, _mm256_fmadd_ps,
			       y0p + c, y1p + c, y2p + c, y3p + c);
	}
	GRAM_TILE_SUM3(hsum8_wide);
}

bool pn_gram_block_f32_avx2(const float *const *rows, int p, size_t n, double *G)
{
	const float lo = 0x1p-40f, hi = 0x1p40f;
	int idx_buf[MAX_ROWS_STACK + 12];
	const float *ptr_buf[MAX_ROWS_STACK + 12];
	int *idx = p <= MAX_ROWS_STACK ? idx_buf : malloc(sizeof(int) * (size_t)(p + 12));
	const float **sl = p <= MAX_ROWS_STACK ? ptr_buf : malloc(sizeof(float *) * (size_t)(p + 12));
	if (!idx || !sl)
		abort(); /* a few bytes per row: nothing sensible is left to do */
	bool ok = true;
	int k = 0;
	for (int i = 0; i < p && ok; i++) {
		if (!rows[i])
			continue;
		float m = max_abs_avx2(rows[i], n);
		if (m > hi || (m != 0.0f && m < lo))
			ok = false;
		idx[k++] = i;
	}
	if (!ok || k == 0)
		goto out;
	int k3 = (k + TI - 1) / TI * TI, k4 = (k + TJ - 1) / TJ * TJ;
	int kp = k3 > k4 ? k3 : k4;
	for (int i = k; i < kp; i++)
		idx[i] = -1;
	size_t L = SLICE_BYTES / sizeof(float) / (size_t)kp;
	L = L > MAX_SLICE ? MAX_SLICE : L < 64 ? 64 : L & ~(size_t)7;
	size_t nv = n & ~(size_t)7; /* the vector part; the < 8 left are summed exactly below */
	for (size_t c0 = 0; c0 < nv; c0 += L) {
		size_t len = nv - c0 < L ? nv - c0 : L;
		for (int i = 0; i < kp; i++)
			sl[i] = idx[i] >= 0 ? rows[idx[i]] + c0 : zero_row;
		for (int a = 0; a < k3; a += TI)
			for (int b = a / TJ * TJ; b < k4; b += TJ) {
				double acc[TI][TJ] = {{0}};
				tile34(sl + a, sl + b, len, acc);
				for (int x = 0; x < TI; x++)
					for (int y = 0; y < TJ; y++) {
						int i = idx[a + x], j = idx[b + y];
						if (i >= 0 && j >= 0 && a + x <= b + y)
							G[(size_t)i * p + j] += acc[x][y];
					}
			}
	}
	for (size_t c = nv; c < n; c++)
		for (int x = 0; x < k; x++)
			for (int y = x; y < k; y++)
				G[(size_t)idx[x] * p + idx[y]] +=
					(double)rows[idx[x]][c] * (double)rows[idx[y]][c];
out:
	if (idx != idx_buf)
		free(idx);
	if (sl != ptr_buf)
		free(sl);
	return ok;
}
