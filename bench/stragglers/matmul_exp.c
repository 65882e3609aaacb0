/* Coded A·x (Lee, Lam, Pedarsani, Papailiopoulos, Ramchandran 2018). Each of n workers
 * gets a 1/k share of the rows and takes T_i = (shift + X_i)/k, X_i ~ Exp(rate), i.i.d.
 *   uncoded: k = n, wait for all:       E = (shift + H_n/rate) / n
 *   coded:   (n, k) MDS, wait for k:    E = (shift + (H_n − H_{n−k})/rate) / k
 * with k chosen to minimise the closed form. For rate and shift fixed the ratio grows as
 * Θ(log n) (with shift = 0 the best k is 1 and the ratio is exactly H_n). Both schemes see
 * the same draws each round; the coded result is decoded for real (pn_mds_matmul) from the
 * k first finishers on the first rounds and checked against A·x. */
#include "matmul_exp.h"

#include "pennant/coded_matmul.h"
#include "sched/rng.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DECODE_ROUNDS 3

static double harmonic(int n)
{
	double h = 0;
	for (int i = 1; i <= n; i++)
		h += 1.0 / i;
	return h;
}

static double coded_mean(const matmul_options *o, int n, int k)
{
	return (o->shift + (harmonic(n) - harmonic(n - k)) / o->rate) / k;
}

static int best_k(const matmul_options *o, int n)
{
	int best = 1;
	for (int k = 2; k <= n; k++)
		if (coded_mean(o, n, k) < coded_mean(o, n, best))
			best = k;
	return best;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Real encode / multiply / decode from the k fastest workers of this round. */
static int decode_check(int n, int k, const double *t, pn_rng *rng, uint64_t seed, double *err)
{
	size_t rows = (size_t)(2 * k + 3), cols = 16;
	pn_mds_matmul *mm = NULL;
	int rc = pn_mds_matmul_create(n, k, seed, &mm, NULL, 0);
	if (rc < 0)
		return rc;
	size_t br = pn_mds_matmul_block_rows(mm, rows);
	double *A = malloc(sizeof(double) * rows * cols), *x = malloc(sizeof(double) * cols);
	double *Ax = malloc(sizeof(double) * rows), *out = malloc(sizeof(double) * rows);
	double *blk = malloc(sizeof(double) * br * cols), *y = malloc(sizeof(double) * (size_t)n * br);
	double *sorted = malloc(sizeof(double) * (size_t)n);
	bool *fin = calloc((size_t)n, sizeof(bool));
	const double **yp = calloc((size_t)n, sizeof(double *));
	rc = -ENOMEM;
	if (!A || !x || !Ax || !out || !blk || !y || !sorted || !fin || !yp)
		goto done;
	for (size_t v = 0; v < rows * cols; v++)
		A[v] = pn_rng_gauss(rng);
	for (size_t c = 0; c < cols; c++)
		x[c] = pn_rng_gauss(rng);
	for (size_t r = 0; r < rows; r++) {
		Ax[r] = 0;
		for (size_t c = 0; c < cols; c++)
			Ax[r] += A[r * cols + c] * x[c];
	}
	memcpy(sorted, t, sizeof(double) * (size_t)n);
	qsort(sorted, (size_t)n, sizeof(double), cmp_double);
	for (int i = 0, got = 0; i < n; i++) {
		fin[i] = t[i] <= sorted[k - 1] && got < k;
		got += fin[i];
		if (!fin[i])
			continue;
		pn_mds_matmul_encode(mm, i, A, rows, cols, blk);
		for (size_t r = 0; r < br; r++) {
			double v = 0;
			for (size_t c = 0; c < cols; c++)
				v += blk[r * cols + c] * x[c];
			y[(size_t)i * br + r] = v;
		}
		yp[i] = y + (size_t)i * br;
	}
	if ((rc = pn_mds_matmul_decode(mm, fin, yp, rows, out, NULL)) < 0)
		goto done;
	double e = 0, s = 0;
	for (size_t r = 0; r < rows; r++) {
		e += (out[r] - Ax[r]) * (out[r] - Ax[r]);
		s += Ax[r] * Ax[r];
	}
	*err = sqrt(e / s);
done:
	free(A), free(x), free(Ax), free(out), free(blk), free(y), free(sorted), free(fin), free(yp);
	pn_mds_matmul_free(mm);
	return rc;
}

int run_matmul(const matmul_options *o)
{
	pn_rng rng;
	pn_rng_seed(&rng, o->seed + 4242);
	double *X = malloc(sizeof(double) * (size_t)o->max_n), *t = malloc(sizeof(double) * (size_t)o->max_n);
	double *sorted = malloc(sizeof(double) * (size_t)o->max_n);
	if (!X || !t || !sorted) {
		free(X), free(t), free(sorted);
		return -ENOMEM;
	}
	if (o->json)
		printf("{\"matmul\":{\"shift\":%g,\"rate\":%g,\"rounds\":%d,\"rows\":[", o->shift, o->rate, o->rounds);
	else
		printf("coded matrix-vector multiplication (Lee et al.): worker time (shift + Exp(rate))/k with a "
		       "1/k share, shift=%g rate=%g, %d rounds per n\n"
		       "uncoded: k=n, wait for all; coded: (n,k) Gaussian MDS, wait for the k-th, k minimising the "
		       "closed form\n"
		       "%5s %5s %10s %10s %8s %8s %9s %10s\n",
		       o->shift, o->rate, o->rounds, "n", "k", "uncoded", "coded", "ratio", "H_n", "ratio(cf)",
		       "decode err");
	int rc = 0;
	for (int n = 2, row = 0; n <= o->max_n && rc == 0; n *= 2, row++) {
		int k = best_k(o, n);
		double su = 0, sc = 0, worst_err = 0;
		for (int r = 0; r < o->rounds && rc == 0; r++) {
			double tu = 0;
			for (int i = 0; i < n; i++) {
				X[i] = pn_rng_exp(&rng, 1.0 / o->rate);
				tu = fmax(tu, (o->shift + X[i]) / n);
				t[i] = (o->shift + X[i]) / k;
			}
			memcpy(sorted, t, sizeof(double) * (size_t)n);
			qsort(sorted, (size_t)n, sizeof(double), cmp_double);
			su += tu;
			sc += sorted[k - 1];
			if (r < DECODE_ROUNDS) {
				double e = 0;
				rc = decode_check(n, k, t, &rng, o->seed + (uint64_t)(n * 31 + r), &e);
				worst_err = fmax(worst_err, e);
			}
		}
		if (rc < 0)
			break;
		double mu = su / o->rounds, mc = sc / o->rounds, h = harmonic(n);
		double cf = (o->shift + h / o->rate) / n / coded_mean(o, n, k);
		if (o->json)
			printf("%s{\"n\":%d,\"k\":%d,\"uncoded\":%.6g,\"coded\":%.6g,\"ratio\":%.6g,\"H_n\":%.6g,"
			       "\"ratio_closed_form\":%.6g,\"decode_rel_err\":%.3g}",
			       row ? "," : "", n, k, mu, mc, mu / mc, h, cf, worst_err);
		else
			printf("%5d %5d %10.5f %10.5f %8.3f %8.3f %9.3f %10.2g\n", n, k, mu, mc, mu / mc, h, cf, worst_err);
	}
	if (o->json && rc == 0)
		printf("]}}\n");
	free(X), free(t), free(sorted);
	return rc;
}
