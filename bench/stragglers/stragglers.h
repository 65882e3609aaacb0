/* pennant-bench-stragglers, shared between its files: the options (options.c), the
 * compared schemes and their per-round accounting (schemes.c), and the table / JSON
 * report (report.c); main.c runs the models. */
#ifndef PN_BENCH_STRAGGLERS_H
#define PN_BENCH_STRAGGLERS_H

#include "matmul_exp.h"
#include "models.h"
#include "uep_exp.h"

#include "json.h"

#include "pennant/codes.h"
#include "pennant/sched.h"
#include "pennant/straggler.h"

#include <stdbool.h>
#include <stdint.h>

struct options {
	int n, s, rounds, chunks, clusters, window_worker, window_total, comm_dim;
	int model; /* -1: all */
	uint64_t seed;
	double comm; /* link time of one whole gradient */
	bool json, matmul, uep;
	const pn_pull_policy *policy;
	model_params mp;
	matmul_options mm;
	uep_options ue;
};

/* Parses the command line into o (exits on --help / --version): 0, or -EINVAL with the
 * reason on stderr. */
int stragglers_parse(int argc, char **argv, struct options *o);

struct scheme_def {
	const char *name;
	pn_code_kind kind;
	pn_wait_mode wait;
	bool rescale; /* ignore-stragglers: average what arrived, scaled by n/|F| */
};

extern const struct scheme_def scheme_defs[];
#define NSCHEMES 7


struct scheme {
	const struct scheme_def *def;
	pn_code *code;
	pn_puller *puller;
	pn_straggler_policy wait;
	double *load;          /* partitions per worker */
	double *ratio;         /* per round */
	double *wsum;          /* Σ over rounds of the effective partition weights */
	double *A;             /* decode matrix (comm_dim × n) */
	double link_scale;     /* message length / gradient length (1/m for comm-efficient) */
	double resid_sum, max_cond;
	long exact, ill, cancelled, moves;
	char skip[200];        /* non-empty: not applicable for these parameters */
};

struct summary {
	double p50, p99, mean, resid, bias, exact_frac, max_cond, load;
	long cancelled, moves;
};

int make_puller(const struct options *o, const pn_chunk_plan *plan, pn_puller **out);
/* A scheme for these parameters; one that does not apply gets skip[] set and returns 0. */
int scheme_init(struct scheme *sc, const struct scheme_def *def, const struct options *o,
		const pn_chunk_plan *plan);
void scheme_free(struct scheme *sc);
/* Effective weight of every partition, w = B_Fᵀa, and its relative error. */
double account_decode(struct scheme *sc, const bool *finished, double *a, double *w);
/* Sorts sc->ratio and summarises the scheme's rounds. */
void summarize(struct scheme *sc, const struct options *o, struct summary *out);
/* Sorts v (m values) and returns its nearest-rank q-percentile. */
int cmp_double(const void *a, const void *b);
double pct(const double *v, int m, double q);

/* The report: run header, one model's table (or JSON object), the sizing comparison. */
void report_begin(pn_json *js, const struct options *o, int nchunks, double base);
void report_model(pn_json *js, const struct options *o, model_kind mk, struct scheme *sc, int nsc);
void report_sizing(pn_json *js, const struct options *o, int R, const double p50[2], const double p99[2], unsigned long long replans);

#endif
