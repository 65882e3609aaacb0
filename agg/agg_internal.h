/* Internal pieces of the aggregation engine shared between agg/ files: the rule
 * descriptor (rule_table.c), the kernels and the rules' entry points. Nothing here knows
 * about transports or jobs. */
#ifndef PENNANT_AGG_AGG_INTERNAL_H
#define PENNANT_AGG_AGG_INTERNAL_H

#include "pennant/agg.h"
#include "util/util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Coordinates are processed in blocks of this many floats: p blocks of 16 KiB stay in
 * L2 while the Gram kernel (or a coordinate-wise rule) walks them. */
#define PN_AGG_BLOCK 4096

/* Old internal names of the public status values (pn_agg_worker_status). */
enum pn_worker_status {
	PN_WORKER_USED = PN_AGG_USED,
	PN_WORKER_NONFINITE = PN_AGG_NONFINITE,
	PN_WORKER_INCOMPLETE = PN_AGG_INCOMPLETE,
	PN_WORKER_EXCLUDED = PN_AGG_EXCLUDED,
};

/* ---- Gram kernel (gram_kernel.c) ----
 * G[i*p + j] += Σ_{c<n} rows[i][c]·rows[j][c] for i <= j, accumulated in float64.
 * rows[i] == NULL means "not taking part": its row/column is left untouched. */
void pn_gram_block(const float *const *rows, int p, size_t n, double *G);
/* Name of the kernel picked for this CPU ("avx512", "avx2", "generic"). */
const char *pn_gram_kernel_name(void);

/* ---- Combination pass (combine.c) ----
 * out[c] = Σ_i alpha[i]·rows[i][c] over c in [0, d), rows with alpha 0 skipped. A
 * coefficient outside float32's normal range (e.g. Flag's α_i = s/‖g_i‖ for a subnormal
 * g_i) is applied in float64, so α_i·g_i stays finite whenever it is representable. */
typedef struct pn_combine_coefs {
	int p;
	const float *const *rows;
	float *a32;      /* float copy of alpha (0: row skipped) */
	double *a64;     /* alpha itself */
	uint8_t *wide;   /* 1: apply a64 in float64 */
	pn_dtype dtype;  /* PN_DTYPE_F32: rows; bf16/f16: hrows */
	const uint16_t *const *hrows;
} pn_combine_coefs;
/* Fills c->a32/a64/wide (arrays of length p owned by the caller); float32 rows. */
void pn_combine_prepare(pn_combine_coefs *c, const float *const *rows, const double *alpha, int p);
/* After prepare: the rows are half (dtype bf16/f16) at hrows instead (no-op for f32). */
void pn_combine_set_half(pn_combine_coefs *c, pn_dtype dtype, const uint16_t *const *hrows);
/* One range [begin, end) of the output, in L1-sized pieces; consume (may be NULL) sees
 * each finished piece. With check, returns false (and stops, consume not called) at the
 * first piece that is not finite. */
bool pn_combine_range(const pn_combine_coefs *c, size_t begin, size_t end, float *out,
		      pn_agg_consumer consume, void *ctx, bool check);
/* Whole pass split over `threads` short-lived threads, no output check (callers outside
 * the engine; the engine runs pn_combine_range pieces on its own pool). */
void pn_combine(const float *const *rows, const double *alpha, int p, size_t d, float *out,
		int threads);
void pn_combine_consume(const float *const *rows, const double *alpha, int p, size_t d,
			float *out, int threads, pn_agg_consumer consume, void *ctx);

/* ---- Coordinate-wise rules (rules_coord.c) ----
 * Computes out[c] for c in [0, n) from the k values rows[0..k)[c]. `used` (length k,
 * may be NULL) counts, per row, how many coordinates used that row's value. */
typedef struct pn_coord_params {
	int f;          /* Byzantine count (MeaMed/Phocas neighbours: k - f) */
	int trim;       /* values trimmed on each side (trimmed mean, Phocas) */
	int keep;       /* Bulyan: β values closest to the median are averaged */
	void *scratch;  /* at least k × pn_coord_scratch_size() bytes, owned by the caller */
	/* NULL: every value is finite. Else the rows may hold NaN/Inf and the sorting rules
	 * set *nonfinite = 1 when a value they read is one (the output is then meaningless):
	 * the engine checks rows only in such a block instead of in every block. */
	int *nonfinite;
} pn_coord_params;
typedef void (*pn_coord_fn)(const pn_coord_params *prm, const float *const *rows, int k,
			    size_t n, float *out, uint64_t *used);
size_t pn_coord_scratch_size(void);
void pn_coord_mean(const pn_coord_params *, const float *const *, int, size_t, float *, uint64_t *);
/* false: pn_coord_mean takes its portable kernel only (equivalence tests, benches). */
void pn_coord_mean_simd_enable(bool on);
void pn_coord_median(const pn_coord_params *, const float *const *, int, size_t, float *, uint64_t *);
void pn_coord_trimmed_mean(const pn_coord_params *, const float *const *, int, size_t, float *,
			   uint64_t *);
void pn_coord_meamed(const pn_coord_params *, const float *const *, int, size_t, float *, uint64_t *);
void pn_coord_phocas(const pn_coord_params *, const float *const *, int, size_t, float *, uint64_t *);
void pn_coord_bulyan(const pn_coord_params *, const float *const *, int, size_t, float *, uint64_t *);

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
	/* Flag only: workers with a zero gradient (no direction; weight 0). */
	int degenerate;
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

/* ---- Rule descriptors (rule_table.c) ---- */
typedef enum pn_rule_kind {
	PN_KIND_COORD,  /* per block, coordinate-wise (desc->block) */
	PN_KIND_GRAM,   /* weights from the Gram matrix (desc->solve); Bulyan adds desc->block */
	PN_KIND_FIXED,  /* caller-chosen weights; per block only a NaN/Inf check */
} pn_rule_kind;

typedef struct pn_rule_desc {
	pn_rule id;
	const char *name;
	pn_rule_kind kind;
	/* Usable workers needed under cfg, and the same as a formula for messages ("2f+3"). */
	int (*min_workers)(const pn_agg_config *cfg);
	const char *min_workers_text;
	/* PN_KIND_GRAM: fill res from the k×k Gram matrix of the usable workers. cfg has its
	 * defaults resolved (r, max_iters, tol). */
	int (*solve)(const pn_agg_config *cfg, const double *G, int k, pn_gram_result *res,
		     char *err, size_t errlen);
	/* PN_KIND_COORD: the rule per block. PN_KIND_GRAM: an optional coordinate-wise second
	 * stage over the workers solve selected (Bulyan). */
	pn_coord_fn block;
	/* The output is a direction with its own scale: cfg.flag_rescale applies. */
	bool own_scale;
	/* PN_KIND_COORD: block's output is finite exactly when all its rows are (a float64
	 * sum: NaN and ±Inf carry through, finite floats cannot overflow it), so the rows
	 * need a NaN/Inf check only in a block whose output is not finite (mean). */
	bool output_shows_nonfinite;
	/* PN_KIND_COORD: block reports NaN/Inf it reads through pn_coord_params.nonfinite. */
	bool reports_nonfinite;
} pn_rule_desc;

/* The descriptor for rule id, or NULL for an unknown id (never a fallback). */
const pn_rule_desc *pn_rule_desc_get(int id);
/* The descriptor named `name`, or NULL. */
const pn_rule_desc *pn_rule_desc_find(const char *name);

#endif
