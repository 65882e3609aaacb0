/* Pennant gradient codes: tolerate stragglers by computing redundant partition sums.
 *
 * The data set is split into n partitions (one per worker). Worker i computes the coded
 * gradient c_i = Σ_j B[i,j]·grad_j over the partitions in its row of the encode matrix
 * B (n×n). When the workers in the finished set F have delivered, the aggregator finds a
 * decode vector a with aᵀB_F = 1ᵀ, so Σ_j grad_j = Σ_{i∈F} a_i c_i.
 *
 * Codes (pn_code_kind):
 *   UNCODED     B = I. Exact only when every worker finished (ignore-stragglers uses a
 *               least-squares decode and reports the residual).
 *   FRACTIONAL  fractional repetition; needs (s+1) | n. Groups of s+1 workers compute the
 *               same s+1 partitions. Any s stragglers are tolerated; perfectly conditioned.
 *   CYCLIC      cyclic repetition (Tandon et al. 2017): row i supported on {i..i+s} mod n,
 *               built from a random Gaussian H (s×n, H·1 = 0). Any n-s workers decode, but
 *               B_F can be badly conditioned for large n (see pn_decode_info.cond): the
 *               conditioning varies by orders of magnitude between draws of H, so several
 *               are drawn and the one with the smallest worst cond over probe straggler
 *               sets is kept (params.cyclic_candidates).
 *   EXPANDER    approximate: circulant 0/1 matrix of degree s+1 with seeded random offsets
 *               chosen for a small second singular value σ₂ (a good expander).
 *   BIBD        approximate: circulant incidence matrix of a cyclic difference set (a
 *               symmetric BIBD): Singer sets (7,3,1), (13,4,1), (21,5,1), (31,6,1),
 *               (57,8,1), (73,9,1) and Paley sets for primes p ≡ 3 (mod 4), p < 100.
 *               The design fixes the load: s+1 must equal the block size k.
 *   GCDC        gradient coding with dynamic clustering (Buyukates et al. 2021): n workers in
 *               P clusters of m = n/P; each cluster runs a cyclic code tolerating s
 *               stragglers over its own m partitions. pn_code_observe_round() re-forms the
 *               clusters from the last round's stragglers so no cluster expects more than s.
 *   COMM_EFFICIENT  communication-efficient gradient coding (Ye & Abbe, ICML 2018): every
 *               gradient of dimension d is cut into m blocks of L = ceil(d/m) coordinates
 *               (zero-padded), worker i holds the s+m partitions {i..i+s+m−1} mod n and
 *               sends ONE vector of L floats, f_i = Σ_j Σ_u E[i, j·m+u]·grad_j[block u]. Any
 *               n−s messages decode Σ_j grad_j exactly. Construction: a random Gaussian
 *               generator G ((n−s)×n, any n−s columns invertible: an MDS code); worker i
 *               sends Σ_k G[k,i]·P_k where the last m "message" vectors P_k are the m block
 *               sums and the first n−s−m are combinations chosen so that every partition a
 *               worker does not hold cancels (an (n−s−m)-square solve per partition block).
 *               Decoding solves G_F X = [0; I_m] (minimum norm when |F| > n−s), so the
 *               reported cond is that of G_F. The load–communication trade-off s+m is the
 *               paper's optimum. m = params.comm_dim; m = 1 gives an MDS-style exact code
 *               that decodes through pn_code_decode like the others; for m > 1 use the
 *               pn_code_ce_* calls below (pn_code_decode returns -ENOTSUP).
 *
 * For the approximate codes (constant row and column sums d = s+1) the uniform decode
 * a = n/(d·|F|)·1_F has ‖aᵀB_F − 1‖ ≤ (n·σ₂/(d·|F|))·sqrt(|F|(n−|F|)/n) (spectral argument,
 * σ₂ the second singular value of B); the least-squares decode used here is never worse.
 * pn_decode_info.bound reports that promise.
 *
 * Decoding is float64 least squares (LAPACK dgelsd, SVD-based), minimum-norm when |F| is
 * larger than needed. Decoders are cached per finished set; the cache is cleared when B
 * changes (GC-DC re-clustering). A code object is not thread-safe.
 */
