/* Coordinate-wise rules, run per block of coordinates as soon as the block is present
 * for every participating worker: mean, median, trimmed mean, MeaMed, Phocas, and the
 * second (coordinate-wise) stage of Bulyan.
 *
 * For each coordinate the k values are sorted with their row index (insertion sort:
 * k is small, typically 8–64), so the rule can credit the rows it used. */
#include "agg_internal.h"

#include <string.h>

typedef struct val_idx {
	float v;
	int i;
} val_idx;

static void sort_vals(val_idx *a, int k)
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

static double median_sorted(const val_idx *a, int k)
{
	return (k & 1) ? a[k / 2].v : 0.5 * ((double)a[k / 2 - 1].v + (double)a[k / 2].v);
}

/* Average of the `want` sorted values closest to `center` (a contiguous window of the
 * sorted array, grown outward from the centre); credits the rows used. */
static double closest_mean(const val_idx *a, int k, double center, int want, uint64_t *used)
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

static double trimmed_mean_sorted(const val_idx *a, int k, int trim, uint64_t *used)
{
	double sum = 0;
	for (int x = trim; x < k - trim; x++) {
		sum += a[x].v;
		if (used)
			used[a[x].i]++;
	}
	return sum / (k - 2 * trim);
}

static void mean_block(const float *const *rows, int k, size_t n, float *out, uint64_t *used)
{
	/* Row-at-a-time accumulation in float64 keeps rows streaming. */
	double acc[PN_AGG_BLOCK];
	for (size_t c0 = 0; c0 < n; c0 += PN_AGG_BLOCK) {
		size_t m = n - c0 < PN_AGG_BLOCK ? n - c0 : PN_AGG_BLOCK;
		memset(acc, 0, m * sizeof *acc);
		for (int i = 0; i < k; i++)
			for (size_t c = 0; c < m; c++)
				acc[c] += rows[i][c0 + c];
		for (size_t c = 0; c < m; c++)
			out[c0 + c] = (float)(acc[c] / k);
	}
	if (used)
		for (int i = 0; i < k; i++)
			used[i] += n;
}

void pn_coord_block(const pn_coord_params *prm, const float *const *rows, int k, size_t n,
		    float *out, uint64_t *used)
{
	if (prm->rule == PN_RULE_MEAN) {
		mean_block(rows, k, n, out, used);
		return;
	}
	val_idx a[k];
	for (size_t c = 0; c < n; c++) {
		for (int i = 0; i < k; i++)
			a[i] = (val_idx){rows[i][c], i};
		sort_vals(a, k);
		double r;
		switch (prm->rule) {
		case PN_RULE_MEDIAN:
			r = median_sorted(a, k);
			if (used) {
				used[a[k / 2].i]++;
				if (!(k & 1))
					used[a[k / 2 - 1].i]++;
			}
			break;
		case PN_RULE_TRIMMED_MEAN:
			r = trimmed_mean_sorted(a, k, prm->trim, used);
			break;
		case PN_RULE_MEAMED:
			r = closest_mean(a, k, median_sorted(a, k), k - prm->f, used);
			break;
		case PN_RULE_PHOCAS:
			r = closest_mean(a, k, trimmed_mean_sorted(a, k, prm->trim, NULL), k - prm->f, used);
			break;
		case PN_RULE_BULYAN:
			r = closest_mean(a, k, median_sorted(a, k), prm->keep, used);
			break;
		default:
			r = 0;
			break;
		}
		out[c] = (float)r;
	}
}
