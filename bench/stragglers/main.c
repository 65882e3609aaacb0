/* pennant-bench-stragglers: simulated round times of gradient-coding schemes under
 * straggler models, as ratios to a straggler-free uncoded round measured in the same run,
 * plus heterogeneity-aware sizing on vs off. --uep (uep_exp.c) and --matmul
 * (matmul_exp.c) run the other two experiments instead. Everything is seeded and
 * deterministic. */
#include "matmul_exp.h"
#include "models.h"
#include "sim.h"
#include "uep_exp.h"

#include "cli.h"
#include "json.h"
#include "version.h"

#include "pennant/codes.h"
#include "pennant/sched.h"
#include "pennant/sizing.h"
#include "pennant/straggler.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pn_json js; /* the --json record, written as the models run */

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

struct scheme_def {
	const char *name;
	pn_code_kind kind;
	pn_wait_mode wait;
	bool rescale; /* ignore-stragglers: average what arrived, scaled by n/|F| */
};

static const struct scheme_def scheme_defs[] = {
	{ "uncoded-all", PN_CODE_UNCODED, PN_WAIT_ALL, false },
	{ "uncoded-ignore", PN_CODE_UNCODED, PN_WAIT_COUNT, true },
	{ "fractional", PN_CODE_FRACTIONAL, PN_WAIT_CODE, false },
	{ "cyclic", PN_CODE_CYCLIC, PN_WAIT_CODE, false },
	{ "expander", PN_CODE_EXPANDER, PN_WAIT_COUNT, false },
	{ "gcdc", PN_CODE_GCDC, PN_WAIT_CODE, false },
	{ "comm-efficient", PN_CODE_COMM_EFFICIENT, PN_WAIT_CODE, false },
};
#define NSCHEMES (int)(sizeof scheme_defs / sizeof scheme_defs[0])

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

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pennant-bench-stragglers [options]\n"
		"Simulates aggregation rounds with n workers and reports round time p50/p99 as ratios\n"
		"to a straggler-free uncoded round (same run) for: uncoded wait-for-all, uncoded\n"
		"ignore-stragglers (and its gradient bias), fractional, cyclic, expander (approximate)\n"
		"GC-DC and communication-efficient codes (messages of d/m: link time / m, load s+m);\n"
		"then heterogeneity-aware sizing on vs off.\n"
		"  --n N            workers (default 16)\n"
		"  --s S            stragglers to tolerate (default 2)\n"
		"  --model M        exp | markov | adversarial | all (default all)\n"
		"  --rounds R       rounds per model (default 1000)\n"
		"  --seed X         RNG seed (default 1)\n"
		"  --clusters P     GC-DC clusters (default: automatic)\n"
		"  --chunks K       chunks per gradient (default 8)\n"
		"  --comm T         link time of one gradient, in partition-compute units (default 0.05)\n"
		"  --comm-dim M     comm-efficient code: messages of d/M values (default 2)\n"
		"  --policy NAME    pull order: round-robin | earliest-ready | layer-priority\n"
		"  --window-worker W / --window-total W   reads in flight (default 2 / 8)\n"
		"  --exp-mean X     exp model: mean delay (default 1.0)\n"
		"  --p-slow X --p-recover X   markov transition probabilities (default 0.05 / 0.3)\n"
		"  --slow-delay X   markov/adversarial slow delay (default 10)\n"
		"  --jitter X       mean exponential jitter of every worker (default 0.1)\n"
		"  --json           JSON output\n"
		"  --uep            instead: unequal vs equal error protection at a deadline (Markov model,\n"
		"                   same load budget D = 1..4), using --n --rounds --seed and the markov options\n"
		"  --uep-slack X    deadline = D + X (default 1)\n"
		"  --uep-norms L --uep-sizes L   per-block norms and coordinate shares, comma-separated\n"
		"                   (default 0.2,0.5,1,2 and 0.4,0.3,0.2,0.1)\n"
		"  --matmul         instead: MDS-coded A*x vs uncoded, n = 2,4,..,--mm-max-n (default 256)\n"
		"  --mm-shift X --mm-rate X   worker time (shift + Exp(rate))/k (default 1 / 1)\n"
		"  --help\n"
		"Columns: load = partitions per worker; p50/p99/mean = round time / baseline;\n"
		"resid = mean ‖B_Fᵀa − 1‖/√n per round (0 = exact sum); bias = ‖mean_t(B_Fᵀa) − 1‖/√n\n"
		"(systematic under-weighting of some partitions); exact = rounds decoded exactly;\n"
		"cond = worst decode condition number (comm-efficient: of the generator columns G_F).\n");
}

