/* MDS-coded A·x with a Gaussian generator (see include/pennant/coded_matmul.h). */
#include "pennant/coded_matmul.h"
#include "sched/lsq.h"
#include "sched/rng.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pn_mds_matmul {
	int n, k;
	double *G; /* n×k row-major */
};

int pn_mds_matmul_create(int n, int k, uint64_t seed, pn_mds_matmul **out, char *err, size_t errlen)
{
	*out = NULL;
	if (n < 1 || n > 4096 || k < 1 || k > n)
		return pn_fail(err, errlen, EINVAL, "mds matmul: need 1 <= k <= n <= 4096 (n=%d, k=%d)", n, k);
	pn_mds_matmul *mm = calloc(1, sizeof *mm);
	if (!mm || !(mm->G = malloc(sizeof(double) * (size_t)n * (size_t)k))) {
		free(mm);
		return -ENOMEM;
	}
	mm->n = n;
	mm->k = k;
	pn_rng rng;
	pn_rng_seed(&rng, seed);
	for (size_t x = 0; x < (size_t)n * (size_t)k; x++)
		mm->G[x] = pn_rng_gauss(&rng);
	*out = mm;
	return 0;
}

void pn_mds_matmul_free(pn_mds_matmul *mm)
{
	if (!mm)
		return;
	free(mm->G);
	free(mm);
}

int pn_mds_matmul_n(const pn_mds_matmul *mm) { return mm->n; }
int pn_mds_matmul_k(const pn_mds_matmul *mm) { return mm->k; }

size_t pn_mds_matmul_block_rows(const pn_mds_matmul *mm, size_t rows)
{
	return (rows + (size_t)mm->k - 1) / (size_t)mm->k;
}

int pn_mds_matmul_encode(const pn_mds_matmul *mm, int worker, const double *A, size_t rows, size_t cols,
			 double *out)
{
	if (worker < 0 || worker >= mm->n || !A || !out)
		return -EINVAL;
	size_t br = pn_mds_matmul_block_rows(mm, rows);
	memset(out, 0, sizeof(double) * br * cols);
	for (int l = 0; l < mm->k; l++) {
		double g = mm->G[(size_t)worker * (size_t)mm->k + (size_t)l];
		for (size_t r = 0; r < br; r++) {
			size_t src = (size_t)l * br + r;
			if (src >= rows)
				break; /* zero padding */
			for (size_t c = 0; c < cols; c++)
				out[r * cols + c] += g * A[src * cols + c];
		}
	}
	return 0;
}

int pn_mds_matmul_decode(const pn_mds_matmul *mm, const bool *finished, const double *const *y, size_t rows,
			 double *out, double *cond)
{
	int n = mm->n, k = mm->k, f = 0;
	for (int i = 0; i < n; i++)
		f += finished[i] ? 1 : 0;
	if (f < k)
		return -EAGAIN;
	size_t br = pn_mds_matmul_block_rows(mm, rows);
	/* Solve G_F Z = Y_F: G_F is f×k (column-major), Y_F f×br (one column per block row). */
	double *Gf = malloc(sizeof(double) * (size_t)f * (size_t)k);
	double *Y = malloc(sizeof(double) * (size_t)f * br);
	double *sv = malloc(sizeof(double) * (size_t)k);
	int rc = -ENOMEM;
	if (!Gf || !Y || !sv)
		goto out;
	for (int i = 0, row = 0; i < n; i++) {
		if (!finished[i])
			continue;
		if (!y[i]) {
			rc = -EINVAL;
			goto out;
		}
		for (int l = 0; l < k; l++)
			Gf[(size_t)l * (size_t)f + (size_t)row] = mm->G[(size_t)i * (size_t)k + (size_t)l];
		for (size_t r = 0; r < br; r++)
			Y[r * (size_t)f + (size_t)row] = y[i][r];
		row++;
	}
	int rank = 0;
	if ((rc = pn_lsq_solve_nrhs(f, k, (int)br, Gf, Y, sv, &rank)) < 0)
		goto out;
	if (cond)
		*cond = rank == k && sv[k - 1] > 0 ? sv[0] / sv[k - 1] : INFINITY;
	/* Z[l, r] = Y[r·f + l]: block l, row r. */
	for (int l = 0; l < k; l++)
		for (size_t r = 0; r < br; r++) {
			size_t dst = (size_t)l * br + r;
			if (dst < rows)
				out[dst] = Y[r * (size_t)f + (size_t)l];
		}
	rc = 0;
out:
	free(Gf);
	free(Y);
	free(sv);
	return rc;
}
