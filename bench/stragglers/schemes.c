/* pennant-bench-stragglers: the compared schemes (a code, a wait rule, a puller) and
 * what each round's decode weights them with. */
#include "stragglers.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct scheme_def scheme_defs[] = {
	{ "uncoded-all", PN_CODE_UNCODED, PN_WAIT_ALL, false },
	{ "uncoded-ignore", PN_CODE_UNCODED, PN_WAIT_COUNT, true },
	{ "fractional", PN_CODE_FRACTIONAL, PN_WAIT_CODE, false },
	{ "cyclic", PN_CODE_CYCLIC, PN_WAIT_CODE, false },
	{ "expander", PN_CODE_EXPANDER, PN_WAIT_COUNT, false },
	{ "gcdc", PN_CODE_GCDC, PN_WAIT_CODE, false },
	{ "comm-efficient", PN_CODE_COMM_EFFICIENT, PN_WAIT_CODE, false },
};
_Static_assert(sizeof scheme_defs / sizeof scheme_defs[0] == NSCHEMES, "NSCHEMES");

int make_puller(const struct options *o, const pn_chunk_plan *plan, pn_puller **out)
{
	pn_pull_config cfg = { .workers = o->n, .plan = plan, .window_per_worker = o->window_worker,
			       .window_total = o->window_total, .policy = o->policy };
	char err[200];
	*out = pn_pull_create(&cfg, err, sizeof err);
	if (!*out) {
		fprintf(stderr, "%s\n", err);
		return -ENOMEM;
	}
	return 0;
}

int scheme_init(struct scheme *sc, const struct scheme_def *def, const struct options *o,
		const pn_chunk_plan *plan)
{
	memset(sc, 0, sizeof *sc);
	sc->def = def;
	int n = o->n;
	pn_code_params p;
	pn_code_params_init(&p, def->kind, n, def->kind == PN_CODE_UNCODED ? 0 : o->s);
	/* Fractional repetition needs (s+1) | n; when it does not, compare the cheapest FR
	 * that tolerates at least s (the row then shows the larger load). */
	while (def->kind == PN_CODE_FRACTIONAL && n % (p.s + 1) != 0)
		p.s++;
	p.seed = o->seed;
	p.clusters = o->clusters;
	if (def->kind == PN_CODE_COMM_EFFICIENT)
		p.comm_dim = o->comm_dim;
	p.warn_cond = -1; /* counted and reported in the table instead */
	char err[200] = "";
	int rc = pn_code_create(&p, &sc->code, err, sizeof err);
	if (rc < 0) {
		snprintf(sc->skip, sizeof sc->skip, "%s", err);
		return 0;
	}
	sc->wait = (pn_straggler_policy){ .mode = def->wait, .count = n - o->s };
	sc->load = calloc((size_t)n, sizeof(double));
	sc->ratio = calloc((size_t)o->rounds, sizeof(double));
	sc->wsum = calloc((size_t)n, sizeof(double));
	sc->A = calloc((size_t)n * (size_t)pn_code_comm_dim(sc->code), sizeof(double));
	sc->link_scale = 1.0 / pn_code_comm_dim(sc->code);
	if (!sc->load || !sc->ratio || !sc->wsum || !sc->A)
		return -ENOMEM;
	for (int w = 0; w < n; w++)
		sc->load[w] = pn_code_partitions(sc->code, w, NULL, NULL, 0);
	return make_puller(o, plan, &sc->puller);
}

void scheme_free(struct scheme *sc)
{
	pn_code_free(sc->code);
	pn_pull_free(sc->puller);
	free(sc->load);
	free(sc->ratio);
	free(sc->wsum);
	free(sc->A);
}

/* Comm-efficient: w_j = mean over blocks u of (A·E_F)[u, (j,u)]; error over all blocks. */
static double account_matrix_decode(struct scheme *sc, const bool *finished, double *w)
{
	int n = pn_code_n(sc->code), m = pn_code_comm_dim(sc->code);
	pn_decode_info info;
	if (pn_code_ce_decode(sc->code, finished, sc->A, &info) < 0)
		return NAN;
	sc->exact += info.exact;
	sc->ill += info.ill_conditioned;
	if (info.cond > sc->max_cond)
		sc->max_cond = info.cond;
	const double *E = pn_code_ce_matrix(sc->code);
	size_t nm = (size_t)n * (size_t)m;
	for (int j = 0; j < n; j++) {
		w[j] = 0;
		for (int u = 0; u < m; u++)
			for (int i = 0; i < n; i++)
				w[j] += sc->A[(size_t)u * n + i] * E[(size_t)i * nm + (size_t)j * m + u];
		w[j] /= m;
		sc->wsum[j] += w[j];
	}
	return info.residual / sqrt((double)nm);
}

double account_decode(struct scheme *sc, const bool *finished, double *a, double *w)
{
	if (pn_code_comm_dim(sc->code) > 1)
		return account_matrix_decode(sc, finished, w);
	int n = pn_code_n(sc->code), k = 0;
	const double *B = pn_code_matrix(sc->code);
	for (int i = 0; i < n; i++)
		k += finished[i];
	if (sc->def->rescale) {
		for (int i = 0; i < n; i++)
			a[i] = finished[i] ? (double)n / k : 0;
	} else {
		pn_decode_info info;
		if (pn_code_decode(sc->code, finished, a, &info) < 0)
			return NAN;
		sc->exact += info.exact;
		sc->ill += info.ill_conditioned;
		if (info.cond > sc->max_cond)
			sc->max_cond = info.cond;
	}
	double r = 0;
	for (int j = 0; j < n; j++) {
		w[j] = 0;
		for (int i = 0; i < n; i++)
			w[j] += a[i] * B[i * n + j];
		sc->wsum[j] += w[j];
		r += (w[j] - 1) * (w[j] - 1);
	}
	if (sc->def->rescale)
		sc->exact += r <= 1e-14 * n;
	return sqrt(r / n);
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
double pct(const double *v, int m, double q)
{
	int i = (int)ceil(q * m) - 1;
	return v[i < 0 ? 0 : i >= m ? m - 1 : i];
}

void summarize(struct scheme *sc, const struct options *o, struct summary *out)
{
	int R = o->rounds, n = o->n;
	qsort(sc->ratio, (size_t)R, sizeof(double), cmp_double);
	double mean = 0, bias = 0, load = 0;
	for (int r = 0; r < R; r++)
		mean += sc->ratio[r];
	for (int j = 0; j < n; j++) {
		double d = sc->wsum[j] / R - 1;
		bias += d * d;
		load = fmax(load, sc->load[j]);
	}
	*out = (struct summary){ .p50 = pct(sc->ratio, R, 0.5), .p99 = pct(sc->ratio, R, 0.99),
				 .mean = mean / R, .resid = sc->resid_sum / R, .bias = sqrt(bias / n),
				 .exact_frac = (double)sc->exact / R, .max_cond = sc->max_cond, .load = load,
				 .cancelled = sc->cancelled, .moves = sc->moves };
}

