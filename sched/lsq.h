/* Dense float64 least-squares helpers for the decode solves (small: n×n at most). */
#ifndef PN_SCHED_LSQ_H
#define PN_SCHED_LSQ_H

#include <stdbool.h>

/* Relative singular-value cutoff for the rank decision. Well below the conditioning of the
 * codes we ship (cyclic codes reach 1e7..1e9), well above rounding noise of exact zeros. */
#define PN_LSQ_RCOND 1e-12

/* min ‖A x − b‖₂ (minimum norm) for column-major A (m×k). A and b are overwritten; on
 * return x is in b[0..k), sv[0..min(m,k)) holds the singular values (descending), *rank
 * the numerical rank. Returns 0 or -ENOMEM / -EIO. */
int pn_lsq_solve(int m, int k, double *A, double *b, double *sv, int *rank);

/* The same for nrhs right-hand sides: b is column-major max(m,k)×nrhs; on return the
 * solutions are in its first k rows. */
int pn_lsq_solve_nrhs(int m, int k, int nrhs, double *A, double *b, double *sv, int *rank);

/* The workers i < n with finished[i], in order, into idx; returns how many. */
int pn_finished_ids(const bool *finished, int n, int *idx);

/* The decode fit of a gradient code: min ‖A x − 1‖₂ over the k columns of A (column-major
 * m×k, overwritten), column c standing for worker idx[c]; a (m entries) gets x[c] at
 * idx[c] and zeros elsewhere, *rank the numerical rank, *cond (may be NULL) the condition
 * number over that rank (INFINITY at rank 0). Returns 0 or -ENOMEM / -EIO. */
int pn_lsq_fit_ones(int m, int k, double *A, const int *idx, double *a, int *rank, double *cond);

/* Singular values of a column-major m×k matrix (copied, not modified). */
int pn_singular_values(int m, int k, const double *A, double *sv);

/* Solve the square system A x = b (column-major, overwritten). Returns 0, -EDOM if
 * singular, -ENOMEM. */
int pn_solve_square(int n, double *A, double *b);

#endif
