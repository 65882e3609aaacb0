/* MDS-coded A·x: every set of k finishers (and every larger set) decodes A·x exactly. */
#include "pennant/coded_matmul.h"
#include "sched/rng.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#define ROWS 11 /* not a multiple of most k: padding is exercised */
#define COLS 5
#define MAXN 9

static double rel_err(const double *a, const double *b, size_t m)
{
	double e = 0, s = 0;
	for (size_t t = 0; t < m; t++) {
		e += (a[t] - b[t]) * (a[t] - b[t]);
		s += b[t] * b[t];
	}
	return sqrt(e / s);
}

Test(coded_matmul, every_finished_set_of_at_least_k)
{
	pn_rng rng;
	pn_rng_seed(&rng, 3);
	double A[ROWS * COLS], x[COLS], Ax[ROWS], coded[MAXN][ROWS * COLS], y[MAXN][ROWS], out[ROWS];
	long sets = 0, exact_k = 0;
	for (int n = 1; n <= MAXN; n++)
		for (int k = 1; k <= n && k <= ROWS; k++) {
			pn_mds_matmul *mm = NULL;
			char err[128];
			cr_assert_eq(pn_mds_matmul_create(n, k, 100 + (uint64_t)(n * 16 + k), &mm, err, sizeof err), 0, "%s", err);
			for (size_t t = 0; t < ROWS * COLS; t++)
				A[t] = pn_rng_gauss(&rng);
			for (int c = 0; c < COLS; c++)
				x[c] = pn_rng_gauss(&rng);
			for (int r = 0; r < ROWS; r++) {
				Ax[r] = 0;
				for (int c = 0; c < COLS; c++)
					Ax[r] += A[r * COLS + c] * x[c];
			}
			size_t br = pn_mds_matmul_block_rows(mm, ROWS);
			cr_assert_eq(br, (size_t)(ROWS + k - 1) / (size_t)k);
			for (int i = 0; i < n; i++) {
				cr_assert_eq(pn_mds_matmul_encode(mm, i, A, ROWS, COLS, coded[i]), 0);
				for (size_t r = 0; r < br; r++) {
					y[i][r] = 0;
					for (int c = 0; c < COLS; c++)
						y[i][r] += coded[i][r * COLS + c] * x[c];
				}
			}
			for (unsigned mask = 1; mask < (1u << n); mask++) {
				int f = __builtin_popcount(mask);
				bool fin[MAXN];
				const double *yp[MAXN];
				for (int i = 0; i < n; i++) {
					fin[i] = mask & (1u << i);
					yp[i] = fin[i] ? y[i] : NULL;
				}
				double cond = 0;
				int rc = pn_mds_matmul_decode(mm, fin, yp, ROWS, out, &cond);
				if (f < k) {
					cr_assert_eq(rc, -EAGAIN);
					continue;
				}
				cr_assert_eq(rc, 0);
				double e = rel_err(out, Ax, ROWS);
				cr_assert_leq(e, 1e-9, "n=%d k=%d finished %#x: relative error %g (cond %g)", n, k, mask, e, cond);
				sets++;
				exact_k += f == k;
			}
			pn_mds_matmul_free(mm);
		}
	cr_assert_gt(exact_k, 1000);
	cr_assert_eq(sets, 4097); /* Σ_n n·2^(n−1): every k, every set of at least k */
}

Test(coded_matmul, bad_parameters)
{
	pn_mds_matmul *mm = (pn_mds_matmul *)1;
	char err[128] = "";
	cr_assert_eq(pn_mds_matmul_create(4, 5, 1, &mm, err, sizeof err), -EINVAL);
	cr_assert_null(mm);
	cr_assert(strstr(err, "k <= n"));
	cr_assert_eq(pn_mds_matmul_create(0, 0, 1, &mm, NULL, 0), -EINVAL);
}
