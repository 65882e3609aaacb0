/* MDS-coded matrix–vector multiplication (Lee, Lam, Pedarsani, Papailiopoulos, Ramchandran,
 * "Speeding up distributed machine learning using codes", 2018).
 *
 * A (rows × cols) is cut into k row blocks A_0..A_{k−1} of ceil(rows/k) rows (the last one
 * zero-padded). Worker i of n stores the coded block Ã_i = Σ_l G[i,l]·A_l, with G (n×k) a
 * random Gaussian generator (every k×k row subset invertible with probability 1: an (n,k)
 * MDS code), and computes y_i = Ã_i·x. Any k finished workers give A·x: the rows of
 * Y_F = G_F·[A_0x; …; A_{k−1}x] are solved for the blocks (least squares over all of F when
 * more than k finished). Float64 throughout. Not thread-safe. */
#ifndef PENNANT_CODED_MATMUL_H
#define PENNANT_CODED_MATMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pn_mds_matmul pn_mds_matmul;

/* 1 <= k <= n <= 4096. -EINVAL with the reason in err, -ENOMEM. */
int pn_mds_matmul_create(int n, int k, uint64_t seed, pn_mds_matmul **out, char *err, size_t errlen);
void pn_mds_matmul_free(pn_mds_matmul *mm);
int pn_mds_matmul_n(const pn_mds_matmul *mm);
int pn_mds_matmul_k(const pn_mds_matmul *mm);
/* Rows of every coded block: ceil(rows/k). */
size_t pn_mds_matmul_block_rows(const pn_mds_matmul *mm, size_t rows);
/* Worker's coded block (block_rows × cols, row-major) from A (rows × cols, row-major). */
int pn_mds_matmul_encode(const pn_mds_matmul *mm, int worker, const double *A, size_t rows, size_t cols,
			 double *out);
/* A·x (rows values) from the finished workers' products y[i] (block_rows values each; NULL
 * for unfinished). *cond: condition number of G_F. Returns 0, -EAGAIN with fewer than k
 * finished, -ENOMEM, -EIO. */
int pn_mds_matmul_decode(const pn_mds_matmul *mm, const bool *finished, const double *const *y, size_t rows,
			 double *out, double *cond);

#ifdef __cplusplus
}
#endif
#endif
