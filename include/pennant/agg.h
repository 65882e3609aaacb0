/* Pennant aggregation engine: robust rules over p gradients of dimension d (float32, or
 * bfloat16 / fp16 rows with cfg.grad_dtype: the output is float32 either way).
 *
 * Streaming use (the aggregator's round loop); the engine and its thread pool live for
 * the whole job, each round starts with a reset:
 *     pn_agg *a = pn_agg_create(&cfg, err, sizeof err);
 *     every round:
 *         pn_agg_reset(a, rows);             // rows: this round's p landing buffers
 *         ... as chunk [off, off+len) of worker i lands in rows[i]:
 *         pn_agg_landed(a, i, off, len);     // Gram/per-block work runs here, in the pool
 *         pn_agg_finish(a, out);             // p×p solve + one combination pass (pool)
 *     pn_agg_free(a);
 * pn_agg_begin(&cfg, rows, ...) is create + reset in one call (one-round use). The engine
 * reads the caller's landing buffers in place (zero-copy). Without landing buffers
 * (rows == NULL) it owns storage and pn_agg_feed() copies chunks in.
 *
 * Rules (see agg/rule_table.c for the list and what each needs):
 *   on the Gram matrix G = XᵀX (float64, accumulated per block as data lands):
 *     Krum, Multi-Krum, Bulyan, geometric median, Flag Aggregator;
 *   coordinate-wise, per block: mean, median, trimmed mean, MeaMed, Phocas;
 *   fixed weights ("weighted"): output = Σ w_i g_i with weights chosen by the caller
 *     (e.g. a gradient code's decode vector), see pn_agg_set_weights().
 * Naming: PN_RULE_MEAN is the plain coordinate-wise average of the usable rows;
 * PN_RULE_WEIGHTED is any caller-chosen linear combination. A job whose "mean" is a
 * gradient-code decode ((1/n) Σ a_i c_i) runs PN_RULE_WEIGHTED with w_i = a_i / n.
 * Every rule produces per-worker weights: the output's coefficients for Gram and
 * weighted rules, the fraction of coordinates in which the worker was selected for
 * coordinate-wise rules.
 *
 * Workers whose data contains NaN/Inf are excluded from the round and reported;
 * workers that never landed completely (stragglers) are excluded too. Finite inputs of
 * any magnitude (subnormal to ~FLT_MAX) give a finite output or a clear error: finish
 * checks the output and returns -EDOM (report.output_nonfinite = 1) rather than hand
 * back a non-finite result.
 */
#ifndef PENNANT_AGG_H
#define PENNANT_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pennant/dtype.h"

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
	PN_RULE_WEIGHTED, /* fixed weights chosen by the caller (pn_agg_set_weights) */
	PN_RULE_COUNT_
} pn_rule;

/* Per-worker status after finish (pn_agg_status). The values are stable. */
typedef enum pn_agg_worker_status {
	PN_AGG_USED = 0,       /* took part in the rule (its weight may still be 0) */
	PN_AGG_NONFINITE = 1,  /* excluded: its data holds NaN/Inf */
	PN_AGG_INCOMPLETE = 2, /* excluded: its data never landed completely */
	PN_AGG_EXCLUDED = 3,   /* excluded by the caller (pn_agg_exclude) */
} pn_agg_worker_status;

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
	int threads;         /* pool threads (per-block work and combination pass); 0: all online CPUs; 1: inline */
	/* Flag: rescale the output (a direction with its own scale, (1/r)·Σ Y Yᵀ x_i) to the
	 * median norm of the gradients used. Computed from G, so it costs no pass over data. */
	int flag_rescale;
	/* Element type of the rows (default PN_DTYPE_F32). Half rows (bf16/f16) are read in
	 * place through the typed entry points (pn_agg_reset_typed, ...); the kernels widen
	 * one cache-resident block at a time, so results equal the float32 engine's on the
	 * widened values. */
	pn_dtype grad_dtype;
} pn_agg_config;

typedef struct pn_agg pn_agg;

/* Parse/print rule names: "mean", "median", "trimmed-mean", "meamed", "phocas", "krum",
 * "multi-krum", "bulyan", "geomed", "flag", "weighted". pn_rule_from_name returns -1 for
 * unknown names; pn_rule_name returns "?" for an unknown id (which no call accepts). */
int pn_rule_from_name(const char *name);
const char *pn_rule_name(pn_rule rule);
/* Usable workers the rule needs under cfg (e.g. Krum 2f+3, Bulyan 4f+3), or -EINVAL for
 * an unknown rule. finish() returns -ENODATA when fewer are usable. */
int pn_rule_min_workers(const pn_agg_config *cfg);
/* "used", "nonfinite", "incomplete", "excluded"; "?" otherwise. */
const char *pn_agg_status_name(int status);
/* Fills cfg with defaults for p, d, rule. */
void pn_agg_config_init(pn_agg_config *cfg, int p, size_t d, pn_rule rule);
/* Validates a config; on error returns -EINVAL and writes why into err. */
int pn_agg_config_check(const pn_agg_config *cfg, char *err, size_t errlen);

/* An engine for cfg with its thread pool (cfg.threads threads, kept for the engine's
 * life). Call pn_agg_reset() before the first round. NULL + err on error. */
pn_agg *pn_agg_create(const pn_agg_config *cfg, char *err, size_t errlen);
/* Starts a round: forgets landed data, exclusions, weights and results; keeps the
 * configuration, the pool, the consumer and the weight function. rows: this round's p
 * landing buffers (read in place), or NULL for engine-owned storage (pn_agg_feed). */
