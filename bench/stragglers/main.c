/* pennant-bench-stragglers: simulated round times of gradient-coding schemes under
 * straggler models, as ratios to a straggler-free uncoded round measured in the same run,
 * plus heterogeneity-aware sizing on vs off. --uep (uep_exp.c) and --matmul
 * (matmul_exp.c) run the other two experiments instead. Everything is seeded and
 * deterministic. Options: options.c; schemes: schemes.c; output: report.c. */
#include "sim.h"
#include "stragglers.h"

#include "pennant/sizing.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pn_json js; /* the --json record, written as the models run */

/* Straggler-free uncoded round: every worker ready after one partition, no delays. */
static int baseline_time(const struct options *o, const pn_chunk_plan *plan, double chunk_time, double *t)
{
	pn_code_params p;
	pn_code_params_init(&p, PN_CODE_UNCODED, o->n, 0);
	pn_code *code;
	int rc = pn_code_create(&p, &code, NULL, 0);
	if (rc < 0)
		return rc;
	pn_puller *pl;
	if ((rc = make_puller(o, plan, &pl)) < 0) {
		pn_code_free(code);
		return rc;
	}
	double *ready = malloc(sizeof(double) * (size_t)o->n);
	bool *fin = malloc(sizeof(bool) * (size_t)o->n);
	for (int i = 0; ready && i < o->n; i++)
		ready[i] = 1.0;
	sim_link link = { .chunk_time = chunk_time, .nchunks = plan->nchunks, .puller = pl };
	sim_round_out out = { .finished = fin };
	pn_straggler_policy all = { .mode = PN_WAIT_ALL };
	rc = ready && fin ? sim_round(&link, code, &all, ready, &out) : -ENOMEM;
	*t = out.t_end;
	free(ready);
	free(fin);
	pn_pull_free(pl);
	pn_code_free(code);
	return rc;
}

static int run_model(const struct options *o, model_kind mk, const pn_chunk_plan *plan, double chunk_time,
		     double base)
{
	int n = o->n, rc = 0;
	struct scheme sc[NSCHEMES];
	model m;
	double *delay = malloc(sizeof(double) * (size_t)n), *ready = malloc(sizeof(double) * (size_t)n);
	double *a = malloc(sizeof(double) * (size_t)n), *w = malloc(sizeof(double) * (size_t)n);
	bool *fin = malloc(sizeof(bool) * (size_t)n), *late = malloc(sizeof(bool) * (size_t)n);
	memset(sc, 0, sizeof sc);
	if (!delay || !ready || !a || !w || !fin || !late || model_init(&m, mk, &o->mp, n, o->s, o->seed + 17 * mk) < 0)
		return -ENOMEM;
	for (int k = 0; k < NSCHEMES && rc == 0; k++)
		rc = scheme_init(&sc[k], &scheme_defs[k], o, plan);
	for (int r = 0; r < o->rounds && rc == 0; r++) {
		model_next_round(&m, delay);
		for (int k = 0; k < NSCHEMES && rc == 0; k++) {
			struct scheme *s = &sc[k];
			if (s->skip[0])
				continue;
			for (int i = 0; i < n; i++)
				ready[i] = s->load[i] + delay[i];
			/* A message of d/m values takes 1/m of the link time. */
			sim_link link = { .chunk_time = chunk_time * s->link_scale, .nchunks = plan->nchunks,
					  .puller = s->puller };
			sim_round_out out = { .finished = fin };
			rc = sim_round(&link, s->code, &s->wait, ready, &out);
			if (rc < 0) {
				fprintf(stderr, "%s: round %d failed (%d)\n", s->def->name, r, rc);
				break;
			}
			s->ratio[r] = out.t_end / base;
			s->cancelled += out.cancelled;
			s->resid_sum += account_decode(s, fin, a, w);
			/* Stragglers, as the aggregator sees them: ready after the round ended. */
			for (int i = 0; i < n; i++)
				late[i] = ready[i] > out.t_end;
			int moved = pn_code_observe_round(s->code, late);
			s->moves += moved > 0 ? moved : 0;
		}
	}
	if (rc == 0)
		report_model(&js, o, mk, sc, NSCHEMES);
	for (int k = 0; k < NSCHEMES; k++)
		scheme_free(&sc[k]);
	model_free(&m);
	free(delay);
	free(ready);
	free(a);
	free(w);
	free(fin);
	free(late);
	return rc;
}

/* Heterogeneous speeds: every 4th worker a GPU (4x), every 4th+3 a slow node (0.5x), the
 * rest CPUs (1x); halfway through, workers 1 and 2 slow down 3x (a node gets loaded).
 * Uncoded wait-for-all, jitter only: isolates the effect of sizing. */
