/* The coordinate-wise mean: out[c] = (float)((Σ_i rows[i][c]) / k), the sum in float64
 * in row order (((0 + r0) + r1) + ...), so every kernel below gives the same bits.
 *
 * Memory-bound: the rows are read once. The SIMD kernels keep the sums of 16 (AVX-512)
 * or 8 (AVX2) coordinates in registers while all k rows go by, so nothing but the rows
 * and the output touches memory (prefetching reaches past a block's end into the row's
 * next block: harmless, a prefetch never faults); the portable kernel sums four rows per sweep into a
 * float64 piece in L1. */
#include "agg_internal.h"

#include <immintrin.h>
#include <string.h>

/* Software prefetch this far ahead in every row: with k streams in flight at once the
 * hardware prefetchers alone leave the loop ~25% below a plain read of the same bytes
 * (bench/agg, p = 15); 512 bytes ahead measured best (256 B and 1 KiB were slower). */
#define PF 128

#define CVT_LO(v) _mm512_cvtps_pd(_mm512_castps512_ps256(v))
#define CVT_HI(v) _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))

/* 32 coordinates per sweep: two cache lines of every row in flight at a time. */
__attribute__((target("avx512f"))) static size_t mean_avx512(const float *const *rows, int k,
							     size_t n, float *out)
{
	size_t nv = n & ~(size_t)31;
	const __m512d den = _mm512_set1_pd((double)k);
	for (size_t c = 0; c < nv; c += 32) {
		__m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
		for (int i = 0; i < k; i++) {
			__m512 v = _mm512_loadu_ps(rows[i] + c), w = _mm512_loadu_ps(rows[i] + c + 16);
			_mm_prefetch((const char *)(rows[i] + c + PF), _MM_HINT_T0);
			_mm_prefetch((const char *)(rows[i] + c + PF + 16), _MM_HINT_T0);
			s0 = _mm512_add_pd(s0, CVT_LO(v));
			s1 = _mm512_add_pd(s1, CVT_HI(v));
			s2 = _mm512_add_pd(s2, CVT_LO(w));
			s3 = _mm512_add_pd(s3, CVT_HI(w));
		}
		_mm256_storeu_ps(out + c, _mm512_cvtpd_ps(_mm512_div_pd(s0, den)));
		_mm256_storeu_ps(out + c + 8, _mm512_cvtpd_ps(_mm512_div_pd(s1, den)));
		_mm256_storeu_ps(out + c + 16, _mm512_cvtpd_ps(_mm512_div_pd(s2, den)));
		_mm256_storeu_ps(out + c + 24, _mm512_cvtpd_ps(_mm512_div_pd(s3, den)));
	}
	return nv;
}

__attribute__((target("avx2"))) static size_t mean_avx2(const float *const *rows, int k, size_t n,
						       float *out)
{
	size_t nv = n & ~(size_t)7;
	const __m256d den = _mm256_set1_pd((double)k);
	for (size_t c = 0; c < nv; c += 8) {
		__m256d lo = _mm256_setzero_pd(), hi = lo;
		for (int i = 0; i < k; i++) {
			__m256 v = _mm256_loadu_ps(rows[i] + c);
			_mm_prefetch((const char *)(rows[i] + c + PF), _MM_HINT_T0);
			lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
			hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
		}
		__m128 a = _mm256_cvtpd_ps(_mm256_div_pd(lo, den));
		__m128 b = _mm256_cvtpd_ps(_mm256_div_pd(hi, den));
		_mm256_storeu_ps(out + c, _mm256_set_m128(b, a));
	}
	return nv;
}

/* acc[c] += r[c] in float64, four rows per sweep, in row order (the same sums as one
 * row at a time). */
static void add4_wide(double *restrict acc, const float *restrict r0, const float *restrict r1,
		      const float *restrict r2, const float *restrict r3, size_t n)
{
	for (size_t c = 0; c < n; c++)
		acc[c] = (((acc[c] + r0[c]) + r1[c]) + r2[c]) + r3[c];
}

static void add1_wide(double *restrict acc, const float *restrict r, size_t n)
{
	for (size_t c = 0; c < n; c++)
		acc[c] += r[c];
}

#define MEAN_PIECE 1024 /* 8 KiB of float64 sums: stays in L1 while the rows stream */

/* Coordinates [c0, n) without SIMD (the tail, or a CPU without AVX2). */
static void mean_portable(const float *const *rows, int k, size_t c0, size_t n, float *out)
{
	double acc[MEAN_PIECE];
	for (; c0 < n; c0 += MEAN_PIECE) {
		size_t m = n - c0 < MEAN_PIECE ? n - c0 : MEAN_PIECE;
		memset(acc, 0, m * sizeof *acc);
		int i = 0;
		for (; i + 4 <= k; i += 4)
			add4_wide(acc, rows[i] + c0, rows[i + 1] + c0, rows[i + 2] + c0, rows[i + 3] + c0, m);
		for (; i < k; i++)
			add1_wide(acc, rows[i] + c0, m);
		for (size_t c = 0; c < m; c++)
			out[c0 + c] = (float)(acc[c] / k);
	}
}

static bool simd_on = true;

void pn_coord_mean_simd_enable(bool on)
{
	__atomic_store_n(&simd_on, on, __ATOMIC_RELAXED);
}

void pn_coord_mean(const pn_coord_params *prm, const float *const *rows, int k, size_t n,
		   float *out, uint64_t *used)
{
	(void)prm;
	size_t done = 0;
	if (__atomic_load_n(&simd_on, __ATOMIC_RELAXED)) {
		__builtin_cpu_init();
		if (__builtin_cpu_supports("avx512f"))
			done = mean_avx512(rows, k, n, out);
		else if (__builtin_cpu_supports("avx2"))
			done = mean_avx2(rows, k, n, out);
	}
	mean_portable(rows, k, done, n, out);
	if (used)
		for (int i = 0; i < k; i++)
			used[i] += n;
}
