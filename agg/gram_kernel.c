/* Blocked streaming Gram kernel: G += XᵀX over a block of coordinates, float64 sums.
 *
 * Why not OpenBLAS dsyrk/ssyrk: on the tall, thin shape (p ≈ 8–32 rows, millions of
 * coordinates) syrk runs 5–10× below memory bandwidth and on one thread (measured with
 * pennant-bench-agg).
 * This kernel walks an L1-sized slice of all participating rows at once and computes
 * tiles of row pairs with register-resident float64 accumulators, so each float is read
 * from memory once per block. The binary stays portable: variants are compiled with
 * target attributes and chosen at run time from CPUID (as OpenBLAS does).
 * Every default variant sums exact float32 products in float64. On AVX-512 the default
 * is gram_kernel_avx512.c ("avx512-tri": accumulators kept as vectors for the whole
 * block, triangular diagonal tiles, the tile shape that pads least); the 4×4 tiles below
 * ("avx512") are the previous default, kept for the bench's same-run comparison. AVX2
 * CPUs run the 3×4 tiles; the float32-product path (gram_kernel_f32.c) is opt-in. */
#include "agg_internal.h"
#include "gram_tile.h"
#include "gram_variants.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* Coordinates per slice: 16 rows × 256 doubles = 32 KiB, inside a 48 KiB L1d. */
#define SLICE 256
#define MAX_TILE 4
#define PAD (2 * MAX_TILE) /* padding rows: below either tile side */

typedef void (*tile_fn)(const double *const *ri, const double *const *rj, size_t n,
			double acc[MAX_TILE][MAX_TILE]);


/* The coordinates [c, n) a vector loop left over, for the tile's first rows rows. */
static inline void tile_tail(const double *const *ri, const double *const *rj, size_t c, size_t n,
			     int rows, double acc[MAX_TILE][MAX_TILE])
{
	for (; c < n; c++)
		for (int a = 0; a < rows; a++)
			for (int b = 0; b < 4; b++)
				acc[a][b] += ri[a][c] * rj[b][c];
}

/* ---- AVX-512: 4×4 tiles of 8-lane double accumulators (16 zmm + 8 for loads). ---- */
__attribute__((target("avx512f"))) static void tile_avx512(const double *const *ri,
							   const double *const *rj, size_t n,
							   double acc[MAX_TILE][MAX_TILE])
{
	__m512d a00 = _mm512_setzero_pd(), a01 = a00, a02 = a00, a03 = a00;
	__m512d a10 = a00, a11 = a00, a12 = a00, a13 = a00;
	__m512d a20 = a00, a21 = a00, a22 = a00, a23 = a00;
	__m512d a30 = a00, a31 = a00, a32 = a00, a33 = a00;
	size_t c = 0;
	for (; c + 8 <= n; c += 8) {
		__m512d x0 = _mm512_loadu_pd((ri[0] + c));
		__m512d x1 = _mm512_loadu_pd((ri[1] + c));
		__m512d x2 = _mm512_loadu_pd((ri[2] + c));
		__m512d x3 = _mm512_loadu_pd((ri[3] + c));
		GRAM_TILE_STEP(__m512d, GRAM_COL4, _mm512_loadu_pd, _mm512_fmadd_pd,
			       rj[0] + c, rj[1] + c, rj[2] + c, rj[3] + c);
	}
	GRAM_TILE_SUM4(_mm512_reduce_add_pd);
	tile_tail(ri, rj, c, n, 4, acc);
}

/* ---- AVX2+FMA: 2×4 tiles of 4-lane accumulators (8 ymm + 6 for loads). ---- */
__attribute__((target("avx2,fma"))) static double hsum256(__m256d v)
{
	__m128d lo = _mm256_castpd256_pd128(v), hi = _mm256_extractf128_pd(v, 1);
	lo = _mm_add_pd(lo, hi);
	return _mm_cvtsd_f64(_mm_add_sd(lo, _mm_unpackhi_pd(lo, lo)));
}

__attribute__((target("avx2,fma"))) static void tile_avx2(const double *const *ri,
							  const double *const *rj, size_t n,
							  double acc[MAX_TILE][MAX_TILE])
{
	__m256d a00 = _mm256_setzero_pd(), a01 = a00, a02 = a00, a03 = a00;
	__m256d a10 = a00, a11 = a00, a12 = a00, a13 = a00;
	size_t c = 0;
	for (; c + 4 <= n; c += 4) {
		__m256d x0 = _mm256_loadu_pd(ri[0] + c), x1 = _mm256_loadu_pd(ri[1] + c);
		GRAM_TILE_STEP(__m256d, GRAM_COL2, _mm256_loadu_pd, _mm256_fmadd_pd,
			       rj[0] + c, rj[1] + c, rj[2] + c, rj[3] + c);
	}
	GRAM_TILE_SUM2(hsum256);
	tile_tail(ri, rj, c, n, 2, acc);
}

