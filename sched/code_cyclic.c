/* Cyclic repetition (Tandon, Lei, Dimakis, Karampatziakis 2017, Alg. 2). Draw H (s×m)
 * Gaussian with H·1 = 0. Row i of B is supported on {i..i+s} mod m with B[i,i] = 1 and
 * H·b_i = 0, i.e. H[:, S_i\{i}]·v = −H[:, i] (an s×s solve). All rows then lie in the
 * (m−s)-dimensional null space of H, which contains 1, and any m−s of them span it
 * (with probability 1), so any m−s finished workers decode. */
#include "sched/code_internal.h"
#include "sched/lsq.h"
#include "sched/rng.h"

#include <errno.h>
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

int pn_cyclic_matrix(int m, int s, uint64_t seed, double *out, int ld)
{
	pn_rng rng;
	pn_rng_seed(&rng, seed);
	if (s == 0) {
		for (int i = 0; i < m; i++) {
			memset(out + (size_t)i * (size_t)ld, 0, sizeof(double) * (size_t)m);
			out[(size_t)i * (size_t)ld + i] = 1.0;
		}
		return 0;
	}
	/* A singular s×s block has probability zero; redraw H if it happens anyway. */
	for (int attempt = 0; attempt < 8; attempt++) {
		int rc = cyclic_try(m, s, &rng, out, ld);
		if (rc != -EDOM)
			return rc;
	}
	return -EDOM;
}

static bool cyclic_ready(const pn_code *c, const bool *finished)
{
	return pn_code_count_finished(c, finished) >= c->n - c->s;
}

static const struct pn_code_ops cyclic_ops = { .ready = cyclic_ready };

int pn_code_build_cyclic(pn_code *c, const pn_code_params *p, char *err, size_t errlen)
{
	int rc = pn_cyclic_matrix(p->n, p->s, p->seed, c->B, p->n);
	if (rc < 0) {
		if (err && errlen)
			snprintf(err, errlen, "cyclic(n=%d,s=%d): construction failed (%d)", p->n, p->s, rc);
		return rc;
	}
	c->exact = true;
	c->ops = &cyclic_ops;
	snprintf(c->desc, sizeof c->desc, "cyclic(n=%d,s=%d)", p->n, p->s);
	return 0;
}
