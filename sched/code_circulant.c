/* Approximate codes with a circulant 0/1 encode matrix: worker i computes the partitions
 * (i + o) mod n for each offset o in a set O of size d = s+1.
 *   expander: O = {0} ∪ s random distinct offsets; among a few seeded draws keep the one
 *             with the smallest second singular value σ₂ (best spectral expansion).
 *   bibd:     O is a cyclic (n, k, λ) difference set, i.e. B is the incidence matrix of a
 *             symmetric BIBD, so B Bᵀ = (k−λ)I + λJ and σ₂ = sqrt(k−λ) exactly.
 * For a circulant the singular values are |Σ_{o∈O} ω^{j·o}|, j = 0..n−1 (ω = e^{2πi/n}). */
#include "sched/code_internal.h"
#include "sched/rng.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool approx_ready(const pn_code *c, const bool *finished)
{
	return pn_code_count_finished(c, finished) >= c->n - c->s;
}

static const struct pn_code_ops circulant_ops = { .ready = approx_ready };

static double circulant_sigma2(int n, const int *off, int d)
{
	double best = 0;
	for (int j = 1; j < n; j++) {
		double re = 0, im = 0;
		for (int k = 0; k < d; k++) {
			double ang = 2.0 * M_PI * (double)j * (double)off[k] / (double)n;
			re += cos(ang);
			im += sin(ang);
		}
		double mag = sqrt(re * re + im * im);
		if (mag > best)
			best = mag;
	}
	return best;
}

static void fill_circulant(pn_code *c, const int *off, int d)
{
	int n = c->n;
	memset(c->B, 0, sizeof(double) * (size_t)n * (size_t)n);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < d; k++)
			c->B[(size_t)i * (size_t)n + (size_t)((i + off[k]) % n)] = 1.0;
}

/* Draw s distinct offsets from 1..n-1 (partial Fisher-Yates). */
static void draw_offsets(pn_rng *rng, int n, int s, int *pool, int *off)
{
	for (int i = 0; i < n - 1; i++)
		pool[i] = i + 1;
	off[0] = 0;
	for (int k = 0; k < s; k++) {
		int j = k + (int)pn_rng_below(rng, (uint64_t)(n - 1 - k));
		int t = pool[k];
		pool[k] = pool[j];
		pool[j] = t;
		off[k + 1] = pool[k];
	}
}

int pn_code_build_expander(pn_code *c, const pn_code_params *p, char *err, size_t errlen)
{
	int n = p->n, d = p->s + 1;
	int *pool = malloc(sizeof(int) * (size_t)n);
	int *off = malloc(sizeof(int) * (size_t)d);
	int *best = malloc(sizeof(int) * (size_t)d);
	if (!pool || !off || !best) {
		free(pool);
		free(off);
		free(best);
		return pn_fail(err, errlen, ENOMEM, "expander: out of memory");
	}
	pn_rng rng;
	pn_rng_seed(&rng, p->seed);
	double best_s2 = INFINITY;
	for (int draw = 0; draw < 64; draw++) {
		draw_offsets(&rng, n, p->s, pool, off);
		double s2 = circulant_sigma2(n, off, d);
		if (s2 < best_s2 - 1e-12) {
			best_s2 = s2;
			memcpy(best, off, sizeof(int) * (size_t)d);
		}
	}
	fill_circulant(c, best, d);
	c->sigma2 = best_s2;
	c->exact = false;
	c->ops = &circulant_ops;
	snprintf(c->desc, sizeof c->desc, "expander(n=%d,s=%d,sigma2=%.3f)", n, p->s, best_s2);
	free(pool);
	free(off);
	free(best);
	return 0;
}

/* Singer difference sets (projective planes PG(2,q), λ = 1). */
static const struct {
	int n, k;
	int set[9];
} singer[] = {
	{ 7, 3, { 0, 1, 3 } },
	{ 13, 4, { 0, 1, 3, 9 } },
	{ 21, 5, { 3, 6, 7, 12, 14 } },
	{ 31, 6, { 1, 5, 11, 24, 25, 27 } },
	{ 57, 8, { 1, 6, 7, 9, 19, 38, 42, 49 } },
	{ 73, 9, { 1, 2, 4, 8, 16, 32, 37, 55, 64 } },
};

static bool is_prime(int p)
{
	if (p < 2)
		return false;
	for (int q = 2; q * q <= p; q++)
		if (p % q == 0)
			return false;
	return true;
}

/* Checks that every non-zero difference occurs exactly λ times; returns λ or -1. */
static int difference_set_lambda(int n, const int *set, int k)
{
	int *count = calloc((size_t)n, sizeof(int));
	if (!count)
		return -1;
	for (int a = 0; a < k; a++)
		for (int b = 0; b < k; b++)
			if (a != b)
				count[((set[a] - set[b]) % n + n) % n]++;
	int lambda = count[1 % n];
	for (int x = 1; x < n; x++)
		if (count[x] != lambda)
			lambda = -1;
	free(count);
	return lambda;
}

int pn_code_build_bibd(pn_code *c, const pn_code_params *p, char *err, size_t errlen)
{
	int n = p->n, k = p->s + 1;
	int set[100];
	int found = 0;
	for (size_t t = 0; t < sizeof singer / sizeof singer[0] && !found; t++) {
		if (singer[t].n == n && singer[t].k == k) {
			memcpy(set, singer[t].set, sizeof(int) * (size_t)k);
			found = 1;
		}
	}
	/* Paley: quadratic residues mod a prime p ≡ 3 (mod 4), a (p, (p−1)/2, (p−3)/4) set. */
	if (!found && n < 100 && is_prime(n) && n % 4 == 3 && k == (n - 1) / 2) {
		int m = 0;
		for (int x = 1; x < n; x++) {
			bool qr = false;
			for (int y = 1; y < n && !qr; y++)
				qr = (y * y) % n == x;
			if (qr)
				set[m++] = x;
		}
		found = m == k;
	}
	int lambda = found ? difference_set_lambda(n, set, k) : -1;
	if (lambda < 0) {
		pn_errf(err, errlen,
			"bibd: no cyclic difference set with n=%d and block size s+1=%d (have Singer "
			"(7,3) (13,4) (21,5) (31,6) (57,8) (73,9) and Paley (p,(p-1)/2) for primes "
			"p=3 mod 4 below 100)", n, k);
		return -EINVAL;
	}
	fill_circulant(c, set, k);
	c->sigma2 = sqrt((double)(k - lambda));
	c->exact = false;
	c->ops = &circulant_ops;
	snprintf(c->desc, sizeof c->desc, "bibd(n=%d,k=%d,lambda=%d)", n, k, lambda);
	return 0;
}
