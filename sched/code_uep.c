/* Unequal-error-protection approximate gradient codes (see include/pennant/uep.h). */
#include "pennant/uep.h"
#include "sched/lsq.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pn_uep {
	int n, blocks;
	int degree[PN_UEP_MAX_BLOCKS];
	double size[PN_UEP_MAX_BLOCKS];
};

static int bad(char *err, size_t errlen, const char *msg)
{
	return pn_fail(err, errlen, EINVAL, "uep: %s", msg);
}

int pn_uep_create(const pn_uep_params *p, pn_uep **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!p || p->n < 1 || p->n > 1024)
		return bad(err, errlen, "n must be in [1, 1024]");
	if (p->blocks < 1 || p->blocks > PN_UEP_MAX_BLOCKS || !p->norm || !p->size)
		return bad(err, errlen, "need 1..64 blocks with norms and sizes");
	if (!(p->load >= 1) || !(p->load <= p->n))
		return bad(err, errlen, "load budget must be in [1, n]");
	if (!p->equal && !(p->p_miss > 0 && p->p_miss < 1))
		return bad(err, errlen, "miss probability must be in (0, 1)");
	double tot = 0;
	for (int b = 0; b < p->blocks; b++) {
		if (!(p->size[b] > 0) || !isfinite(p->size[b]) || !(p->norm[b] >= 0) || !isfinite(p->norm[b]))
			return bad(err, errlen, "sizes must be > 0 and norms >= 0 (finite)");
		tot += p->size[b];
	}
	pn_uep *u = calloc(1, sizeof *u);
	if (!u)
		return -ENOMEM;
	u->n = p->n;
	u->blocks = p->blocks;
	double used = 0;
	for (int b = 0; b < p->blocks; b++) {
		u->size[b] = p->size[b] / tot;
		u->degree[b] = p->equal ? (int)floor(p->load) : 1;
		used += u->size[b] * u->degree[b];
	}
	/* Greedy on the marginal gain per unit load: exact for a separable convex objective
	 * (each block's term ν²p^d is convex and decreasing in d). */
	while (!p->equal) {
		int best = -1;
		double gain = 0;
		for (int b = 0; b < p->blocks; b++) {
			if (u->degree[b] >= p->n || used + u->size[b] > p->load + 1e-12)
				continue;
			double g = p->norm[b] * p->norm[b] * pow(p->p_miss, u->degree[b]) * (1 - p->p_miss) / u->size[b];
			if (best < 0 || g > gain) {
				best = b;
				gain = g;
			}
		}
		if (best < 0)
			break;
		u->degree[best]++;
		used += u->size[best];
	}
	*out = u;
	return 0;
}

void pn_uep_free(pn_uep *u) { free(u); }
int pn_uep_blocks(const pn_uep *u) { return u->blocks; }

int pn_uep_degree(const pn_uep *u, int block)
{
	return block >= 0 && block < u->blocks ? u->degree[block] : -EINVAL;
}

double pn_uep_load(const pn_uep *u)
{
	double l = 0;
	for (int b = 0; b < u->blocks; b++)
		l += u->size[b] * u->degree[b];
	return l;
}

int pn_uep_partitions(const pn_uep *u, int block, int worker, int *parts, int cap)
{
	if (block < 0 || block >= u->blocks || worker < 0 || worker >= u->n)
		return -EINVAL;
	int d = u->degree[block];
	for (int k = 0; k < d && k < cap; k++)
		parts[k] = (worker + k) % u->n;
	return d;
}

int pn_uep_decode(const pn_uep *u, int block, const bool *finished, double *a, double *w, double *residual)
{
	if (block < 0 || block >= u->blocks)
		return -EINVAL;
	int n = u->n, d = u->degree[block], k = 0;
	for (int i = 0; i < n; i++)
		k += finished[i] ? 1 : 0;
	if (k == 0)
		return -ENODATA;
	double *A = calloc((size_t)n * (size_t)k, sizeof(double));
	int *idx = malloc(sizeof(int) * (size_t)k);
	int rc = -ENOMEM, rank = 0;
	if (!A || !idx)
		goto out;
	/* Column c of A = B_Fᵀ: the 0/1 row of worker F[c]. */
	pn_finished_ids(finished, n, idx);
	for (int c = 0; c < k; c++)
		for (int t = 0; t < d; t++)
			A[(size_t)c * (size_t)n + (size_t)((idx[c] + t) % n)] = 1.0;
	if ((rc = pn_lsq_fit_ones(n, k, A, idx, a, &rank, NULL)) < 0)
		goto out;
	double res = 0;
	for (int j = 0; j < n; j++) {
		double v = 0;
		for (int t = 0; t < d; t++) /* holders of j: workers j−t */
			v += a[((j - t) % n + n) % n];
		if (w)
			w[j] = v;
		res += (v - 1) * (v - 1);
	}
	*residual = sqrt(res);
	rc = 0;
out:
	free(A), free(idx);
	return rc;
}