#ifndef PENNANT_CODES_H
#define PENNANT_CODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pn_code_kind {
	PN_CODE_UNCODED = 0,
	PN_CODE_FRACTIONAL,
	PN_CODE_CYCLIC,
	PN_CODE_EXPANDER,
	PN_CODE_BIBD,
	PN_CODE_GCDC,
	PN_CODE_COMM_EFFICIENT,
	PN_CODE_KIND_COUNT_
} pn_code_kind;

/* Largest supported number of workers (keeps finished-set keys small). */
#define PN_CODE_MAX_N 1024

typedef struct pn_code_params {
	pn_code_kind kind;
	int n;              /* workers = partitions */
	int s;              /* stragglers tolerated (per cluster for GC-DC); load is s+1 */
	uint64_t seed;      /* random constructions (cyclic H, expander offsets) are seeded */
	int clusters;       /* GC-DC: number of clusters P, must divide n; 0: automatic */
	double warn_cond;   /* warn (stderr, once per code) above this cond; 0: 1e6; <0: never */
	int cache_entries;  /* decoder cache capacity; 0: 1024; <0: no cache */
	int cyclic_candidates; /* cyclic/GC-DC: draws of H to pick the best conditioned
				* from (worst cond over probe straggler sets); 0: 8, 1: first draw;
				* clusters/codes above 128 workers always use one draw */
	int comm_dim;       /* comm-efficient: m, messages are ceil(d/m) floats, load s+m,
			     * needs s+m <= n; 0: 2. Ignored (must be 0 or 1) for other codes */
} pn_code_params;

typedef struct pn_code pn_code;

/* Result of a decode (besides the vector a itself). */
typedef struct pn_decode_info {
	int nfinished;      /* |F| */
	int rank;           /* numerical rank of B_F */
	double cond;        /* 2-norm condition number of B_F over its numerical rank */
	double residual;    /* ‖aᵀB_F − 1‖₂, computed in float64 after the solve */
	double a_norm2;     /* ‖a‖₂: how much the workers' float32 rounding is amplified */
	double bound;       /* approximate codes: the promised residual bound; else 0 */
	bool exact;         /* residual ≤ 1e-7·sqrt(n): a is a valid decoder for the exact sum */
	bool ill_conditioned; /* cond above the warn threshold */
	bool from_cache;
} pn_decode_info;

typedef struct pn_code_stats {
	uint64_t decodes, cache_hits, cache_clears, ill_conditioned, reclusterings, moves;
} pn_code_stats;

/* Defaults for kind, n, s (seed 1, automatic clusters, default thresholds). */
void pn_code_params_init(pn_code_params *p, pn_code_kind kind, int n, int s);
/* "uncoded", "fractional", "cyclic", "expander", "bibd", "gcdc", "comm-efficient"; -1 if
 * unknown. */
int pn_code_kind_from_name(const char *name);
const char *pn_code_kind_name(pn_code_kind kind);

/* Builds a code. Invalid parameters (s >= n, (s+1)∤n for fractional, unknown BIBD, ...)
 * return -EINVAL with the reason in err. */
int pn_code_create(const pn_code_params *p, pn_code **out, char *err, size_t errlen);
void pn_code_free(pn_code *c);

pn_code_kind pn_code_kind_of(const pn_code *c);
int pn_code_n(const pn_code *c);
int pn_code_s(const pn_code *c);
/* True for codes whose decode is exact once pn_code_ready() holds. */
bool pn_code_is_exact(const pn_code *c);
/* Encode matrix B, n×n row-major (row = worker, column = partition). Changes after a
 * GC-DC re-clustering; the pointer stays valid for the code's lifetime. Comm-efficient
 * codes with m > 1: the coefficients of block 0 only (the full matrix is
 * pn_code_ce_matrix); its rows are signed, so it is never a gradient estimate. */
const double *pn_code_matrix(const pn_code *c);
/* Generation counter, incremented whenever B changes. */
uint64_t pn_code_generation(const pn_code *c);
/* Worker's partition list and coefficients (the non-zeros of its B row). Writes up to
 * cap entries; returns the number of non-zeros (may exceed cap), or -EINVAL.
 * Comm-efficient codes: the s+m partitions the worker holds, in pn_code_ce_encode order;
 * coefs are block 0's. */
int pn_code_partitions(const pn_code *c, int worker, int *parts, double *coefs, int cap);
/* Cluster (GC-DC) or replica group (fractional) of a worker; 0 for other codes. */
int pn_code_group_of(const pn_code *c, int worker);
int pn_code_groups(const pn_code *c);
/* Second singular value of B (approximate codes), 0 otherwise. */
double pn_code_sigma2(const pn_code *c);
/* Cyclic and GC-DC codes: worst condition number of B_F seen over the construction's
 * probe straggler sets (a lower bound on the true worst case); 1 for others. */
