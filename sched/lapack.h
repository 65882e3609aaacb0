/* The few LAPACK routines the scheduler uses (Fortran ABI, column-major, no character
 * arguments so no hidden string lengths). Linked through the `lapack` dependency. */
#ifndef PN_SCHED_LAPACK_H
#define PN_SCHED_LAPACK_H

/* Minimum-norm least squares min ‖A x − b‖ via divide-and-conquer SVD. */
void dgelsd_(const int *m, const int *n, const int *nrhs, double *a, const int *lda, double *b,
	     const int *ldb, double *s, const double *rcond, int *rank, double *work,
	     const int *lwork, int *iwork, int *info);
/* Solve A X = B by LU with partial pivoting. */
void dgesv_(const int *n, const int *nrhs, double *a, const int *lda, int *ipiv, double *b,
	    const int *ldb, int *info);

#endif
