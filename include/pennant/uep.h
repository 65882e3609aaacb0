/* Approximate gradient coding with unequal error protection (UEP).
 *
 * The gradient is cut into blocks (layers). Block b gets its own cyclic 0/1 repetition code
 * of degree d_b: worker i computes block b of the partitions {i..i+d_b−1} mod n, so each
 * partition's block b is held by d_b workers. Blocks whose gradients are larger get more
 * redundancy: with a deadline at which each worker is missing with probability p, a block
 * of degree d loses a partition with probability ≈ p^d, costing about its squared norm, so
 * the expected squared error is ≈ n·Σ_b ν_b²·p^{d_b} (ν_b: one partition's block-b norm).
 * The degrees minimise that subject to the load budget Σ_b φ_b·d_b ≤ D (φ_b: the block's
 * share of the coordinates, i.e. of the compute and of the message): a greedy on the
 * marginal gain per unit load, ν_b²·p^{d_b}(1−p)/φ_b, which is exact for this separable
 * convex integer problem. Equal protection is d_b = D for every block (same total load).
 *
 * Cost model (stated, not universal): the compute of block b for one partition is
 * proportional to φ_b, e.g. per-layer work of a layer-wise computation; every worker sends
 * one full-length vector. Decoding is per block: least squares min ‖B_{b,F}ᵀa − 1‖ over the
 * finished workers, like the approximate codes in codes.h. */
#ifndef PENNANT_UEP_H
#define PENNANT_UEP_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PN_UEP_MAX_BLOCKS 64

typedef struct pn_uep_params {
	int n;              /* workers = partitions, 1..1024 */
	int blocks;         /* 1..PN_UEP_MAX_BLOCKS */
	const double *norm; /* blocks: ν_b, expected norm of one partition's block (e.g. last round's) */
	const double *size; /* blocks: φ_b > 0, coordinate share (normalised to sum 1) */
	double load;        /* budget D >= 1: mean partitions per coordinate per worker */
	double p_miss;      /* assumed probability that a worker misses the deadline, (0, 1) */
	bool equal;         /* equal protection: d_b = floor(D) for every block */
} pn_uep_params;

typedef struct pn_uep pn_uep;

int pn_uep_create(const pn_uep_params *p, struct pn_uep **out, char *err, size_t errlen);
void pn_uep_free(pn_uep *u);
int pn_uep_blocks(const pn_uep *u);
int pn_uep_degree(const pn_uep *u, int block);
/* Σ_b φ_b·d_b: the load actually used (<= the budget). */
double pn_uep_load(const pn_uep *u);
/* Partitions worker computes for a block (d_b of them). Returns d_b or -EINVAL. */
int pn_uep_partitions(const pn_uep *u, int block, int worker, int *parts, int cap);
/* Decode vector for a block (n values, zero outside F) and its effective partition weights
 * w = B_{b,F}ᵀa (n values, may be NULL). *residual = ‖w − 1‖. -ENODATA if F is empty. */
int pn_uep_decode(const pn_uep *u, int block, const bool *finished, double *a, double *w, double *residual);

#ifdef __cplusplus
}
#endif
#endif
