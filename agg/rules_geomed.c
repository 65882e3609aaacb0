/* Geometric median by Weiszfeld's algorithm on the Gram matrix. The iterate
 * z = Σ β_j g_j stays in the span of the gradients, so every step is k×k work:
 * ‖z − g_i‖² = βᵀGβ − 2(Gβ)_i + G_ii. */
#include "agg_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

static double distances(const double *G, int k, const double *beta, double *gb, double *dist)
{
	double bgb = 0, sum = 0;
	for (int i = 0; i < k; i++) {
		double s = 0;
		for (int j = 0; j < k; j++)
			s += G[i * k + j] * beta[j];
		gb[i] = s;
		bgb += beta[i] * s;
	}
	for (int i = 0; i < k; i++) {
		dist[i] = sqrt(fmax(0.0, bgb - 2.0 * gb[i] + G[i * k + i]));
		sum += dist[i];
	}
	return sum;
}

int pn_rule_geomed(const double *G, int k, int max_iters, double tol, pn_gram_result *res,
		   char *err, size_t errlen)
{
	if (k < 1) {
		pn_errf(err, errlen, "geomed: no usable workers");
		return -ENODATA;
	}
	double *beta = res->alpha;
	double *gb = malloc(sizeof(double) * k), *nb = malloc(sizeof(double) * k);
	double *ndist = malloc(sizeof(double) * k);
	if (!gb || !nb || !ndist) {
		free(gb), free(nb), free(ndist);
		return -ENOMEM;
	}
	double scale = 0;
	for (int i = 0; i < k; i++) {
		beta[i] = 1.0 / k;
		scale = fmax(scale, sqrt(fmax(G[i * k + i], 0.0)));
	}
	/* Smoothing keeps weights finite when the iterate sits on a data point. */
	double nu = 1e-12 * (scale > 0 ? scale : 1.0);
	double obj = distances(G, k, beta, gb, res->score);
	int it = 0;
	for (; it < max_iters; it++) {
		double wsum = 0;
		for (int i = 0; i < k; i++) {
			nb[i] = 1.0 / fmax(res->score[i], nu);
			wsum += nb[i];
		}
		for (int i = 0; i < k; i++)
			nb[i] /= wsum;
		double nobj = distances(G, k, nb, gb, ndist);
		if (!(nobj <= obj))
			break; /* Weiszfeld never increases the objective; stop on round-off */
		for (int i = 0; i < k; i++) {
			beta[i] = nb[i];
			res->score[i] = ndist[i];
		}
		double gain = obj - nobj;
		obj = nobj;
		if (gain <= tol * obj)
			break;
	}
	res->iterations = it + 1;
	res->objective = obj;
	free(gb), free(nb), free(ndist);
	return 0;
}

/* ---- descriptor (listed in rule_table.c) ----
 * A zero gradient is an ordinary point; Weiszfeld's smoothing nu keeps the weights
 * finite when the iterate sits on a data point. */
static int one_min(const pn_agg_config *c)
{
	(void)c;
	return 1;
}

static int geomed_solve(const pn_agg_config *c, const double *G, int k, pn_gram_result *res,
			char *err, size_t errlen)
{
	return pn_rule_geomed(G, k, c->max_iters, c->tol, res, err, errlen);
}

const pn_rule_desc pn_rule_desc_geomed = {
	.id = PN_RULE_GEOMED, .name = "geomed", .kind = PN_KIND_GRAM,
	.min_workers = one_min, .min_workers_text = "1", .solve = geomed_solve,
};