static int run_sizing(const struct options *o, const pn_chunk_plan *plan, double chunk_time, double base)
{
	int n = o->n, R = o->rounds, rc = 0;
	const size_t gran = 64; /* work units (samples) per worker in the equal split */
	double *speed = malloc(sizeof(double) * (size_t)n), *ready = malloc(sizeof(double) * (size_t)n);
	double *ratio[2] = { malloc(sizeof(double) * (size_t)R), malloc(sizeof(double) * (size_t)R) };
	size_t *share = malloc(sizeof(size_t) * (size_t)n);
	bool *fin = malloc(sizeof(bool) * (size_t)n);
	pn_code_params p;
	pn_code_params_init(&p, PN_CODE_UNCODED, n, 0);
	pn_code *code = NULL;
	pn_puller *pl = NULL;
	pn_sizing_config scfg = { .workers = n, .replan_threshold = 0.2, .smoothing = 0.5 };
	pn_sizing *sz = pn_sizing_create(&scfg, NULL, 0);
	if (!speed || !ready || !ratio[0] || !ratio[1] || !share || !fin || !sz ||
	    pn_code_create(&p, &code, NULL, 0) < 0 || make_puller(o, plan, &pl) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	pn_rng rng;
	pn_rng_seed(&rng, o->seed + 99);
	pn_straggler_policy all = { .mode = PN_WAIT_ALL };
	for (int on = 0; on < 2 && rc == 0; on++) {
		for (int i = 0; i < n; i++)
			speed[i] = i % 4 == 0 ? 4.0 : i % 4 == 3 ? 0.5 : 1.0;
		for (int r = 0; r < R && rc == 0; r++) {
			if (r == R / 2)
				for (int i = 1; i < 3 && i < n; i++)
					speed[i] /= 3.0;
			if (on)
				rc = pn_sizing_plan(sz, gran * (size_t)n, share, NULL);
			else
				for (int i = 0; i < n; i++)
					share[i] = gran;
			for (int i = 0; i < n && rc == 0; i++) {
				/* ±5% measurement noise on the compute time the worker reports. */
				double compute = (double)share[i] / ((double)gran * speed[i]) *
						 (0.95 + 0.1 * pn_rng_uniform(&rng));
				ready[i] = compute + pn_rng_exp(&rng, o->mp.jitter);
				if (on)
					pn_sizing_observe(sz, i, (double)share[i], compute);
			}
			sim_link link = { .chunk_time = chunk_time, .nchunks = plan->nchunks, .puller = pl };
			sim_round_out out = { .finished = fin };
			if (rc == 0)
				rc = sim_round(&link, code, &all, ready, &out);
			ratio[on][r] = out.t_end / base;
		}
	}
	if (rc < 0)
		goto out;
	pn_sizing_stats st;
	pn_sizing_get_stats(sz, &st);
	qsort(ratio[0], (size_t)R, sizeof(double), cmp_double);
	qsort(ratio[1], (size_t)R, sizeof(double), cmp_double);
	double p50[2] = { pct(ratio[0], R, 0.5), pct(ratio[1], R, 0.5) };
	double p99[2] = { pct(ratio[0], R, 0.99), pct(ratio[1], R, 0.99) };
	report_sizing(&js, o, R, p50, p99, (unsigned long long)st.replans);
out:
	free(speed);
	free(ready);
	free(ratio[0]);
	free(ratio[1]);
	free(share);
	free(fin);
	pn_sizing_free(sz);
	pn_pull_free(pl);
	pn_code_free(code);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	if (stragglers_parse(argc, argv, &o) < 0)
		return 2;
	if (o.matmul || o.uep) {
		int rc;
		if (o.matmul) {
			o.mm.rounds = o.rounds;
			o.mm.seed = o.seed;
			o.mm.json = o.json;
			rc = run_matmul(&o.mm);
		} else {
			o.ue.n = o.n;
			o.ue.rounds = o.rounds;
			o.ue.seed = o.seed;
			o.ue.json = o.json;
			o.ue.mp = o.mp;
			rc = run_uep(&o.ue);
		}
		if (rc < 0) {
			fprintf(stderr, "pennant-bench-stragglers: failed (%d)\n", rc);
			return 1;
		}
		return 0;
	}
	pn_chunk_params cp = { .d = (size_t)o.chunks * 1024, .unit_bytes = 4096, .workers = 1,
			       .target_pulls = o.chunks };
	pn_chunk_plan plan;
	char err[200];
	if (pn_chunk_plan_build(&cp, &plan, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	double chunk_time = o.comm / plan.nchunks, base = 0;
	int rc = baseline_time(&o, &plan, chunk_time, &base);
	if (rc < 0 || !(base > 0)) {
		fprintf(stderr, "pennant-bench-stragglers: baseline failed (%d)\n", rc);
		return 1;
	}
	pn_json_init(&js, stdout);
	report_begin(&js, &o, plan.nchunks, base);
	for (int mk = 0; mk < MODEL_COUNT_ && rc == 0; mk++) {
		if (o.model >= 0 && o.model != mk)
			continue;
		rc = run_model(&o, (model_kind)mk, &plan, chunk_time, base);
	}
	if (o.json && rc == 0)
		pn_json_end_array(&js);
	if (rc == 0)
		rc = run_sizing(&o, &plan, chunk_time, base);
	if (o.json && rc == 0) {
		pn_json_end_object(&js);
		if (pn_json_close(&js)) {
			fprintf(stderr, "pennant-bench-stragglers: writing the JSON failed\n");
			rc = -EIO;
		}
	}
	pn_chunk_plan_free(&plan);
	if (rc < 0) {
		fprintf(stderr, "pennant-bench-stragglers: failed (%d)\n", rc);
		return 1;
	}
	return 0;
}
