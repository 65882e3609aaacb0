/* SIMD path of the sorting coordinate-wise rules (coord_simd.c). */
#ifndef PENNANT_AGG_COORD_SIMD_H
#define PENNANT_AGG_COORD_SIMD_H

#include "agg_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the rule does with one coordinate's sorted values. */
typedef enum pn_coord_pick {
	PN_PICK_MEDIAN,
	PN_PICK_TRIMMED,  /* mean of the values after trim per side */
	PN_PICK_MEAMED,   /* mean of the k-f values closest to the median */
	PN_PICK_PHOCAS,   /* mean of the k-f values closest to the trimmed mean */
	PN_PICK_BULYAN,   /* mean of the keep values closest to the median */
} pn_coord_pick;

/* Largest k the sorting networks take; above it the scalar path runs. */
#define PN_COORD_SIMD_MAX_K 32

/* Computes out[c] (and adds to used) for the first (n & ~7) coordinates with sorting
 * networks on 8 coordinates at a time; returns how many it did (0 without AVX2, for
 * k > PN_COORD_SIMD_MAX_K, or when switched off). */
size_t pn_coord_simd(const pn_coord_params *prm, const float *const *rows, int k, size_t n,
		     float *out, uint64_t *used, pn_coord_pick pick);
/* false: every later call takes the scalar path (the previous kernel, for benches and
 * equivalence tests). */
void pn_coord_simd_enable(bool on);
/* false: the networks sort (value, row) pairs with AVX2 blends even where AVX-512 could
 * sort 64-bit keys (to test one against the other). */
void pn_coord_simd_keys_enable(bool on);
/* true if the compiled-in network for k rows (agg/coord_networks.h, generated) is the
 * one the run-time construction builds: the generated tables are checked, not trusted. */
bool pn_coord_simd_networks_match(int k);

#endif
