/* Unequal vs equal error protection at a deadline. The Markov model delays workers; a
 * worker whose compute (its load) plus delay exceeds the deadline is lost for every block.
 * Both schemes have the same load budget D and see the same delays; UEP spends it on the
 * blocks with larger gradients. Partition gradients are synthetic: block b of partition j
 * is ν_b·(μ_b + ½ξ_j) with μ_b, ξ_j Gaussian (fresh every round), so the error of a block
 * decode w is Σ_j (w_j − 1)·g_{b,j}. Reported: ‖ĝ − g‖/‖g‖ over the whole gradient. */
#include "uep_exp.h"

#include "pennant/uep.h"
#include "sched/rng.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_DIM 8

void uep_defaults(uep_options *o)
{
	static const double norm[] = { 0.2, 0.5, 1.0, 2.0 }, size[] = { 0.4, 0.3, 0.2, 0.1 };
	memset(o, 0, sizeof *o);
	o->n = 16;
	o->rounds = 1000;
	o->blocks = 4;
	memcpy(o->norm, norm, sizeof norm);
	memcpy(o->size, size, sizeof size);
	o->slack = 1.0;
	o->seed = 1;
	model_defaults(&o->mp);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct result {
	double mean, p50, p99, load;
	int degree[8];
};

static int simulate(const uep_options *o, const pn_uep *u, double deadline, struct result *res)
{
	int n = o->n, B = o->blocks, R = o->rounds, rc = 0;
	model m;
	if (model_init(&m, MODEL_MARKOV, &o->mp, n, 0, o->seed + 5) < 0)
		return -ENOMEM;
	pn_rng rng;
	pn_rng_seed(&rng, o->seed + 77); /* same gradients for both schemes */
	double *delay = malloc(sizeof(double) * (size_t)n), *a = malloc(sizeof(double) * (size_t)n);
	double *w = malloc(sizeof(double) * (size_t)n), *err = malloc(sizeof(double) * (size_t)R);
	double *g = malloc(sizeof(double) * (size_t)n * BLOCK_DIM);
	bool *fin = malloc(sizeof(bool) * (size_t)n);
	if (!delay || !a || !w || !err || !g || !fin) {
		rc = -ENOMEM;
		goto done;
	}
	double load = pn_uep_load(u);
	for (int r = 0; r < R && rc == 0; r++) {
		model_next_round(&m, delay);
		int k = 0;
		for (int i = 0; i < n; i++) {
			fin[i] = load + delay[i] <= deadline;
			k += fin[i];
		}
		double e2 = 0, g2 = 0;
		for (int b = 0; b < B; b++) {
			double mu[BLOCK_DIM];
			for (int t = 0; t < BLOCK_DIM; t++)
				mu[t] = pn_rng_gauss(&rng);
			for (int j = 0; j < n; j++)
				for (int t = 0; t < BLOCK_DIM; t++)
					g[j * BLOCK_DIM + t] = o->norm[b] * (mu[t] + 0.5 * pn_rng_gauss(&rng)) / sqrt(BLOCK_DIM);
			double resid = 0;
			if (k > 0 && (rc = pn_uep_decode(u, b, fin, a, w, &resid)) < 0)
				break;
			for (int j = 0; k == 0 && j < n; j++)
				w[j] = 0; /* nobody made it: the block is lost */
			for (int t = 0; t < BLOCK_DIM; t++) {
				double e = 0, s = 0;
				for (int j = 0; j < n; j++) {
					e += (w[j] - 1) * g[j * BLOCK_DIM + t];
					s += g[j * BLOCK_DIM + t];
				}
				e2 += e * e;
				g2 += s * s;
			}
		}
		err[r] = sqrt(e2 / g2);
	}
	if (rc == 0) {
		double s = 0;
		for (int r = 0; r < R; r++)
			s += err[r];
		qsort(err, (size_t)R, sizeof(double), cmp_double);
		res->mean = s / R;
		res->p50 = err[(R - 1) / 2];
		res->p99 = err[(int)ceil(0.99 * R) - 1];
		res->load = load;
		for (int b = 0; b < B; b++)
			res->degree[b] = pn_uep_degree(u, b);
	}
done:
	model_free(&m);
	free(delay), free(a), free(w), free(err), free(g), free(fin);
	return rc;
}

int run_uep(const uep_options *o)
{
	double p_miss = o->mp.p_slow / (o->mp.p_slow + o->mp.p_recover);
	if (o->json)
		printf("{\"uep\":{\"n\":%d,\"rounds\":%d,\"p_miss\":%.6g,\"slack\":%g,\"rows\":[", o->n, o->rounds, p_miss,
		       o->slack);
	else {
		printf("UEP vs equal protection at a deadline (n=%d, Markov stragglers P(fast->slow)=%g "
		       "P(slow->fast)=%g slow delay %g jitter %g; deadline = budget + %g; %d rounds)\nblocks:",
		       o->n, o->mp.p_slow, o->mp.p_recover, o->mp.slow_delay, o->mp.jitter, o->slack, o->rounds);
		for (int b = 0; b < o->blocks; b++)
			printf(" [size %.2f, norm %.2f]", o->size[b], o->norm[b]);
		printf("\nUEP degrees chosen for p_miss = %.3f (the model's stationary slow probability)\n", p_miss);
		printf("%6s %-6s %-14s %6s %10s %10s %10s\n", "budget", "scheme", "degrees", "load", "mean err",
		       "p50 err", "p99 err");
	}
	int rc = 0, row = 0;
	for (int D = 1; D <= 4 && D <= o->n && rc == 0; D++) {
		for (int eq = 1; eq >= 0 && rc == 0; eq--) {
			pn_uep_params p = { .n = o->n, .blocks = o->blocks, .norm = o->norm, .size = o->size,
					    .load = D, .p_miss = p_miss, .equal = eq };
			pn_uep *u;
			char e[200];
			if ((rc = pn_uep_create(&p, &u, e, sizeof e)) < 0) {
				fprintf(stderr, "%s\n", e);
				break;
			}
			struct result res = { 0 };
			rc = simulate(o, u, D + o->slack, &res);
			pn_uep_free(u);
			if (rc < 0)
				break;
			char deg[64] = "";
			for (int b = 0, at = 0; b < o->blocks; b++)
				at += snprintf(deg + at, sizeof deg - (size_t)at, "%s%d", b ? "," : "", res.degree[b]);
			if (o->json)
				printf("%s{\"budget\":%d,\"scheme\":\"%s\",\"degrees\":[%s],\"load\":%.6g,\"mean_err\":%.6g,"
				       "\"p50_err\":%.6g,\"p99_err\":%.6g}",
				       row++ ? "," : "", D, eq ? "equal" : "uep", deg, res.load, res.mean, res.p50, res.p99);
			else
				printf("%6d %-6s %-14s %6.2f %10.4f %10.4f %10.4f\n", D, eq ? "equal" : "uep", deg, res.load,
				       res.mean, res.p50, res.p99);
		}
	}
	if (o->json && rc == 0)
		printf("]}}\n");
	return rc;
}