/* ---- AVX2+FMA: 3×4 tiles (12 ymm accumulators + 3 row registers + 1 column register:
 * 7 loads per 12 FMAs, so FMA-bound rather than load-bound like 2×4). ---- */
__attribute__((target("avx2,fma"))) static void tile_avx2_3x4(const double *const *ri,
							      const double *const *rj, size_t n,
							      double acc[MAX_TILE][MAX_TILE])
{
	const double *x0p = ri[0], *x1p = ri[1], *x2p = ri[2];
	const double *y0p = rj[0], *y1p = rj[1], *y2p = rj[2], *y3p = rj[3];
	__m256d a00 = _mm256_setzero_pd(), a01 = a00, a02 = a00, a03 = a00;
	__m256d a10 = a00, a11 = a00, a12 = a00, a13 = a00;
	__m256d a20 = a00, a21 = a00, a22 = a00, a23 = a00;
	size_t c = 0;
	for (; c + 4 <= n; c += 4) {
		__m256d x0 = _mm256_loadu_pd(x0p + c), x1 = _mm256_loadu_pd(x1p + c),
			x2 = _mm256_loadu_pd(x2p + c);
		GRAM_TILE_STEP(__m256d, GRAM_COL3, _mm256_loadu_pd, _mm256_fmadd_pd,
			       y0p + c, y1p + c, y2p + c, y3p + c);
	}
	GRAM_TILE_SUM3(hsum256);
	tile_tail(ri, rj, c, n, 3, acc);
}

/* ---- Portable fallback: 2×2 tiles, scalar float64. ---- */
static void tile_generic(const double *const *ri, const double *const *rj, size_t n,
			 double acc[MAX_TILE][MAX_TILE])
{
	double s00 = 0, s01 = 0, s10 = 0, s11 = 0;
	for (size_t c = 0; c < n; c++) {
		double x0 = ri[0][c], x1 = ri[1][c], y0 = rj[0][c], y1 = rj[1][c];
		s00 += x0 * y0;
		s01 += x0 * y1;
		s10 += x1 * y0;
		s11 += x1 * y1;
	}
	acc[0][0] += s00;
	acc[0][1] += s01;
	acc[1][0] += s10;
	acc[1][1] += s11;
}

/* A variant: float64 tiles (`tile`, exact products), or the float32-product path
 * (`f32`, gram_kernel_f32.c) with a float64 variant for blocks outside its range. */
typedef struct gram_variant {
	const char *name;
	tile_fn tile;
	int ti, tj; /* tile shape: rows × columns */
	bool f32;
	void (*block)(const float *const *rows, int p, size_t n, double *G); /* whole-block kernel */
	const char *cpu1, *cpu2; /* CPU features needed (NULL: none) */
} gram_variant;

/* In order of preference; the first the CPU supports is the default, except the
 * float32-product path, which is opt-in (PENNANT_GRAM_KERNEL=avx2-f32 or
 * pn_gram_use_kernel): its error bound is float32-class per chain (gram_kernel_f32.c),
 * enough for distances but not for rules iterated to tight tolerances (Flag converged,
 * geomed). */
static const gram_variant variants[] = {
	{"avx512-tri", NULL, 0, 0, false, pn_gram_block_avx512_tri, "avx512f", NULL},
	{"avx512", tile_avx512, 4, 4, false, NULL, "avx512f", NULL},
	{"avx2-3x4", tile_avx2_3x4, 3, 4, false, NULL, "avx2", "fma"},
	{"avx2", tile_avx2, 2, 4, false, NULL, "avx2", "fma"},
	{"avx2-f32", NULL, 0, 0, true, NULL, "avx2", "fma"},
	{"generic", tile_generic, 2, 2, false, NULL, NULL, NULL},
};
#define NVARIANTS (sizeof variants / sizeof *variants)

static bool supported(const gram_variant *v)
{
	__builtin_cpu_init();
	/* __builtin_cpu_supports needs a literal: compare against the names used above */
	bool ok = true;
	const char *f[2] = {v->cpu1, v->cpu2};
	for (int i = 0; i < 2; i++) {
		if (!f[i])
			continue;
		if (strcmp(f[i], "avx2") == 0)
			ok = ok && __builtin_cpu_supports("avx2");
		else if (strcmp(f[i], "fma") == 0)
			ok = ok && __builtin_cpu_supports("fma");
		else if (strcmp(f[i], "avx512f") == 0)
			ok = ok && __builtin_cpu_supports("avx512f");
		else
			ok = false;
	}
	return ok;
}

/* The first supported variant in table order from `from` on, float64 only if asked. */
static const gram_variant *first_supported(size_t from, bool f64_only)
{
	for (size_t i = from; i < NVARIANTS; i++)
		if (supported(&variants[i]) && !(f64_only && variants[i].f32))
			return &variants[i];
	return &variants[NVARIANTS - 1];
}

