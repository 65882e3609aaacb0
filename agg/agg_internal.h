/* Internal pieces of the aggregation engine shared between runtime/ files. */
#ifndef PENNANT_RUNTIME_AGG_INTERNAL_H
#define PENNANT_RUNTIME_AGG_INTERNAL_H

#include "pennant/agg.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Coordinates are processed in blocks of this many floats: p blocks of 16 KiB stay in
 * L2 while the Gram kernel (or a coordinate-wise rule) walks them. */
#define PN_AGG_BLOCK 4096

enum pn_worker_status {
	PN_WORKER_USED = 0,
	PN_WORKER_NONFINITE = 1,
	PN_WORKER_INCOMPLETE = 2,
	PN_WORKER_EXCLUDED = 3,
};

/* ---- Gram kernel (gram_kernel.c) ----
 * G[i*p + j] += Σ_{c<n} rows[i][c]·rows[j][c] for i <= j, accumulated in float64.
 * rows[i] == NULL means "not taking part": its row/column is left untouched. */
void pn_gram_block(const float *const *rows, int p, size_t n, double *G);
/* Name of the kernel picked for this CPU ("avx512", "avx2", "generic"). */
const char *pn_gram_kernel_name(void);

/* ---- Combination pass (combine.c) ----
 * out[c] = Σ_i alpha[i]·rows[i][c] over c in [0, d), rows with alpha 0 skipped,
 * split over `threads` threads. */
void pn_combine(const float *const *rows, const double *alpha, int p, size_t d, float *out,
		int threads);
/* Same, calling consume(ctx, offset, out + offset, len) after each finished piece. */
void pn_combine_consume(const float *const *rows, const double *alpha, int p, size_t d,
			float *out, int threads, pn_agg_consumer consume, void *ctx);

/* ---- Coordinate-wise rules (rules_coord.c) ----
 * Computes out[c] for c in [0, n) from the k values rows[0..k)[c]. `used` (length k,
 * may be NULL) counts, per row, how many coordinates used that row's value. */
typedef struct pn_coord_params {
	pn_rule rule;
	int f;        /* Byzantine count (MeaMed/Phocas neighbours: k - f) */
	int trim;     /* values trimmed on each side (trimmed mean, Phocas) */
	int keep;     /* Bulyan: β values closest to the median are averaged */
} pn_coord_params;
void pn_coord_block(const pn_coord_params *prm, const float *const *rows, int k, size_t n,
		    float *out, uint64_t *used);

/* ---- Rules on the Gram matrix (rules_krum.c, rules_geomed.c, rules_flag.c) ----
 * G is k×k (row-major, full symmetric) over the k usable workers. Each fills alpha
 * (length k, output = Σ alpha_i g_i) and score (length k, lower = more trusted). */
typedef struct pn_gram_result {
	double *alpha;
	double *score;
	int iterations;
	double objective;
	/* Bulyan only: which of the k workers were selected (1/0). */
	int *selected;
} pn_gram_result;

int pn_rule_krum(const double *G, int k, int f, int m, pn_gram_result *res, char *err, size_t errlen);
int pn_rule_bulyan_select(const double *G, int k, int f, pn_gram_result *res, char *err,
			  size_t errlen);
int pn_rule_geomed(const double *G, int k, int max_iters, double tol, pn_gram_result *res,
		   char *err, size_t errlen);
int pn_rule_flag(const double *G, int k, int r, double lambda, pn_flag_mode mode, int max_iters,
		 double tol, pn_gram_result *res, char *err, size_t errlen);

/* Pairwise squared distances from the Gram matrix: D[i*k+j] = G_ii + G_jj - 2 G_ij, >= 0. */
void pn_gram_distances(const double *G, int k, double *D);

/* ---- small utilities (util.c) ---- */
/* True when no element is NaN or ±Inf (exponent bits all ones). Vectorised. */
bool pn_all_finite(const float *x, size_t n);
double pn_now_s(void);
int pn_online_cpus(void);
void pn_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
