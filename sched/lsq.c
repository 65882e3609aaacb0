/* Float64 least squares through LAPACK (dgelsd: SVD based, robust to rank deficiency). */
#include "sched/lsq.h"
#include "sched/lapack.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int pn_lsq_solve(int m, int k, double *A, double *b, double *sv, int *rank)
{
	return pn_lsq_solve_nrhs(m, k, 1, A, b, sv, rank);
}

int pn_lsq_solve_nrhs(int m, int k, int nrhs, double *A, double *b, double *sv, int *rank)
{
	int lda = m > 0 ? m : 1, ldb = m > k ? m : k, info = 0, lwork = -1;
	double rcond = PN_LSQ_RCOND, wq = 0;
	int iwq = 0;
	if (ldb < 1)
		ldb = 1;
	/* Workspace query first. */
	dgelsd_(&m, &k, &nrhs, A, &lda, b, &ldb, sv, &rcond, rank, &wq, &lwork, &iwq, &info);
	if (info != 0)
		return -EIO;
	lwork = (int)wq + 1;
	int liwork = iwq > 1 ? iwq : 1;
	double *work = malloc(sizeof(double) * (size_t)lwork);
	int *iwork = malloc(sizeof(int) * (size_t)liwork);
	if (!work || !iwork) {
		free(work);
		free(iwork);
		return -ENOMEM;
	}
	dgelsd_(&m, &k, &nrhs, A, &lda, b, &ldb, sv, &rcond, rank, work, &lwork, iwork, &info);
	free(work);
	free(iwork);
	return info == 0 ? 0 : -EIO;
}

int pn_singular_values(int m, int k, const double *A, double *sv)
{
	int ldb = m > k ? m : k, rank = 0;
	double *a = malloc(sizeof(double) * (size_t)m * (size_t)k);
	double *b = calloc((size_t)ldb, sizeof(double));
	if (!a || !b) {
		free(a);
		free(b);
		return -ENOMEM;
	}
	memcpy(a, A, sizeof(double) * (size_t)m * (size_t)k);
	int rc = pn_lsq_solve(m, k, a, b, sv, &rank);
	free(a);
	free(b);
	return rc;
}

int pn_solve_square(int n, double *A, double *b)
{
	int nrhs = 1, info = 0;
	int *ipiv = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
	if (!ipiv)
		return -ENOMEM;
	dgesv_(&n, &nrhs, A, &n, ipiv, b, &n, &info);
	free(ipiv);
	if (info > 0)
		return -EDOM;
	return info == 0 ? 0 : -EIO;
}

int pn_finished_ids(const bool *finished, int n, int *idx)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		if (finished[i])
			idx[k++] = i;
	return k;
}

int pn_lsq_fit_ones(int m, int k, double *A, const int *idx, double *a, int *rank, double *cond)
{
	int ldb = m > k ? m : k;
	double *b = malloc(sizeof(double) * (size_t)ldb);
	double *sv = malloc(sizeof(double) * (size_t)(m < k ? m : k));
	int rc = -ENOMEM;
	*rank = 0;
	if (b && sv) {
		for (int r = 0; r < ldb; r++)
			b[r] = r < m ? 1.0 : 0.0;
		rc = pn_lsq_solve(m, k, A, b, sv, rank);
	}
	if (rc == 0) {
		memset(a, 0, sizeof(double) * (size_t)m);
		for (int c = 0; c < k; c++)
			a[idx[c]] = b[c];
		if (cond)
			*cond = *rank > 0 && sv[*rank - 1] > 0 ? sv[0] / sv[*rank - 1] : INFINITY;
	}
	free(b);
	free(sv);
	return rc;
}
