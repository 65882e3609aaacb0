/* Communication-efficient gradient coding (Ye & Abbe, "Communication-computation efficient
 * gradient coding", ICML 2018), MDS construction from a random Gaussian generator.
 *
 * n workers, s stragglers, messages of 1/m of the gradient, load ℓ = s+m partitions per
 * worker (the paper's optimal trade-off ℓ ≥ s+m). Worker i holds S_i = {i..i+ℓ−1} mod n.
 * Gradients are cut into m blocks, grad_j = (g_j⁽⁰⁾ … g_j⁽ᵐ⁻¹⁾).
 *
 * Let K = n−s, N = K−m and G (K×n) Gaussian: with probability 1 every K×K column subset is
 * invertible (an MDS code) and so is every N×N subset of its first N rows. Worker i sends
 *     f_i = Σ_k G[k,i]·P_k,   P_k = Σ_{j,u} Q[k,(j,u)]·g_j⁽ᵘ⁾   (k = 0..K−1)
 * with Q[N+u', (j,u)] = δ(u,u'), so that P_{N+u} = Σ_j g_j⁽ᵘ⁾ are the block sums, and the
 * first N rows of Q chosen per (j,u) so that worker i does not need g_j when j ∉ S_i:
 *     Σ_{k<N} G[k,i]·Q[k,(j,u)] = −G[N+u, i]   for the N workers i that do not hold j,
 * an N×N solve. The encode matrix is E[i,(j,u)] = Σ_k G[k,i]·Q[k,(j,u)] (zero outside S_i).
 * From any F with |F| ≥ K: f_F = G_Fᵀ P, so A = Xᵀ with G_F X = [0; I_m] (minimum norm,
 * dgelsd) gives Σ_{i∈F} A[u,i] f_i = P_{N+u}. Several G are drawn and the one with the
 * smallest worst condition number (decode G_F over probe straggler sets, and the encode
 * N×N solves) is kept. */
#include "sched/code_internal.h"
#include "sched/lsq.h"
#include "sched/rng.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ce {
	int m, load, K, N;
	double *G;       /* K×n row-major generator */
};

static void ce_free(void *impl)
{
	struct ce *ce = impl;
	if (ce)
		free(ce->G);
	free(ce);
}

static bool ce_ready(const pn_code *c, const bool *finished)
{
	return pn_code_count_finished(c, finished) >= c->n - c->s;
}

static int ce_partitions(const pn_code *c, int worker, int *parts, double *coefs, int cap)
{
	const struct ce *ce = c->impl;
	int n = c->n, m = ce->m;
	for (int k = 0; k < ce->load && k < cap; k++) {
		int j = (worker + k) % n;
		if (parts)
			parts[k] = j;
		if (coefs)
			coefs[k] = pn_code_ce_matrix(c)[(size_t)worker * (size_t)n * (size_t)m + (size_t)j * (size_t)m];
	}
	return ce->load;
}

/* Does worker i hold partition j? */
static bool holds(const struct ce *ce, int n, int i, int j)
{
	return ((j - i) % n + n) % n < ce->load;
}

/* Singular values of G's columns F (K×k, column-major copy); cond over the full rank. */
static double cols_cond(const struct ce *ce, int n, const int *cols, int k, double *work, double *sv)
{
	int K = ce->K;
	for (int c = 0; c < k; c++)
		for (int r = 0; r < K; r++)
			work[(size_t)c * (size_t)K + (size_t)r] = ce->G[(size_t)r * (size_t)n + (size_t)cols[c]];
	if (pn_singular_values(K, k, work, sv) < 0)
		return INFINITY;
	int rk = K < k ? K : k;
	return sv[rk - 1] > 0 ? sv[0] / sv[rk - 1] : INFINITY;
}

