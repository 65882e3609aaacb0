/* Pennant aggregation engine: robust rules over p gradients of dimension d (float32).
 *
 * Streaming use (the aggregator's round loop):
 *     pn_agg *a = pn_agg_begin(&cfg, rows, err, sizeof err);   // rows: p landing buffers
 *     ... as chunk [off, off+len) of worker i lands in rows[i]:
 *     pn_agg_landed(a, i, off, len);     // Gram/coordinate work for complete blocks runs here
 *     pn_agg_finish(a, out);             // p×p solve + one combination pass
 *     pn_agg_free(a);
 * The engine reads the caller's landing buffers in place (zero-copy). Without landing
 * buffers (rows == NULL) it owns storage and pn_agg_feed() copies chunks in.
 *
 * Rules on the Gram matrix G = XᵀX (float64, accumulated per block as data lands):
 * Krum, Multi-Krum, Bulyan, geometric median, Flag Aggregator. Coordinate-wise rules
 * (mean, median, trimmed mean, MeaMed, Phocas) run per block. Every rule produces
 * per-worker weights: the output's coefficients for Gram rules, the fraction of
 * coordinates in which the worker was selected for coordinate-wise rules.
 *
 * Workers whose data contains NaN/Inf are excluded from the round and reported;
 * workers that never landed completely (stragglers) are excluded too.
 */
#ifndef PENNANT_AGG_H
#define PENNANT_AGG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pn_rule {
	PN_RULE_MEAN = 0,
	PN_RULE_MEDIAN,
	PN_RULE_TRIMMED_MEAN,
	PN_RULE_MEAMED,
	PN_RULE_PHOCAS,
	PN_RULE_KRUM,
	PN_RULE_MULTI_KRUM,
	PN_RULE_BULYAN,
	PN_RULE_GEOMED,
	PN_RULE_FLAG,
	PN_RULE_COUNT_
} pn_rule;

typedef enum pn_flag_mode {
	PN_FLAG_REFERENCE = 0, /* one IRLS step from the all-ones weight start (reference code) */
	PN_FLAG_CONVERGED = 1, /* IRLS until the objective stops decreasing (capped) */
} pn_flag_mode;

typedef struct pn_agg_config {
	int p;               /* number of workers (rows) */
	size_t d;            /* dimension */
	pn_rule rule;
	int f;               /* assumed Byzantine count (Krum, Multi-Krum, Bulyan, MeaMed, Phocas, trimmed mean if beta == 0) */
	int m;               /* Multi-Krum selection size; 0: p - f - 2 */
	double beta;         /* trimmed mean: fraction trimmed on each side; 0: use f/p */
	int r;               /* Flag subspace dimension; 0: default min(p, 8)... capped at usable workers */
	double lambda;       /* Flag pairwise regularizer >= 0 */
	pn_flag_mode flag_mode;
	int max_iters;       /* Flag converged / Weiszfeld cap; 0: default (100) */
	double tol;          /* relative tolerance for iterative rules; 0: default (1e-9) */
	int threads;         /* threads for the combination pass; 0: all online CPUs */
	/* Flag: rescale the output (a direction with its own scale, (1/r)·Σ Y Yᵀ x_i) to the
	 * median norm of the gradients used. Computed from G, so it costs no pass over data. */
	int flag_rescale;
} pn_agg_config;

typedef struct pn_agg pn_agg;

/* Parse/print rule names: "mean", "median", "trimmed-mean", "meamed", "phocas", "krum",
 * "multi-krum", "bulyan", "geomed", "flag". Returns -1 for unknown names. */
int pn_rule_from_name(const char *name);
const char *pn_rule_name(pn_rule rule);
/* Fills cfg with defaults for p, d, rule. */
void pn_agg_config_init(pn_agg_config *cfg, int p, size_t d, pn_rule rule);
/* Validates a config; on error returns -EINVAL and writes why into err. */
int pn_agg_config_check(const pn_agg_config *cfg, char *err, size_t errlen);

pn_agg *pn_agg_begin(const pn_agg_config *cfg, float *const *rows, char *err, size_t errlen);
/* Worker `worker`'s elements [offset, offset+len) are now present in rows[worker]. */
int pn_agg_landed(pn_agg *a, int worker, size_t offset, size_t len);
/* Copy-in variant (only when the engine owns storage, or to write into rows[worker]). */
int pn_agg_feed(pn_agg *a, int worker, size_t offset, const float *data, size_t len);
/* Exclude a worker from this round (e.g. its replica disagreed, or the policy gave up on it). */
int pn_agg_exclude(pn_agg *a, int worker);
/* Optional: called once per finished piece [offset, offset+len) of the output, from the
 * thread that produced it, while the piece is still in cache (e.g. to fuse the optimizer
 * step with the combination pass). Pieces are disjoint and cover [0, d). */
typedef void (*pn_agg_consumer)(void *ctx, size_t offset, const float *out, size_t len);
int pn_agg_set_consumer(pn_agg *a, pn_agg_consumer fn, void *ctx);
/* Aggregate into out[d]. Returns 0, or -errno (e.g. -ENODATA: too few usable workers
 * for the rule; message in pn_agg_errmsg). */
int pn_agg_finish(pn_agg *a, float *out);
void pn_agg_free(pn_agg *a);
const char *pn_agg_errmsg(const pn_agg *a);

/* Valid after finish. */
typedef struct pn_agg_report {
	int p;
	int used;              /* workers that took part */
	int nonfinite;         /* workers excluded for NaN/Inf */
	int incomplete;        /* workers excluded because their data never fully landed */
	int iterations;        /* IRLS / Weiszfeld iterations */
	double objective;      /* Flag objective E(Y*) or geomed sum of distances */
	double t_gram_s;       /* time in Gram/per-block work (cumulative over landed()) */
	double t_solve_s;      /* p×p work */
	double t_combine_s;    /* combination pass */
} pn_agg_report;
void pn_agg_get_report(const pn_agg *a, pn_agg_report *rep);
/* Per-worker weight (length p). For Gram rules the combination coefficients α_i as
 * output = Σ α_i g_i; for coordinate-wise rules the fraction of coordinates where the
 * worker's value was used. Excluded workers get 0. */
const double *pn_agg_weights(const pn_agg *a);
/* Per-worker score (length p): Krum score, Flag |1-‖Yᵀx_i‖²| residual, distance to the
 * output for others. Lower means more trusted. Excluded workers get +inf. */
const double *pn_agg_scores(const pn_agg *a);
/* Per-worker status: 0 used, 1 excluded non-finite, 2 incomplete, 3 excluded by caller. */
const int *pn_agg_status(const pn_agg *a);
/* The accumulated Gram matrix (p×p row-major, float64), valid after finish. */
const double *pn_agg_gram(const pn_agg *a);

/* One shot over a row-major p×d array. */
int pn_aggregate(const pn_agg_config *cfg, const float *x, float *out, pn_agg_report *rep,
		 double *weights, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
