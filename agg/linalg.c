/* Thin wrappers over LAPACK/BLAS for the p×p work of the Gram rules. */
#include "linalg.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (Fortran ABI; hidden string lengths trail the arguments). */
extern void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
		    const int *lda, const double *vl, const double *vu, const int *il, const int *iu,
		    const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
		    double *work, const int *lwork, int *iwork, const int *liwork, int *info,
		    size_t l1, size_t l2, size_t l3);

int pn_sym_eig(int n, const double *A, double *w, double *Z)
{
	double *a = malloc(sizeof(double) * (size_t)n * (size_t)n);
	int *isuppz = malloc(sizeof(int) * 2 * (size_t)(n > 0 ? n : 1));
	if (!a || !isuppz) {
		free(a);
		free(isuppz);
		return -1;
	}
	memcpy(a, A, sizeof(double) * (size_t)n * (size_t)n);
	double vl = 0, vu = 0, abstol = 0, wq;
	int il = 0, iu = 0, m = 0, info = 0, lwork = -1, liwork = -1, iwq;
	dsyevr_("V", "A", "U", &n, a, &n, &vl, &vu, &il, &iu, &abstol, &m, w, Z, &n, isuppz, &wq,
		&lwork, &iwq, &liwork, &info, 1, 1, 1);
	if (info == 0) {
		lwork = (int)wq;
		liwork = iwq;
		double *work = malloc(sizeof(double) * (size_t)lwork);
		int *iwork = malloc(sizeof(int) * (size_t)liwork);
		if (work && iwork)
			dsyevr_("V", "A", "U", &n, a, &n, &vl, &vu, &il, &iu, &abstol, &m, w, Z, &n,
				isuppz, work, &lwork, iwork, &liwork, &info, 1, 1, 1);
		else
			info = -1;
		free(work);
		free(iwork);
	}
	free(a);
	free(isuppz);
	return info;
}

void pn_matmul(int m, int k, int n, const double *A, const double *B, double *C)
{
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, A, k, B, n, 0.0, C, n);
}