/* Fills E from G; *enc_cond = worst cond of the N×N encode systems. -EDOM if singular. */
static int ce_encode_matrix(pn_code *c, struct ce *ce, double *enc_cond)
{
	int n = c->n, m = ce->m, N = ce->N;
	size_t nm = (size_t)n * (size_t)m;
	double *M = malloc(sizeof(double) * (size_t)(N > 0 ? N * N : 1));
	double *M0 = malloc(sizeof(double) * (size_t)(N > 0 ? N * N : 1));
	double *q = malloc(sizeof(double) * (size_t)(N > 0 ? N : 1));
	double *sv = malloc(sizeof(double) * (size_t)(N > 0 ? N : 1));
	int *out = malloc(sizeof(int) * (size_t)n);
	int rc = -ENOMEM;
	if (!M || !M0 || !q || !sv || !out)
		goto done;
	memset(c->E, 0, sizeof(double) * (size_t)n * nm);
	*enc_cond = 1;
	rc = 0;
	for (int j = 0; j < n && rc == 0; j++) {
		int no = 0;
		for (int i = 0; i < n; i++)
			if (!holds(ce, n, i, j))
				out[no++] = i;
		/* M0[r,k] = G[k, out[r]], column-major N×N. */
		for (int k = 0; k < N; k++)
			for (int r = 0; r < N; r++)
				M0[(size_t)k * (size_t)N + (size_t)r] = ce->G[(size_t)k * (size_t)n + (size_t)out[r]];
		if (N > 0) {
			if (pn_singular_values(N, N, M0, sv) < 0) {
				rc = -EIO;
				break;
			}
			double cond = sv[N - 1] > 0 ? sv[0] / sv[N - 1] : INFINITY;
			if (!(cond < 1e12)) {
				rc = -EDOM;
				break;
			}
			*enc_cond = fmax(*enc_cond, cond);
		}
		for (int u = 0; u < m && rc == 0; u++) {
			memcpy(M, M0, sizeof(double) * (size_t)N * (size_t)N);
			for (int r = 0; r < N; r++)
				q[r] = -ce->G[(size_t)(N + u) * (size_t)n + (size_t)out[r]];
			if (N > 0 && (rc = pn_solve_square(N, M, q)) < 0)
				break;
			for (int i = 0; i < n; i++) {
				if (!holds(ce, n, i, j))
					continue; /* exactly zero: the worker never sees partition j */
				double v = ce->G[(size_t)(N + u) * (size_t)n + (size_t)i];
				for (int k = 0; k < N; k++)
					v += ce->G[(size_t)k * (size_t)n + (size_t)i] * q[k];
				c->E[(size_t)i * nm + (size_t)j * (size_t)m + (size_t)u] = v;
			}
		}
	}
done:
	free(M);
	free(M0);
	free(q);
	free(sv);
	free(out);
	return rc;
}

/* Worst decode cond over probe straggler sets: every contiguous block of s (up to 32
 * starts) and 16 random sets. */
static double ce_probe_cond(const pn_code *c, struct ce *ce, pn_rng *rng)
{
	int n = c->n, s = c->s, K = ce->K;
	int blocks = n < 32 ? n : 32, probes = s == 0 ? 1 : blocks + 16;
	double *work = malloc(sizeof(double) * (size_t)K * (size_t)K);
	double *sv = malloc(sizeof(double) * (size_t)K);
	int *cols = malloc(sizeof(int) * (size_t)n);
	bool *strag = malloc(sizeof(bool) * (size_t)n);
	double worst = 0;
	if (!work || !sv || !cols || !strag) {
		worst = INFINITY;
		goto done;
	}
	for (int t = 0; t < probes; t++) {
		pn_code_probe_set(strag, n, s, t, blocks, rng);
		int k = 0;
		for (int i = 0; i < n; i++)
			if (!strag[i])
				cols[k++] = i;
		worst = fmax(worst, cols_cond(ce, n, cols, k, work, sv));
	}
done:
	free(work);
	free(sv);
	free(cols);
	free(strag);
	return worst;
}

static int ce_decode_matrix(pn_code *c, const bool *finished, int k, double *A, pn_decode_info *info)
{
	struct ce *ce = c->impl;
	int n = c->n, m = ce->m, K = ce->K;
	int ldb = K > k ? K : k;
	double *Gf = malloc(sizeof(double) * (size_t)K * (size_t)k);
	double *X = calloc((size_t)ldb * (size_t)m, sizeof(double));
	double *sv = malloc(sizeof(double) * (size_t)(K < k ? K : k));
	int *idx = malloc(sizeof(int) * (size_t)k);
	int rc = -ENOMEM;
	if (!Gf || !X || !sv || !idx)
		goto out;
	for (int i = 0, col = 0; i < n; i++)
		if (finished[i])
			idx[col++] = i;
	for (int col = 0; col < k; col++)
		for (int r = 0; r < K; r++)
			Gf[(size_t)col * (size_t)K + (size_t)r] = ce->G[(size_t)r * (size_t)n + (size_t)idx[col]];
	/* Right-hand sides: column u is e_{N+u}. */
	for (int u = 0; u < m; u++)
		X[(size_t)u * (size_t)ldb + (size_t)(ce->N + u)] = 1.0;
	int rank = 0;
	if ((rc = pn_lsq_solve_nrhs(K, k, m, Gf, X, sv, &rank)) < 0)
		goto out;
	memset(A, 0, sizeof(double) * (size_t)m * (size_t)n);
	double an = 0;
	for (int u = 0; u < m; u++)
		for (int col = 0; col < k; col++) {
			double v = X[(size_t)u * (size_t)ldb + (size_t)col];
			A[(size_t)u * (size_t)n + (size_t)idx[col]] = v;
			an += v * v;
		}
	/* Residual from the encode matrix itself: A·E_F against [I_m … I_m]. */
	size_t nm = (size_t)n * (size_t)m;
	double res = 0;
	for (int u = 0; u < m; u++)
		for (size_t x = 0; x < nm; x++) {
			double v = (int)(x % (size_t)m) == u ? -1.0 : 0.0;
			for (int col = 0; col < k; col++)
				v += A[(size_t)u * (size_t)n + (size_t)idx[col]] * c->E[(size_t)idx[col] * nm + x];
			res += v * v;
		}
	int full = K < k ? K : k;
	info->nfinished = k;
	info->rank = rank;
	info->cond = rank == full && sv[full - 1] > 0 ? sv[0] / sv[full - 1] : INFINITY;
	info->residual = sqrt(res);
	info->a_norm2 = sqrt(an);
	info->bound = 0;
	info->exact = k >= K && info->residual <= 1e-7 * sqrt((double)nm);
	rc = 0;
out:
	free(Gf);
	free(X);
	free(sv);
	free(idx);
	return rc;
}

