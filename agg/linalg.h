/* Small dense linear algebra on p×p matrices (LAPACK underneath). */
#ifndef PENNANT_RUNTIME_LINALG_H
#define PENNANT_RUNTIME_LINALG_H

/* Eigen-decomposition of a symmetric n×n matrix A (row- or column-major: symmetric).
 * w: n eigenvalues ascending; Z: column-major eigenvectors, Z[j*n + i] is component i of
 * eigenvector j. Returns 0 or the LAPACK info code. */
int pn_sym_eig(int n, const double *A, double *w, double *Z);

/* C = A·B for row-major A (m×k), B (k×n). */
void pn_matmul(int m, int k, int n, const double *A, const double *B, double *C);

#endif