double pn_code_probe_cond(const pn_code *c);

/* Does the finished set meet the code's threshold (exact codes: decodable; approximate
 * codes: at least n−s finished; uncoded: all)? finished has n flags. */
bool pn_code_ready(const pn_code *c, const bool *finished);
/* Which unfinished workers are still useful given what has finished: e.g. the other
 * replicas of a fractional group with one finished member are not. Writes n flags. */
void pn_code_needed(const pn_code *c, const bool *finished, bool *needed);

/* Decode vector for the finished set: a (length n, zero outside F) with aᵀB_F ≈ 1ᵀ in
 * the least-squares sense. Returns 0 (check info->exact), -ENODATA if F is empty,
 * -ENOMEM, -EIO if LAPACK fails, -ENOTSUP for comm-efficient codes with m > 1 (their
 * decoder is a matrix: pn_code_ce_decode). */
int pn_code_decode(pn_code *c, const bool *finished, double *a, pn_decode_info *info);

/* Tell the code which workers straggled in the round that just ended (n flags).
 * GC-DC re-forms its clusters (B changes, decoders cache cleared) and returns the number
 * of workers that moved; other codes return 0. */
int pn_code_observe_round(pn_code *c, const bool *straggled);

/* Can a robust rule take this code's messages as its inputs? A robust rule needs every
 * message to be an estimate of the average gradient (up to one common scale): true when
 * every B row is non-negative with the same positive sum and messages are full vectors
 * (uncoded, fractional, expander, BIBD). Cyclic, GC-DC and comm-efficient rows mix
 * partitions with signed coefficients (and comm-efficient messages are d/m-dimensional
 * combinations of different coordinates), so a single message estimates nothing. */
bool pn_code_rows_are_estimates(const pn_code *c);

/* ---- communication-efficient codes (any code: m = 1 outside COMM_EFFICIENT) ---- */
/* m: each message is ceil(d/m) floats. */
int pn_code_comm_dim(const pn_code *c);
/* Message length for gradients of dimension d: ceil(d/m). */
size_t pn_code_message_len(const pn_code *c, size_t d);
/* Full encode matrix, n × (n·m) row-major: entry [i, j·m+u] is the coefficient of block u
 * of partition j in worker i's message (zero where the worker does not hold j). For other
 * codes this is pn_code_matrix (m = 1). */
const double *pn_code_ce_matrix(const pn_code *c);
/* Worker side: grads[k] is the full gradient (d values) of the k-th partition returned by
 * pn_code_partitions(c, worker, ...); out receives the ceil(d/m) message values
 * (accumulated in float64). Returns 0 or -EINVAL. */
int pn_code_ce_encode(const pn_code *c, int worker, const float *const *grads, size_t d, float *out);
int pn_code_ce_encode_f64(const pn_code *c, int worker, const double *const *grads, size_t d, double *out);
/* Aggregator side: decode matrix A (m × n row-major, zero columns outside F) with
 * Σ_{i∈F} A[u,i]·f_i = Σ_j grad_j[block u]. info: cond of G_F, residual
 * ‖A·E_F − [I_m … I_m]‖_F from the encode matrix itself, ‖A‖_F, exact. Returns 0 (check
 * info->exact: false with fewer than n−s finished), -ENODATA, -ENOMEM, -EIO. Cached like
 * pn_code_decode. */
int pn_code_ce_decode(pn_code *c, const bool *finished, double *A, pn_decode_info *info);
/* out (d values) = Σ_u Σ_{i∈F} A[u,i]·msgs[i] placed in block u; msgs[i] may be NULL where
 * column i of A is zero. The job's step direction is then out / n. Returns 0 or -EINVAL
 * (a message needed by A is NULL). */
int pn_code_ce_combine(const pn_code *c, const double *A, const float *const *msgs, size_t d, float *out);
int pn_code_ce_combine_f64(const pn_code *c, const double *A, const double *const *msgs, size_t d, double *out);

void pn_code_get_stats(const pn_code *c, pn_code_stats *st);
/* Human-readable one-line description, e.g. "cyclic(n=16,s=2)". */
const char *pn_code_describe(const pn_code *c);

#ifdef __cplusplus
}
#endif
#endif