/* "a,b,c" into v (at most 8); *count must agree between the lists given. */
static int parse_list(const char *str, double *v, int *count)
{
	int k = 0;
	const char *p = str;
	while (*p && k < 8) {
		char *end;
		double x = strtod(p, &end);
		if (end == p || !isfinite(x) || x < 0)
			return -EINVAL;
		v[k++] = x;
		p = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -EINVAL;
	}
	if (*p || k == 0)
		return -EINVAL;
	*count = k;
	return 0;
}

static int parse(int argc, char **argv, struct options *o)
{
	*o = (struct options){ .n = 16, .s = 2, .rounds = 1000, .chunks = 8, .window_worker = 2, .comm_dim = 2,
			       .window_total = 8, .model = -1, .seed = 1, .comm = 0.05,
			       .policy = &pn_policy_earliest_ready };
	model_defaults(&o->mp);
	uep_defaults(&o->ue);
	o->mm = (matmul_options){ .max_n = 256, .shift = 1.0, .rate = 1.0 };
	static const struct option longopts[] = {
		{ "n", required_argument, 0, 'n' },          { "s", required_argument, 0, 's' },
		{ "model", required_argument, 0, 'm' },      { "rounds", required_argument, 0, 'r' },
		{ "seed", required_argument, 0, 'x' },       { "clusters", required_argument, 0, 'P' },
		{ "chunks", required_argument, 0, 'k' },     { "comm", required_argument, 0, 'c' },
		{ "policy", required_argument, 0, 'o' },     { "window-worker", required_argument, 0, 'w' },
		{ "window-total", required_argument, 0, 'W' }, { "exp-mean", required_argument, 0, 'e' },
		{ "p-slow", required_argument, 0, 'a' },     { "p-recover", required_argument, 0, 'b' },
		{ "slow-delay", required_argument, 0, 'd' }, { "jitter", required_argument, 0, 'j' },
		{ "json", no_argument, 0, 'J' },             { "help", no_argument, 0, 'h' },
		{ "comm-dim", required_argument, 0, 'M' },
		{ "uep", no_argument, 0, 'U' },              { "uep-slack", required_argument, 0, 'S' },
		{ "uep-norms", required_argument, 0, 'N' },  { "uep-sizes", required_argument, 0, 'Z' },
		{ "matmul", no_argument, 0, 'X' },           { "mm-max-n", required_argument, 0, 'G' },
		{ "mm-shift", required_argument, 0, 'H' },   { "mm-rate", required_argument, 0, 'R' },
		{ "version", no_argument, 0, 'V' },          { 0, 0, 0, 0 },
	};
	int c;
	char *end;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		bool numeric = optarg && c != 'm' && c != 'o' && c != 'N' && c != 'Z';
		double v = numeric ? strtod(optarg, &end) : 0;
		if (numeric && (*end || end == optarg || !isfinite(v))) {
			fprintf(stderr, "bad number '%s'\n", optarg);
			return -EINVAL;
		}
		switch (c) {
		case 'n': o->n = (int)v; break;
		case 's': o->s = (int)v; break;
		case 'r': o->rounds = (int)v; break;
		case 'x': o->seed = (uint64_t)v; break;
		case 'P': o->clusters = (int)v; break;
		case 'k': o->chunks = (int)v; break;
		case 'c': o->comm = v; break;
		case 'M': o->comm_dim = (int)v; break;
		case 'U': o->uep = true; break;
		case 'S': o->ue.slack = v; break;
		case 'X': o->matmul = true; break;
		case 'G': o->mm.max_n = (int)v; break;
		case 'H': o->mm.shift = v; break;
		case 'R': o->mm.rate = v; break;
		case 'N':
		case 'Z':
			if (parse_list(optarg, c == 'N' ? o->ue.norm : o->ue.size, &o->ue.blocks) < 0) {
				fprintf(stderr, "bad list '%s' (1..8 comma-separated numbers >= 0)\n", optarg);
				return -EINVAL;
			}
			break;
		case 'w': o->window_worker = (int)v; break;
		case 'W': o->window_total = (int)v; break;
		case 'e': o->mp.exp_mean = v; break;
		case 'a': o->mp.p_slow = v; break;
		case 'b': o->mp.p_recover = v; break;
		case 'd': o->mp.slow_delay = v; break;
		case 'j': o->mp.jitter = v; break;
		case 'J': o->json = true; break;
		case 'h': usage(stdout); exit(0);
		case 'V': pn_tools_print_version(stdout, "pennant-bench-stragglers"); exit(0);
		case '?':
		case ':': pn_cli_bad_option("pennant-bench-stragglers", c, argv); return -EINVAL;
		case 'm':
			if (strcmp(optarg, "all") == 0) {
				o->model = -1;
			} else if ((o->model = model_from_name(optarg)) < 0) {
				fprintf(stderr, "unknown model '%s' (exp, markov, adversarial, all)\n", optarg);
				return -EINVAL;
			}
			break;
		case 'o':
			if (!(o->policy = pn_pull_policy_by_name(optarg))) {
				fprintf(stderr, "unknown policy '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		default: usage(stderr); return -EINVAL;
		}
		if (numeric && v < 0) {
			fprintf(stderr, "negative value '%s'\n", optarg);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	const char *why = NULL;
	if (o->n < 1 || o->n > 1024)
		why = "--n must be in [1, 1024]";
	else if (o->s < 0 || o->s >= o->n)
		why = "--s must be in [0, n)";
	else if (o->rounds < 1 || o->rounds > 10000000)
		why = "--rounds must be in [1, 1e7]";
	else if (o->chunks < 1 || o->chunks > 4096)
		why = "--chunks must be in [1, 4096]";
	else if (o->mm.max_n < 2 || o->mm.max_n > 4096 || !(o->mm.rate > 0))
		why = "--mm-max-n must be in [2, 4096], --mm-rate > 0";
	else if (o->comm_dim < 1 || o->comm_dim > o->n)
		why = "--comm-dim must be in [1, n]";
	else if (o->window_worker < 1 || o->window_total < 1)
		why = "windows must be >= 1";
	else if (!(o->comm >= 0) || !(o->mp.p_slow <= 1) || !(o->mp.p_recover <= 1) ||
		 !(o->mp.p_slow + o->mp.p_recover > 0))
		why = "probabilities must be in [0, 1] (and not both 0), comm >= 0";
	if (why) {
		fprintf(stderr, "pennant-bench-stragglers: %s\n", why);
		return -EINVAL;
	}
	return 0;
}

static int make_puller(const struct options *o, const pn_chunk_plan *plan, pn_puller **out)
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

static int scheme_init(struct scheme *sc, const struct scheme_def *def, const struct options *o,
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

static void scheme_free(struct scheme *sc)
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

/* Effective weight of every partition, w = B_Fᵀa, and its relative error. */
static double account_decode(struct scheme *sc, const bool *finished, double *a, double *w)
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, int m, double q)
{
	int i = (int)ceil(q * m) - 1;
	return v[i < 0 ? 0 : i >= m ? m - 1 : i];
}

struct summary {
	double p50, p99, mean, resid, bias, exact_frac, max_cond, load;
	long cancelled, moves;
};

static void summarize(struct scheme *sc, const struct options *o, struct summary *out)
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
		     double base, bool first)
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
	if (rc == 0) {
		(void)first; /* the writer places the commas */
		if (o->json) {
			pn_json_begin_object(&js);
			pn_json_kstring(&js, "model", model_name(mk));
			pn_json_key(&js, "schemes");
			pn_json_begin_array(&js);
		} else {
			printf("\nmodel %s", model_name(mk));
			if (mk == MODEL_EXP)
				printf(" (i.i.d. exponential delay, mean %g)\n", o->mp.exp_mean);
			else if (mk == MODEL_MARKOV)
				printf(" (two-state: P(fast->slow)=%g P(slow->fast)=%g, slow delay %g, jitter %g)\n",
				       o->mp.p_slow, o->mp.p_recover, o->mp.slow_delay, o->mp.jitter);
			else
				printf(" (s=%d contiguous workers delayed by %g, moved every %d rounds)\n", o->s,
				       o->mp.slow_delay, o->mp.adv_period);
			printf("%-15s %4s %7s %7s %7s %8s %8s %6s %9s %9s\n", "scheme", "load", "p50", "p99", "mean",
			       "resid", "bias", "exact", "cond", "cancelled");
		}
		for (int k = 0; k < NSCHEMES; k++) {
			struct scheme *s = &sc[k];
			if (s->skip[0]) {
				if (o->json) {
					pn_json_begin_object(&js);
					pn_json_kstring(&js, "scheme", s->def->name);
					pn_json_kstring(&js, "skipped", s->skip);
					pn_json_end_object(&js);
				} else {
					printf("%-15s (not applicable: %s)\n", s->def->name, s->skip);
				}
				continue;
			}
			struct summary su;
			summarize(s, o, &su);
			if (o->json) {
				pn_json_begin_object(&js);
				pn_json_kstring(&js, "scheme", s->def->name);
				pn_json_kstring(&js, "code", pn_code_describe(s->code));
				pn_json_kstring(&js, "wait", pn_wait_mode_name(s->wait.mode));
				pn_json_knumber(&js, "load", su.load);
				pn_json_knumber(&js, "p50", su.p50);
				pn_json_knumber(&js, "p99", su.p99);
				pn_json_knumber(&js, "mean", su.mean);
				pn_json_knumber(&js, "resid", su.resid);
				pn_json_knumber(&js, "bias", su.bias);
				pn_json_knumber(&js, "exact_frac", su.exact_frac);
				pn_json_knumber(&js, "max_cond", su.max_cond);
				pn_json_kint(&js, "ill_conditioned", s->ill);
				pn_json_kint(&js, "cancelled", su.cancelled);
				pn_json_kint(&js, "gcdc_moves", su.moves);
				pn_json_end_object(&js);
			}
			else
				printf("%-15s %4g %7.3f %7.3f %7.3f %8.4f %8.4f %5.1f%% %9.3g %9ld\n", s->def->name,
				       su.load, su.p50, su.p99, su.mean, su.resid, su.bias, 100 * su.exact_frac,
				       su.max_cond, su.cancelled);
		}
		if (o->json) {
			pn_json_end_array(&js);
			pn_json_end_object(&js);
		}
	}
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
	if (o->json) {
		pn_json_key(&js, "sizing");
		pn_json_begin_object(&js);
		for (int on = 0; on < 2; on++) {
			pn_json_key(&js, on ? "on" : "off");
			pn_json_begin_object(&js);
			pn_json_knumber(&js, "p50", p50[on]);
			pn_json_knumber(&js, "p99", p99[on]);
			pn_json_end_object(&js);
		}
		pn_json_kuint(&js, "replans", st.replans);
		pn_json_knumber(&js, "speedup_p50", p50[0] / p50[1]);
		pn_json_end_object(&js);
	} else {
		printf("\nsizing (uncoded wait-for-all; speeds GPU 4x / CPU 1x / slow 0.5x, two CPUs 3x slower "
		       "from round %d; jitter only)\n", R / 2);
		printf("%-15s %7s %7s\n", "sizing", "p50", "p99");
		printf("%-15s %7.3f %7.3f\n", "off (equal)", p50[0], p99[0]);
		printf("%-15s %7.3f %7.3f   (re-plans: %llu, p50 speed-up %.2fx)\n", "on (throughput)", p50[1],
		       p99[1], (unsigned long long)st.replans, p50[0] / p50[1]);
	}
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
	if (parse(argc, argv, &o) < 0)
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
	if (o.json) {
		pn_json_begin_object(&js);
		pn_json_provenance(&js, "pennant-bench-stragglers");
		pn_json_kint(&js, "n", o.n);
		pn_json_kint(&js, "s", o.s);
		pn_json_kint(&js, "rounds", o.rounds);
		pn_json_kuint(&js, "seed", o.seed);
		pn_json_kint(&js, "chunks", plan.nchunks);
		pn_json_knumber(&js, "comm", o.comm);
		pn_json_kstring(&js, "policy", o.policy->name);
		pn_json_kint(&js, "comm_dim", o.comm_dim);
		pn_json_kint(&js, "window_worker", o.window_worker);
		pn_json_kint(&js, "window_total", o.window_total);
		pn_json_knumber(&js, "baseline_time", base);
		pn_json_key(&js, "models");
		pn_json_begin_array(&js);
	}
	else
		printf("pennant-bench-stragglers: n=%d s=%d rounds=%d seed=%llu chunks=%d comm=%g comm-dim=%d policy=%s "
		       "windows=%d/%d\nbaseline: straggler-free uncoded round = %.4f time units (1 unit = one "
		       "partition's gradient); all times below are ratios to it\n",
		       o.n, o.s, o.rounds, (unsigned long long)o.seed, plan.nchunks, o.comm, o.comm_dim,
		       o.policy->name, o.window_worker, o.window_total, base);
	bool first = true;
	for (int mk = 0; mk < MODEL_COUNT_ && rc == 0; mk++) {
		if (o.model >= 0 && o.model != mk)
			continue;
		rc = run_model(&o, (model_kind)mk, &plan, chunk_time, base, first);
		first = false;
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
