/* Cyclic repetition (Tandon, Lei, Dimakis, Karampatziakis 2017, Alg. 2). Draw H (s×m)
 * Gaussian with H·1 = 0. Row i of B is supported on {i..i+s} mod m with B[i,i] = 1 and
 * H·b_i = 0, i.e. H[:, S_i\{i}]·v = −H[:, i] (an s×s solve). All rows then lie in the
 * (m−s)-dimensional null space of H, which contains 1, and any m−s of them span it
 * (with probability 1), so any m−s finished workers decode. */
#include "sched/code_internal.h"
#include "sched/lsq.h"
#include "sched/rng.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cyclic_try(int m, int s, pn_rng *rng, double *out, int ld)
{
	double *H = malloc(sizeof(double) * (size_t)s * (size_t)m); /* row-major s×m */
	double *M = malloc(sizeof(double) * (size_t)s * (size_t)s);
	double *v = malloc(sizeof(double) * (size_t)s);
	int rc = -ENOMEM;
	if (!H || !M || !v)
		goto out;
	for (int r = 0; r < s; r++) {
		double sum = 0;
		for (int j = 0; j < m - 1; j++) {
			H[(size_t)r * m + j] = pn_rng_gauss(rng);
			sum += H[(size_t)r * m + j];
		}
		H[(size_t)r * m + m - 1] = -sum;
	}
	for (int i = 0; i < m; i++) {
		double *row = out + (size_t)i * (size_t)ld;
		memset(row, 0, sizeof(double) * (size_t)m);
		row[i] = 1.0;
		for (int col = 0; col < s; col++)
			for (int r = 0; r < s; r++)
				M[r + (size_t)col * s] = H[(size_t)r * m + (i + 1 + col) % m];
		for (int r = 0; r < s; r++)
			v[r] = -H[(size_t)r * m + i];
		rc = pn_solve_square(s, M, v);
		if (rc < 0)
			goto out;
		for (int col = 0; col < s; col++)
			row[(i + 1 + col) % m] = v[col];
	}
	rc = 0;
out:
	free(H);
	free(M);
	free(v);
	return rc;
}

/* Probe sets: contiguous blocks of s stragglers (adjacent supports overlap most; every
 * start when m <= 32, else 32 evenly spaced starts) plus 16 random sets. */
#define PROBE_BLOCKS 32
#define PROBE_RANDOM 16
/* Above this size the SVD probes cost too much at construction: one draw is used. */
#define PROBE_MAX_M 128

/* Worst condition number of B_F over the probe straggler sets of size s: a proxy for the
 * true worst case, which would need all C(m, s) sets. */
static double probe_worst_cond(int m, int s, const double *B, int ld, pn_rng *rng)
{
	int k = m - s, blocks = m < PROBE_BLOCKS ? m : PROBE_BLOCKS, probes = blocks + PROBE_RANDOM;
	double *A = malloc(sizeof(double) * (size_t)m * (size_t)k);
	double *sv = malloc(sizeof(double) * (size_t)k);
	bool *out = malloc(sizeof(bool) * (size_t)m);
	double worst = 0;
	if (!A || !sv || !out) {
		worst = INFINITY;
		goto done;
	}
	for (int t = 0; t < probes; t++) {
		pn_code_probe_set(out, m, s, t, blocks, rng);
		for (int i = 0, col = 0; i < m; i++)
			if (!out[i])
				memcpy(A + (size_t)col++ * (size_t)m, B + (size_t)i * (size_t)ld, sizeof(double) * (size_t)m);
		if (pn_singular_values(m, k, A, sv) < 0) {
			worst = INFINITY;
			break;
		}
		double cond = sv[k - 1] > 0 ? sv[0] / sv[k - 1] : INFINITY;
		if (cond > worst)
			worst = cond;
	}
done:
	free(A);
	free(sv);
	free(out);
	return worst;
}

int pn_cyclic_matrix(int m, int s, uint64_t seed, int candidates, double *out, int ld, double *worst_cond)
{
	pn_rng rng;
	pn_rng_seed(&rng, seed);
	if (worst_cond)
		*worst_cond = 1.0;
	if (s == 0) {
		for (int i = 0; i < m; i++) {
			memset(out + (size_t)i * (size_t)ld, 0, sizeof(double) * (size_t)m);
			out[(size_t)i * (size_t)ld + i] = 1.0;
		}
		return 0;
	}
	/* The conditioning of B_F varies over orders of magnitude between draws of H, so
	 * draw several and keep the one whose worst probed cond is smallest. A singular s×s
	 * block has probability zero; such a draw is simply skipped. */
	if (candidates < 1 || m > PROBE_MAX_M)
		candidates = 1;
	double *cand = malloc(sizeof(double) * (size_t)m * (size_t)m);
	if (!cand)
		return -ENOMEM;
	double best = INFINITY;
	int rc = -EDOM;
	for (int t = 0; t < candidates + 8 && (t < candidates || rc < 0); t++) {
		int r = cyclic_try(m, s, &rng, cand, m);
		if (r == -EDOM)
			continue;
		if (r < 0) {
			rc = r;
			break;
		}
		double w = candidates > 1 ? probe_worst_cond(m, s, cand, m, &rng) : 0;
		if (rc < 0 || w < best) {
			best = w;
			for (int i = 0; i < m; i++)
				memcpy(out + (size_t)i * (size_t)ld, cand + (size_t)i * (size_t)m, sizeof(double) * (size_t)m);
			rc = 0;
		}
	}
	free(cand);
	if (worst_cond && rc == 0)
		*worst_cond = best;
	return rc;
}

static bool cyclic_ready(const pn_code *c, const bool *finished)
{
	return pn_code_count_finished(c, finished) >= c->n - c->s;
}

static const struct pn_code_ops cyclic_ops = { .ready = cyclic_ready };

int pn_code_build_cyclic(pn_code *c, const pn_code_params *p, char *err, size_t errlen)
{
	double worst = 0;
	int rc = pn_cyclic_matrix(p->n, p->s, p->seed, p->cyclic_candidates ? p->cyclic_candidates : 8, c->B,
				  p->n, &worst);
	if (rc < 0) {
		pn_errf(err, errlen, "cyclic(n=%d,s=%d): construction failed (%d)", p->n, p->s, rc);
		return rc;
	}
	c->exact = true;
	c->ops = &cyclic_ops;
	snprintf(c->desc, sizeof c->desc, "cyclic(n=%d,s=%d)", p->n, p->s);
	c->probe_cond = worst;
	return 0;
}