static const gram_variant *chosen;

static const gram_variant *variant(void)
{
	const gram_variant *v = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
	if (!v) {
		const char *env = getenv("PENNANT_GRAM_KERNEL");
		if (env && *env && pn_gram_use_kernel(env) == 0)
			return __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
		v = first_supported(0, true);
		__atomic_store_n(&chosen, v, __ATOMIC_RELEASE);
	}
	return v;
}

const char *pn_gram_kernel_name(void)
{
	return variant()->name;
}

int pn_gram_use_kernel(const char *name)
{
	for (size_t i = 0; i < NVARIANTS; i++)
		if (strcmp(variants[i].name, name) == 0) {
			if (!supported(&variants[i]))
				return -1;
			__atomic_store_n(&chosen, &variants[i], __ATOMIC_RELEASE);
			return 0;
		}
	return -1;
}

/* float32 → float64 for one slice of a row (vectorised by the compiler per clone). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
widen(double *restrict dst, const float *restrict src, size_t n)
{
	for (size_t c = 0; c < n; c++)
		dst[c] = src[c];
}

static void gram_block_f64(const gram_variant *v, const float *const *rows, int p, size_t n,
			   double *G)
{
	/* Compact the participating rows; pad to whole tiles with zero rows. Index and
	 * pointer arrays live on the stack up to 64 rows, on the heap beyond. */
	int idx_buf[64 + PAD];
	const double *slice_buf[64 + PAD];
	int *idx = p <= 64 ? idx_buf : malloc(sizeof(int) * (size_t)(p + PAD));
	const double **slice = p <= 64 ? slice_buf : malloc(sizeof(double *) * (size_t)(p + PAD));
	if (!idx || !slice)
		abort(); /* a few bytes per row: nothing sensible is left to do */
	int k = 0;
	for (int i = 0; i < p; i++)
		if (rows[i])
			idx[k++] = i;
	if (k == 0)
		goto out;
	/* rows padded to whole row tiles (ki) and whole column tiles (kj) */
	int ki = (k + v->ti - 1) / v->ti * v->ti, kj = (k + v->tj - 1) / v->tj * v->tj;
	int kp = ki > kj ? ki : kj;
	for (int i = k; i < kp; i++)
		idx[i] = -1;
	/* Each slice is widened to float64 once, so the tiles below are pure loads + FMAs;
	 * the slice is sized so kp rows of it (≤ 32 KiB) stay in L1. */
	size_t sl = (size_t)(16 * SLICE) / (size_t)kp & ~(size_t)3;
	sl = sl > SLICE ? SLICE : sl < 32 ? 32 : sl;
	double stack_buf[16 * SLICE];
	double *wide = (size_t)kp * sl <= sizeof stack_buf / sizeof *stack_buf
			       ? stack_buf
			       : malloc(sizeof(double) * (size_t)kp * sl);
	if (!wide)
		abort(); /* a few KiB per row: nothing sensible is left to do */
	for (int i = 0; i < kp; i++)
		slice[i] = wide + (size_t)i * sl;

	for (size_t c0 = 0; c0 < n; c0 += sl) {
		size_t len = n - c0 < sl ? n - c0 : sl;
		for (int i = 0; i < kp; i++) {
			double *dst = wide + (size_t)i * sl;
			if (idx[i] >= 0)
				widen(dst, rows[idx[i]] + c0, len);
			else
				memset(dst, 0, len * sizeof *dst);
		}
		for (int a = 0; a < ki; a += v->ti) {
			/* Column tiles from the one holding row a onward cover i <= j. */
			for (int b = a / v->tj * v->tj; b < kj; b += v->tj) {
				double acc[MAX_TILE][MAX_TILE];
				memset(acc, 0, sizeof acc);
				v->tile(slice + a, slice + b, len, acc);
				for (int x = 0; x < v->ti; x++)
					for (int y = 0; y < v->tj; y++) {
						int i = idx[a + x], j = idx[b + y];
						if (i >= 0 && j >= 0 && a + x <= b + y)
							G[(size_t)i * p + j] += acc[x][y];
					}
			}
		}
	}
	if (wide != stack_buf)
		free(wide);
out:
	if (idx != idx_buf)
		free(idx);
	if (slice != slice_buf)
		free(slice);
}

void pn_gram_block(const float *const *rows, int p, size_t n, double *G)
{
	const gram_variant *v = variant();
	if (v->f32) {
		if (pn_gram_block_f32_avx2(rows, p, n, G))
			return;
		v = first_supported(0, true); /* a magnitude float32 products cannot take */
	}
	if (v->block)
		v->block(rows, p, n, G);
	else
		gram_block_f64(v, rows, p, n, G);
}