int pn_agg_reset(pn_agg *a, float *const *rows);
/* reset with rows of cfg.grad_dtype (the only way to give half rows; pn_agg_reset refuses
 * them with -EINVAL). Offsets and lengths everywhere count elements, not bytes. */
int pn_agg_reset_typed(pn_agg *a, const void *const *rows);
/* create + reset: an engine for one round. */
pn_agg *pn_agg_begin(const pn_agg_config *cfg, float *const *rows, char *err, size_t errlen);
pn_agg *pn_agg_begin_typed(const pn_agg_config *cfg, const void *const *rows, char *err,
			   size_t errlen);
/* Worker `worker`'s elements [offset, offset+len) are now present in rows[worker]. */
int pn_agg_landed(pn_agg *a, int worker, size_t offset, size_t len);
/* Copy-in variant (only when the engine owns storage, or to write into rows[worker]). */
int pn_agg_feed(pn_agg *a, int worker, size_t offset, const float *data, size_t len);
/* The same for elements of cfg.grad_dtype (pn_agg_feed takes float32 engines only). */
int pn_agg_feed_typed(pn_agg *a, int worker, size_t offset, const void *data, size_t len);
/* Exclude a worker from this round (e.g. its replica disagreed, or the policy gave up on it). */
int pn_agg_exclude(pn_agg *a, int worker);
/* Optional: called once per finished piece [offset, offset+len) of the output, from the
 * thread that produced it, while the piece is still in cache (e.g. to fuse the optimizer
 * step with the combination pass). Pieces are disjoint and cover [0, d). */
typedef void (*pn_agg_consumer)(void *ctx, size_t offset, const float *out, size_t len);
int pn_agg_set_consumer(pn_agg *a, pn_agg_consumer fn, void *ctx);
/* PN_RULE_WEIGHTED: this round's weights w[0..p) (copied; reset forgets them). A worker
 * with a nonzero weight that is not usable at finish (NaN/Inf, incomplete, excluded)
 * makes finish fail with -ENODATA naming it: the weights assumed it. */
int pn_agg_set_weights(pn_agg *a, const double *w);
/* PN_RULE_WEIGHTED: weights decided at finish, once the usable set is known (e.g. a
 * gradient code's decode of exactly that set). fn fills w[0..p) from usable[0..p) and
 * returns 0, or a negative errno (finish returns it; message from fn's err). Kept
 * across resets; takes precedence over pn_agg_set_weights. */
typedef int (*pn_agg_weight_fn)(void *ctx, const bool *usable, int p, double *w, char *err,
				size_t errlen);
int pn_agg_set_weight_fn(pn_agg *a, pn_agg_weight_fn fn, void *ctx);
/* Aggregate into out[d]. Returns 0, or -errno with a message in pn_agg_errmsg:
 * -ENODATA too few usable workers for the rule; -EDOM the output would not be finite
 * (out must not be used; the consumer may have seen earlier finite pieces). */
int pn_agg_finish(pn_agg *a, float *out);
void pn_agg_free(pn_agg *a);

/* Sharded rounds: K engines, each over its own coordinate range of the same p workers,
 * finish on one decision for the whole job. Every shard settles first: its stragglers
 * (incomplete) and NaN/Inf workers leave, status[0..p) gets each worker's
 * pn_agg_worker_status in this shard and, for Gram rules, G[p×p] this shard's partial
 * Gram (may be NULL otherwise). The job then merges every shard's facts (a worker out in
 * one shard is out in all; G = Σ_k G_k, summed in shard order) and each shard finishes
 * with the merged status and G: Gram rules solve the same p×p problem on the same G (the
 * solve is deterministic) and combine their own range; coordinate-wise and fixed-weight
 * rules need only the status. finish_shared refuses a status that uses a worker this
 * shard found unusable (-EINVAL). Reports and weights are this shard's. */
int pn_agg_settle(pn_agg *a, int *status, double *G);
int pn_agg_finish_shared(pn_agg *a, const int *status, const double *G, float *out);
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
	int output_nonfinite;  /* 1: the output was not finite and finish returned -EDOM */
	int degenerate;        /* Flag: used workers whose gradient is all zero (no direction: weight 0) */
	double t_drain_s;      /* finish's wait for the per-block work still queued when it was
				  called: the part of t_gram_s that did not overlap the landing */
} pn_agg_report;
void pn_agg_get_report(const pn_agg *a, pn_agg_report *rep);
/* Per-worker weight (length p). For Gram rules the combination coefficients α_i as
 * output = Σ α_i g_i; for coordinate-wise rules the fraction of coordinates where the
 * worker's value was used. Excluded workers get 0. */
const double *pn_agg_weights(const pn_agg *a);
/* Per-worker score (length p): Krum score, Flag |1-‖Yᵀx_i‖²| residual, distance to the
 * output for others. Lower means more trusted. Excluded workers get +inf. */
const double *pn_agg_scores(const pn_agg *a);
/* Per-worker status (length p), values of pn_agg_worker_status. */
const int *pn_agg_status(const pn_agg *a);
/* The accumulated Gram matrix (p×p row-major, float64), valid after finish. */
const double *pn_agg_gram(const pn_agg *a);

/* One shot over a row-major p×d array (any rule but PN_RULE_WEIGHTED, which needs the
 * caller's weights: use pn_agg_begin + pn_agg_set_weights). On failure (-errno) out may
 * hold partial values: do not use it. */
int pn_aggregate(const pn_agg_config *cfg, const float *x, float *out, pn_agg_report *rep,
		 double *weights, char *err, size_t errlen);
/* The same over a p×d array of cfg.grad_dtype elements. */
int pn_aggregate_typed(const pn_agg_config *cfg, const void *x, float *out, pn_agg_report *rep,
		       double *weights, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
