/* Gram kernel for AVX-512: G += XᵀX over one block, float32 rows, float64 sums.
 *
 * Products of two float32 are exact in float64, so this kernel has the float64 error
 * bound (γ_n with u = 2^-53, as the other float64 variants): each accumulator lane runs
 * one float64 FMA chain over the block, lanes are summed at the end of the block.
 *
 * What makes it faster than the 4×4 tiles of gram_kernel.c ("avx512"), which reduce
 * their 16 accumulators to scalars after every 256-coordinate slice:
 *  - the tiles' vector accumulators live in a small array across the whole block (a
 *    tile loads its 16 from L1 at the start of a slice and stores them at the end, on
 *    the load/store ports, not the FMA ports) and are reduced once per block;
 *  - diagonal tiles compute only their upper triangle (10 products, not 16), so p rows
 *    padded to kp cost kp(kp+1)/2 products per coordinate;
 *  - the tile shape (3, 4 or 5 rows) is the one that pads the rows least: 15 rows run
 *    as 5×5 tiles with no padding row;
 *  - each slice is widened once into an L1 buffer (vcvtps2pd, the one conversion the
 *    float64 FMAs need) with masked loads for a ragged end;
 *  - the next slice is prefetched into L1 a share of rows after each tile, so the
 *    misses are spread over the arithmetic instead of stalling the widening (one burst
 *    of prefetches before the tiles gained nothing; spread, p = 15 streaming from DRAM
 *    on one core went from 77 to 54 ms for d = 1e7).
 * The shape is FMA-bound: kp(kp+1)/2 FMAs per 8 coordinates against 2 FMA ports, plus
 * the widening (2 vector µops per 8 floats on the same ports). pennant-bench-agg prints
 * the FMA roofline of the same run next to the kernel. */
#include "gram_variants.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TILE 5
/* The widened slice, kp rows × L doubles: 24 KiB leaves room in a 48 KiB L1 for the
 * next slice's floats being prefetched (32 KiB measured slower: the two evict each
 * other). */
#define WIDE_BYTES (24 * 1024)
#define MAX_ROWS_STACK 64

/* The accumulators of one tile of g×g row pairs, pair (i, j) at a[g·i + j]; a diagonal
 * tile uses only i ≤ j. */
typedef struct tile_acc {
	__m512d a[MAX_TILE * MAX_TILE];
} tile_acc;

/* Tiles of g rows (g = 3, 4, 5), unrolled by the compiler so that the g×g accumulators,
 * g row registers and one column register stay in the 32 zmm registers:
 *  off:  acc += x_i·y_j for rows x[0..g) × y[0..g), 2g loads per g² FMAs;
 *  diag: the upper triangle of x[0..g) with itself, g loads per g(g+1)/2 FMAs.
 * len is a multiple of 8; rows are 64-byte aligned. */
#define GRAM_TILES(g)                                                                          \
	__attribute__((target("avx512f"))) static void tile_off##g(                            \
		const double *const *x, const double *const *y, size_t len, tile_acc *acc)     \
	{                                                                                      \
		__m512d a[g][g];                                                               \
		_Pragma("GCC unroll 8") for (int i = 0; i < g; i++)                            \
			_Pragma("GCC unroll 8") for (int j = 0; j < g; j++)                    \
				a[i][j] = acc->a[g * i + j];                                   \
		for (size_t c = 0; c < len; c += 8) {                                          \
			__m512d xv[g];                                                         \
			_Pragma("GCC unroll 8") for (int i = 0; i < g; i++)                    \
				xv[i] = _mm512_load_pd(x[i] + c);                              \
			_Pragma("GCC unroll 8") for (int j = 0; j < g; j++) {                  \
				__m512d v = _mm512_load_pd(y[j] + c);                          \
				_Pragma("GCC unroll 8") for (int i = 0; i < g; i++)            \
					a[i][j] = _mm512_fmadd_pd(xv[i], v, a[i][j]);          \
			}                                                                      \
		}                                                                              \
		_Pragma("GCC unroll 8") for (int i = 0; i < g; i++)                            \
			_Pragma("GCC unroll 8") for (int j = 0; j < g; j++)                    \
				acc->a[g * i + j] = a[i][j];                                   \
	}                                                                                      \
	__attribute__((target("avx512f"))) static void tile_diag##g(                           \
		const double *const *x, size_t len, tile_acc *acc)                             \
	{                                                                                      \
		__m512d a[g][g];                                                               \
		_Pragma("GCC unroll 8") for (int i = 0; i < g; i++)                            \
			_Pragma("GCC unroll 8") for (int j = i; j < g; j++)                    \
				a[i][j] = acc->a[g * i + j];                                   \
		for (size_t c = 0; c < len; c += 8) {                                          \
			__m512d xv[g];                                                         \
			_Pragma("GCC unroll 8") for (int i = 0; i < g; i++)                    \
				xv[i] = _mm512_load_pd(x[i] + c);                              \
			_Pragma("GCC unroll 8") for (int i = 0; i < g; i++)                    \
				_Pragma("GCC unroll 8") for (int j = i; j < g; j++)            \
					a[i][j] = _mm512_fmadd_pd(xv[i], xv[j], a[i][j]);      \
		}                                                                              \
		_Pragma("GCC unroll 8") for (int i = 0; i < g; i++)                            \
			_Pragma("GCC unroll 8") for (int j = i; j < g; j++)                    \
				acc->a[g * i + j] = a[i][j];                                   \
	}

