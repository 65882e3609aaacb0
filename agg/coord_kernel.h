/* Shared pieces of the coordinate-wise rules: values of one coordinate sorted with their
 * row index (insertion sort: k is small, typically 8-64) so a rule can credit the rows
 * it used, and the per-block loop (which hands groups of 8 coordinates to the sorting
 * networks of coord_simd.c first). A new coordinate-wise rule includes this header,
 * writes a pick function and makes its block with COORD_SORTED_RULE (below), which calls
 * sorted_block() with it (see rules_coord.c). */
#ifndef PENNANT_AGG_COORD_KERNEL_H
#define PENNANT_AGG_COORD_KERNEL_H

#include "agg_internal.h"
#include "coord_simd.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef struct val_idx {
	float v;
	int i;
} val_idx;

static inline void sort_vals(val_idx *a, int k)
{
	for (int x = 1; x < k; x++) {
		val_idx t = a[x];
		int y = x - 1;
		while (y >= 0 && a[y].v > t.v) {
			a[y + 1] = a[y];
			y--;
		}
		a[y + 1] = t;
	}
}

static inline double median_sorted(const val_idx *a, int k)
{
	return (k & 1) ? a[k / 2].v : 0.5 * ((double)a[k / 2 - 1].v + (double)a[k / 2].v);
}

/* Average of the `want` sorted values closest to `center` (a contiguous window of the
 * sorted array, grown outward from the centre); credits the rows used. */
static inline double closest_mean(const val_idx *a, int k, double center, int want, uint64_t *used)
{
	int hi = 0;
	while (hi < k && a[hi].v < center)
		hi++;
	int lo = hi - 1; /* window is (lo, hi) exclusive, grows both ways */
	double sum = 0;
	for (int taken = 0; taken < want; taken++) {
		int pick;
		if (lo < 0)
			pick = hi++;
		else if (hi >= k)
			pick = lo--;
		else if (center - a[lo].v <= a[hi].v - center)
			pick = lo--;
		else
			pick = hi++;
		sum += a[pick].v;
		if (used)
			used[a[pick].i]++;
	}
	return sum / want;
}

static inline double trimmed_mean_sorted(const val_idx *a, int k, int trim, uint64_t *used)
{
	double sum = 0;
	for (int x = trim; x < k - trim; x++) {
		sum += a[x].v;
		if (used)
			used[a[x].i]++;
	}
	return sum / (k - 2 * trim);
}

/* The per-coordinate loop shared by the sorting rules: gather the k values of
 * coordinate c with their row index, sort, and let `pick` compute the output. Inlined
 * into each rule with `pick` known, so no indirect call per coordinate. */
typedef double (*pick_fn)(const pn_coord_params *prm, const val_idx *a, int k, uint64_t *used);

/* The SIMD networks (coord_simd.c) take whole groups of 8 coordinates when they can,
 * this loop the rest; both give the same result (see coord_simd.c). */
static inline __attribute__((always_inline)) void
sorted_block(const pn_coord_params *prm, const float *const *rows, int k, size_t n, float *out,
	     uint64_t *used, pick_fn pick, pn_coord_pick kind)
{
	val_idx *a = prm->scratch;
	size_t done = pn_coord_simd(prm, rows, k, n, out, used, kind);
	int bad = 0;
	for (size_t c = done; c < n; c++) {
		for (int i = 0; i < k; i++) {
			a[i] = (val_idx){rows[i][c], i};
			bad |= !isfinite(a[i].v);
		}
		sort_vals(a, k);
		out[c] = (float)pick(prm, a, k, used);
	}
	if (bad && prm->nonfinite)
		*prm->nonfinite = 1;
}

/* A coordinate-wise rule's block function pn_coord_NAME: sorted_block specialised
 * (inlined) with the rule's pick; one line per rule, e.g.
 * COORD_SORTED_RULE(median, pick_median, PN_PICK_MEDIAN). */
#define COORD_SORTED_RULE(name, pick, kind)                                                  \
	void pn_coord_##name(const pn_coord_params *prm, const float *const *rows, int k,     \
			     size_t n, float *out, uint64_t *used)                              \
	{                                                                                      \
		sorted_block(prm, rows, k, n, out, used, pick, kind);                          \
	}

#endif
