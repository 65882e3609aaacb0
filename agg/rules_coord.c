/* Coordinate-wise rules, run per block of coordinates as soon as the block is present
 * for every participating worker: mean, median, trimmed mean, MeaMed, Phocas, and the
 * second (coordinate-wise) stage of Bulyan.
 * The sorting and the per-block loop are in coord_kernel.h, the mean in coord_mean.c. */
#include "coord_kernel.h"

#include <string.h>

size_t pn_coord_scratch_size(void)
{
	return sizeof(val_idx);
}

static inline __attribute__((always_inline)) double
pick_median(const pn_coord_params *prm, const val_idx *a, int k, uint64_t *used)
{
	(void)prm;
	if (used) {
		used[a[k / 2].i]++;
		if (!(k & 1))
			used[a[k / 2 - 1].i]++;
	}
	return median_sorted(a, k);
}

static inline __attribute__((always_inline)) double
pick_trimmed(const pn_coord_params *prm, const val_idx *a, int k, uint64_t *used)
{
	return trimmed_mean_sorted(a, k, prm->trim, used);
}

static inline __attribute__((always_inline)) double
pick_meamed(const pn_coord_params *prm, const val_idx *a, int k, uint64_t *used)
{
	return closest_mean(a, k, median_sorted(a, k), k - prm->f, used);
}

static inline __attribute__((always_inline)) double
pick_phocas(const pn_coord_params *prm, const val_idx *a, int k, uint64_t *used)
{
	return closest_mean(a, k, trimmed_mean_sorted(a, k, prm->trim, NULL), k - prm->f, used);
}

static inline __attribute__((always_inline)) double
pick_bulyan(const pn_coord_params *prm, const val_idx *a, int k, uint64_t *used)
{
	return closest_mean(a, k, median_sorted(a, k), prm->keep, used);
}

COORD_SORTED_RULE(median, pick_median, PN_PICK_MEDIAN)
COORD_SORTED_RULE(trimmed_mean, pick_trimmed, PN_PICK_TRIMMED)
COORD_SORTED_RULE(meamed, pick_meamed, PN_PICK_MEAMED)
COORD_SORTED_RULE(phocas, pick_phocas, PN_PICK_PHOCAS)

/* Bulyan's second stage: over the θ workers the Krum stage selected, the β values closest
 * to the coordinate's median are averaged. */
COORD_SORTED_RULE(bulyan, pick_bulyan, PN_PICK_BULYAN)

/* ---- descriptors (listed in rule_table.c) ----
 * Values are taken coordinate by coordinate, so magnitude never matters (sums are in
 * float64); a zero gradient is a row of zeros like any other. */
static int one_min(const pn_agg_config *c)
{
	(void)c;
	return 1;
}

static int f_plus_one(const pn_agg_config *c)
{
	return c->f + 1;
}

/* With beta = 0 the trim is f per side: 2f+1 values are needed. */
static int trimmed_min(const pn_agg_config *c)
{
	return c->beta > 0 ? 1 : 2 * c->f + 1;
}

const pn_rule_desc pn_rule_desc_mean = {
	.id = PN_RULE_MEAN, .name = "mean", .kind = PN_KIND_COORD,
	.min_workers = one_min, .min_workers_text = "1", .block = pn_coord_mean,
	.output_shows_nonfinite = true,
};
const pn_rule_desc pn_rule_desc_median = {
	.id = PN_RULE_MEDIAN, .name = "median", .kind = PN_KIND_COORD,
	.min_workers = one_min, .min_workers_text = "1", .block = pn_coord_median,
	.reports_nonfinite = true,
};
const pn_rule_desc pn_rule_desc_trimmed_mean = {
	.id = PN_RULE_TRIMMED_MEAN, .name = "trimmed-mean", .kind = PN_KIND_COORD,
	.min_workers = trimmed_min, .min_workers_text = "2f+1 (beta 0)", .block = pn_coord_trimmed_mean,
	.reports_nonfinite = true,
};
const pn_rule_desc pn_rule_desc_meamed = {
	.id = PN_RULE_MEAMED, .name = "meamed", .kind = PN_KIND_COORD,
	.min_workers = f_plus_one, .min_workers_text = "f+1", .block = pn_coord_meamed,
	.reports_nonfinite = true,
};
const pn_rule_desc pn_rule_desc_phocas = {
	.id = PN_RULE_PHOCAS, .name = "phocas", .kind = PN_KIND_COORD,
	.min_workers = f_plus_one, .min_workers_text = "f+1", .block = pn_coord_phocas,
	.reports_nonfinite = true,
};