GRAM_TILES(3)
GRAM_TILES(4)
GRAM_TILES(5)

typedef struct tile_shape {
	int g;
	void (*off)(const double *const *x, const double *const *y, size_t len, tile_acc *acc);
	void (*diag)(const double *const *x, size_t len, tile_acc *acc);
} tile_shape;

static const tile_shape shapes[] = {
	{5, tile_off5, tile_diag5}, {4, tile_off4, tile_diag4}, {3, tile_off3, tile_diag3}};

/* The shape that pads k rows to the fewest products kp(kp+1)/2 (larger tiles first on a
 * tie: fewer loads per FMA). 15 rows: 5×5 tiles, 120 products, none wasted; 16 and 32
 * rows: 4×4. */
static const tile_shape *shape_for(int k)
{
	const tile_shape *best = &shapes[0];
	long best_cost = -1;
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		long kp = (k + shapes[s].g - 1) / shapes[s].g * shapes[s].g;
		long cost = kp * (kp + 1) / 2;
		if (best_cost < 0 || cost < best_cost)
			best = &shapes[s], best_cost = cost;
	}
	return best;
}

/* The lines of src[0..len) into L1. */
static inline void prefetch_row(const float *src, size_t len)
{
	for (size_t c = 0; c < len; c += 16)
		__builtin_prefetch(src + c, 0, 3);
}

/* dst[0..len8) = src[0..len) widened, zeros past len (len8 = len rounded up to 8). */
__attribute__((target("avx512f,avx512vl"))) static void widen_row(double *dst, const float *src,
								   size_t len)
{
	size_t c = 0;
	for (; c + 8 <= len; c += 8)
		_mm512_store_pd(dst + c, _mm512_cvtps_pd(_mm256_loadu_ps(src + c)));
	if (c < len) {
		__mmask8 m = (__mmask8)((1u << (len - c)) - 1);
		_mm512_store_pd(dst + c, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, src + c)));
	}
}

__attribute__((target("avx512f"))) void pn_gram_block_avx512_tri(const float *const *rows, int p,
								  size_t n, double *G)
{
	int idx_buf[MAX_ROWS_STACK + MAX_TILE];
	int *idx = p <= MAX_ROWS_STACK ? idx_buf : malloc(sizeof(int) * (size_t)(p + MAX_TILE));
	if (!idx)
		abort(); /* a few bytes per row: nothing sensible is left to do */
	int k = 0;
	for (int i = 0; i < p; i++)
		if (rows[i])
			idx[k++] = i;
	if (k == 0 || n == 0)
		goto out_idx;
	const tile_shape *sh = shape_for(k);
	const int g = sh->g;
	int kp = (k + g - 1) / g * g, groups = kp / g;
	for (int i = k; i < kp; i++)
		idx[i] = -1;
	size_t L = WIDE_BYTES / sizeof(double) / (size_t)kp & ~(size_t)7;
	L = L < 8 ? 8 : L;
	size_t npairs = (size_t)groups * (size_t)(groups + 1) / 2;
	/* one allocation: the widened slice, its row pointers, the tile accumulators */
	size_t wide_bytes = sizeof(double) * L * (size_t)kp;
	size_t acc_bytes = sizeof(tile_acc) * npairs;
	size_t total = (wide_bytes + acc_bytes + sizeof(double *) * (size_t)kp + 63) & ~(size_t)63;
	char *mem = aligned_alloc(64, total);
	if (!mem)
		abort(); /* tens of KiB: nothing sensible is left to do */
	double *wide = (double *)mem;
	tile_acc *acc = (tile_acc *)(mem + wide_bytes);
	const double **sl = (const double **)(mem + wide_bytes + acc_bytes);
	memset(acc, 0, acc_bytes);
	for (int i = 0; i < kp; i++) {
		sl[i] = wide + (size_t)i * L;
		if (idx[i] < 0)
			memset(wide + (size_t)i * L, 0, sizeof(double) * L); /* padding row */
	}
	for (size_t c0 = 0; c0 < n; c0 += L) {
		size_t len = n - c0 < L ? n - c0 : L, len8 = (len + 7) & ~(size_t)7;
		for (int i = 0; i < k; i++)
			widen_row(wide + (size_t)i * L, rows[idx[i]] + c0, len);
		size_t next = c0 + L, next_len = next < n ? (n - next < L ? n - next : L) : 0;
		tile_acc *t = acc;
		int call = 0;
		for (int a = 0; a < groups; a++)
			for (int b = a; b < groups; b++, call++) {
				if (a == b)
					sh->diag(sl + g * a, len8, t++);
				else
					sh->off(sl + g * a, sl + g * b, len8, t++);
				/* after each tile, the next slice of a share of the rows */
				for (int r = call * k / (int)npairs;
				     next_len && r < (call + 1) * k / (int)npairs; r++)
					prefetch_row(rows[idx[r]] + next, next_len);
			}
	}
	tile_acc *t = acc;
	for (int a = 0; a < groups; a++)
		for (int b = a; b < groups; b++, t++)
			for (int x = 0; x < g; x++)
				for (int y = a == b ? x : 0; y < g; y++) {
					int i = idx[g * a + x], j = idx[g * b + y];
					if (i >= 0 && j >= 0)
						G[(size_t)i * p + j] += _mm512_reduce_add_pd(t->a[g * x + y]);
				}
	free(mem);
out_idx:
	if (idx != idx_buf)
		free(idx);
}