static const struct pn_code_ops ce_ops = {
	.ready = ce_ready,
	.free_impl = ce_free,
	.partitions = ce_partitions,
	.decode_matrix = ce_decode_matrix,
};

/* m = 1: the same construction is an ordinary exact code decoded through B. */
static const struct pn_code_ops ce_ops_vector = {
	.ready = ce_ready,
	.free_impl = ce_free,
	.partitions = ce_partitions,
};

int pn_code_build_comm_efficient(pn_code *c, const pn_code_params *p, char *err, size_t errlen)
{
	int n = p->n, s = p->s, m = c->comm_dim;
	struct ce *ce = calloc(1, sizeof *ce);
	if (!ce)
		return -ENOMEM;
	c->impl = ce;
	c->ops = m > 1 ? &ce_ops : &ce_ops_vector; /* set early so pn_code_free releases ce */
	ce->m = m;
	ce->load = s + m;
	ce->K = n - s;
	ce->N = n - s - m;
	size_t nm = (size_t)n * (size_t)m;
	ce->G = malloc(sizeof(double) * (size_t)ce->K * (size_t)n);
	double *bestG = malloc(sizeof(double) * (size_t)ce->K * (size_t)n);
	c->E = malloc(sizeof(double) * (size_t)n * nm);
	if (!ce->G || !bestG || !c->E) {
		free(bestG);
		return -ENOMEM;
	}
	pn_rng rng;
	pn_rng_seed(&rng, p->seed);
	int cand = p->cyclic_candidates ? p->cyclic_candidates : 8;
	if (cand < 1 || n > 128)
		cand = 1;
	double best = INFINITY, best_dec = 0, best_enc = 0;
	int rc = -EDOM;
	for (int t = 0; t < cand + 8 && (t < cand || rc < 0); t++) {
		for (size_t x = 0; x < (size_t)ce->K * (size_t)n; x++)
			ce->G[x] = pn_rng_gauss(&rng);
		double enc = 1, dec = 1;
		int r = ce_encode_matrix(c, ce, &enc);
		if (r == -EDOM)
			continue;
		if (r < 0) {
			rc = r;
			break;
		}
		dec = cand > 1 ? ce_probe_cond(c, ce, &rng) : 0;
		if (rc < 0 || fmax(enc, dec) < best) {
			best = fmax(enc, dec);
			best_dec = dec;
			best_enc = enc;
			memcpy(bestG, ce->G, sizeof(double) * (size_t)ce->K * (size_t)n);
			rc = 0;
		}
	}
	if (rc == 0) {
		memcpy(ce->G, bestG, sizeof(double) * (size_t)ce->K * (size_t)n);
		double enc;
		rc = ce_encode_matrix(c, ce, &enc);
	}
	free(bestG);
	if (rc < 0) {
		pn_errf(err, errlen, "comm-efficient(n=%d,s=%d,m=%d): construction failed (%d)", n, s, m, rc);
		return rc;
	}
	/* B: block 0's coefficients (for m = 1 the whole code). */
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			c->B[(size_t)i * (size_t)n + (size_t)j] = c->E[(size_t)i * nm + (size_t)j * (size_t)m];
	if (m == 1) {
		free(c->E);
		c->E = NULL; /* pn_code_ce_matrix is B itself */
	}
	c->exact = true;
	c->probe_cond = best_dec > 0 ? best_dec : 1.0;
	snprintf(c->desc, sizeof c->desc, "comm-efficient(n=%d,s=%d,m=%d,load=%d,enc_cond=%.3g)", n, s, m,
		 ce->load, best_enc);
	return 0;
}
