/* Pennant heterogeneity-aware sizing (Proteus's idea): give each worker a share of the
 * round's work (samples, or partition size) in proportion to its measured throughput, so
 * fast (GPU) and slow (CPU, overloaded) workers finish together.
 *
 *     pn_sizing *sz = pn_sizing_create(&cfg, err, sizeof err);
 *     each round: pn_sizing_observe(sz, w, units_done, seconds)  for the workers that reported
 *                 pn_sizing_plan(sz, total_units, shares, &replanned)
 *
 * Throughput is smoothed (exponential moving average). The plan is recomputed only when
 * some worker's smoothed throughput moved by more than replan_threshold (relative) from
 * the value the current plan was built on, so noise does not reshuffle data every round.
 * Shares are integers summing to total, each at least min_share (largest-remainder
 * rounding). Workers never measured count as the mean measured throughput.
 */
#ifndef PENNANT_SIZING_H
#define PENNANT_SIZING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pn_sizing_config {
	int workers;
	double replan_threshold; /* relative change that triggers a re-plan; 0: 0.2 */
	double smoothing;        /* EMA weight of a new sample in (0, 1]; 0: 0.5 */
	size_t min_share;        /* smallest share per worker; 0: 1 */
} pn_sizing_config;

typedef struct pn_sizing pn_sizing;

pn_sizing *pn_sizing_create(const pn_sizing_config *cfg, char *err, size_t errlen);
void pn_sizing_free(pn_sizing *s);

/* A worker processed `units` in `seconds`. Non-positive or non-finite values are rejected
 * (-EINVAL) and counted, never folded into the estimate. */
int pn_sizing_observe(pn_sizing *s, int worker, double units, double seconds);
/* Smoothed throughput (units/s) of a worker, 0 if never measured. */
double pn_sizing_throughput(const pn_sizing *s, int worker);

/* Writes the shares of `total` units (n entries). *replanned (may be NULL) tells whether
 * the shares changed basis this call. -EINVAL if total < workers·min_share. */
int pn_sizing_plan(pn_sizing *s, size_t total, size_t *shares, bool *replanned);

typedef struct pn_sizing_stats {
	uint64_t samples, rejected, plans, replans;
} pn_sizing_stats;
void pn_sizing_get_stats(const pn_sizing *s, pn_sizing_stats *st);

#ifdef __cplusplus
}
#endif
#endif
