/* Krum, Multi-Krum (Blanchard et al. 2017) and Bulyan's selection stage (El Mhamdi et
 * al. 2018), all from pairwise distances read off the Gram matrix. */
#include "agg_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void pn_gram_distances(const double *G, int k, double *D)
{
	for (int i = 0; i < k; i++)
		for (int j = 0; j < k; j++) {
			double v = G[i * k + i] + G[j * k + j] - 2.0 * G[i * k + j];
			D[i * k + j] = i == j ? 0.0 : fmax(v, 0.0);
		}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Krum score of each member of `set` (n members) within that set: the sum of its
 * `nb` smallest distances to other members. */
static void krum_scores(const double *D, int k, const int *set, int n, int nb, double *score,
			double *tmp)
{
	for (int a = 0; a < n; a++) {
		int m = 0;
		for (int b = 0; b < n; b++)
			if (b != a)
				tmp[m++] = D[set[a] * k + set[b]];
		qsort(tmp, (size_t)m, sizeof *tmp, cmp_double);
		double s = 0;
		for (int x = 0; x < nb && x < m; x++)
			s += tmp[x];
		score[a] = s;
	}
}

int pn_rule_krum(const double *G, int k, int f, int m, pn_gram_result *res, char *err, size_t errlen)
{
	if (k < 2 * f + 3) {
		pn_errf(err, errlen, "krum needs p >= 2f+3 usable workers (have %d, f=%d)", k, f);
		return -ENODATA;
	}
	if (m < 1 || m > k) {
		pn_errf(err, errlen, "multi-krum: m=%d must be in [1, %d]", m, k);
		return -EINVAL;
	}
	double *D = malloc(sizeof(double) * k * k), *tmp = malloc(sizeof(double) * k);
	int *set = calloc((size_t)k, sizeof(int)), *order = calloc((size_t)k, sizeof(int));
	if (!D || !tmp || !set || !order) {
		free(D), free(tmp), free(set), free(order);
		return -ENOMEM;
	}
	pn_gram_distances(G, k, D);
	for (int i = 0; i < k; i++)
		set[i] = i;
	krum_scores(D, k, set, k, k - f - 2, res->score, tmp);
	/* Stable selection of the m lowest scores (ties: lower index). */
	for (int i = 0; i < k; i++)
		order[i] = i;
	for (int a = 1; a < k; a++) {
		int t = order[a], b = a - 1;
		while (b >= 0 && res->score[order[b]] > res->score[t]) {
			order[b + 1] = order[b];
			b--;
		}
		order[b + 1] = t;
	}
	memset(res->alpha, 0, sizeof(double) * k);
	for (int x = 0; x < m; x++)
		res->alpha[order[x]] = 1.0 / m;
	free(D), free(tmp), free(set), free(order);
	return 0;
}

int pn_rule_bulyan_select(const double *G, int k, int f, pn_gram_result *res, char *err,
			  size_t errlen)
{
	if (k < 4 * f + 3) {
		pn_errf(err, errlen, "bulyan needs p >= 4f+3 usable workers (have %d, f=%d)", k, f);
		return -ENODATA;
	}
	int theta = k - 2 * f;
	double *D = malloc(sizeof(double) * k * k), *sc = malloc(sizeof(double) * k);
	double *tmp = malloc(sizeof(double) * k);
	int *rest = malloc(sizeof(int) * k);
	if (!D || !sc || !tmp || !rest) {
		free(D), free(sc), free(tmp), free(rest);
		return -ENOMEM;
	}
	pn_gram_distances(G, k, D);
	int n = k;
	for (int i = 0; i < k; i++) {
		rest[i] = i;
		res->selected[i] = 0;
		res->score[i] = INFINITY;
	}
	/* Recursive Krum: pick the best-scored worker among those left, θ times. */
	for (int pick = 0; pick < theta; pick++) {
		int nb = n - f - 2 > 1 ? n - f - 2 : 1;
		krum_scores(D, k, rest, n, nb, sc, tmp);
		int best = 0;
		for (int a = 1; a < n; a++)
			if (sc[a] < sc[best])
				best = a;
		res->selected[rest[best]] = 1;
		res->score[rest[best]] = (double)pick; /* selection order: lower = picked earlier */
		rest[best] = rest[--n];
	}
	for (int i = 0; i < k; i++)
		res->alpha[i] = 0.0; /* filled from coordinate usage by the engine */
	free(D), free(sc), free(tmp), free(rest);
	return 0;
}

/* ---- descriptors (listed in rule_table.c) ----
 * A zero gradient is an ordinary point for these rules (distances stay defined). */
static int krum_min(const pn_agg_config *c)
{
	return 2 * c->f + 3;
}

static int bulyan_min(const pn_agg_config *c)
{
	return 4 * c->f + 3;
}

static int krum_solve(const pn_agg_config *c, const double *G, int k, pn_gram_result *res,
		      char *err, size_t errlen)
{
	return pn_rule_krum(G, k, c->f, 1, res, err, errlen);
}

static int multi_krum_solve(const pn_agg_config *c, const double *G, int k, pn_gram_result *res,
			    char *err, size_t errlen)
{
	int m = c->m > 0 ? c->m : k - c->f - 2;
	if (m < 1)
		m = 1;
	if (m > k)
		m = k;
	return pn_rule_krum(G, k, c->f, m, res, err, errlen);
}

static int bulyan_solve(const pn_agg_config *c, const double *G, int k, pn_gram_result *res,
			char *err, size_t errlen)
{
	return pn_rule_bulyan_select(G, k, c->f, res, err, errlen);
}

const pn_rule_desc pn_rule_desc_krum = {
	.id = PN_RULE_KRUM, .name = "krum", .kind = PN_KIND_GRAM,
	.min_workers = krum_min, .min_workers_text = "2f+3", .solve = krum_solve,
};
const pn_rule_desc pn_rule_desc_multi_krum = {
	.id = PN_RULE_MULTI_KRUM, .name = "multi-krum", .kind = PN_KIND_GRAM,
	.min_workers = krum_min, .min_workers_text = "2f+3", .solve = multi_krum_solve,
};
/* Krum-recursive selection of θ = k - 2f workers, then per coordinate the β = θ - 2f values
 * closest to the median are averaged (pn_coord_bulyan). */
const pn_rule_desc pn_rule_desc_bulyan = {
	.id = PN_RULE_BULYAN, .name = "bulyan", .kind = PN_KIND_GRAM,
	.min_workers = bulyan_min, .min_workers_text = "4f+3", .solve = bulyan_solve,
	.block = pn_coord_bulyan,
};
