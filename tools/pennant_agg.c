/* pennant-agg: offline robust aggregation of a (p, d) float32, fp16 or bf16 .npy array.
 *
 *   pennant-agg --rule flag --r 8 grads.npy -o out.npy --json
 */
#include "cli.h"
#include "json.h"
#include "version.h"
#include "pennant/agg.h"
#include "pennant/npy.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *o)
{
	fprintf(o,
		"usage: pennant-agg --rule RULE [options] IN.npy -o OUT.npy\n"
		"\n"
		"Aggregates the rows of IN (shape (p, d), one row per worker; float32 '<f4',\n"
		"fp16 '<f2' or bf16 [('bf16', '<u2')]) into OUT (float32, shape (d,)) with a\n"
		"Byzantine-robust rule.\n"
		"\n"
		"rules: mean median trimmed-mean meamed phocas krum multi-krum bulyan geomed flag\n"
		"options:\n"
		"  --rule RULE          aggregation rule (required)\n"
		"  --f N                assumed Byzantine workers (default 0)\n"
		"  --m N                multi-krum: workers averaged (default p-f-2)\n"
		"  --beta X             trimmed mean: fraction trimmed per side (default f/p)\n"
		"  --r N                flag: subspace dimension (default min(p, 8))\n"
		"  --lambda X           flag: pairwise regularizer (default 0)\n"
		"  --mode MODE          flag: reference (one IRLS step, default) | converged\n"
		"  --max-iters N        flag converged / geomed iteration cap (default 100)\n"
		"  --threads N          threads (default: all CPUs)\n"
		"  -o, --output FILE    output .npy (required)\n"
		"  --json               print per-worker weights, scores and timings as JSON\n"
		"  --version            print the version and commit\n"
		"  -h, --help           this help\n");
}

static int parse_int(const char *s, const char *name, int lo, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > 1 << 30) {
		fprintf(stderr, "pennant-agg: %s expects an integer >= %d, got '%s'\n", name, lo, s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int parse_double(const char *s, const char *name, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v)) {
		fprintf(stderr, "pennant-agg: %s expects a number, got '%s'\n", name, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int print_json(const pn_agg_config *cfg, pn_agg *a, double t_total)
{
	pn_agg_report r;
	pn_agg_get_report(a, &r);
	const double *w = pn_agg_weights(a), *s = pn_agg_scores(a);
	const int *st = pn_agg_status(a);
	pn_json j;
	pn_json_init(&j, stdout);
	pn_json_begin_object(&j);
	pn_json_provenance(&j, "pennant-agg");
	pn_json_kstring(&j, "rule", pn_rule_name(cfg->rule));
	pn_json_kint(&j, "p", cfg->p);
	pn_json_kuint(&j, "d", cfg->d);
	pn_json_kstring(&j, "grad_dtype", pn_dtype_name(cfg->grad_dtype));
	pn_json_kint(&j, "f", cfg->f);
	if (cfg->rule == PN_RULE_FLAG) {
		pn_json_kint(&j, "r", cfg->r);
		pn_json_knumber(&j, "lambda", cfg->lambda);
		pn_json_kstring(&j, "mode", cfg->flag_mode == PN_FLAG_CONVERGED ? "converged" : "reference");
	}
	pn_json_kint(&j, "used", r.used);
	pn_json_kint(&j, "nonfinite", r.nonfinite);
	pn_json_kint(&j, "iterations", r.iterations);
	pn_json_knumber(&j, "objective", r.objective);
	pn_json_key(&j, "time_s");
	pn_json_begin_object(&j);
	pn_json_knumber(&j, "total", t_total);
	pn_json_knumber(&j, "gram_or_blocks", r.t_gram_s);
	pn_json_knumber(&j, "solve", r.t_solve_s);
	pn_json_knumber(&j, "combine", r.t_combine_s);
	pn_json_end_object(&j);
	pn_json_key(&j, "workers");
	pn_json_begin_array(&j);
	for (int i = 0; i < cfg->p; i++) {
		pn_json_begin_object(&j);
		pn_json_kint(&j, "rank", i);
		pn_json_kstring(&j, "status", pn_agg_status_name(st[i]));
		pn_json_knumber(&j, "weight", w[i]);
		pn_json_knumber(&j, "score", s[i]); /* null when not finite */
		pn_json_end_object(&j);
	}
	pn_json_end_array(&j);
	pn_json_end_object(&j);
	return pn_json_close(&j);
}

int main(int argc, char **argv)
{
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, 1, 1, PN_RULE_MEAN);
	const char *out_path = NULL, *rule = NULL;
	int json = 0;
	enum { O_RULE = 256, O_F, O_M, O_BETA, O_R, O_LAMBDA, O_MODE, O_ITERS, O_THREADS, O_JSON,
	       O_VERSION };
	static const struct option opts[] = {
		{"rule", required_argument, 0, O_RULE},     {"f", required_argument, 0, O_F},
		{"m", required_argument, 0, O_M},           {"beta", required_argument, 0, O_BETA},
		{"r", required_argument, 0, O_R},           {"lambda", required_argument, 0, O_LAMBDA},
		{"mode", required_argument, 0, O_MODE},     {"max-iters", required_argument, 0, O_ITERS},
		{"threads", required_argument, 0, O_THREADS}, {"output", required_argument, 0, 'o'},
		{"json", no_argument, 0, O_JSON},           {"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, O_VERSION},
		{0, 0, 0, 0},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case O_RULE: rule = optarg; break;
		case O_F: bad = parse_int(optarg, "--f", 0, &cfg.f); break;
		case O_M: bad = parse_int(optarg, "--m", 1, &cfg.m); break;
		case O_BETA: bad = parse_double(optarg, "--beta", &cfg.beta); break;
		case O_R: bad = parse_int(optarg, "--r", 1, &cfg.r); break;
		case O_LAMBDA: bad = parse_double(optarg, "--lambda", &cfg.lambda); break;
		case O_MODE:
			if (strcmp(optarg, "reference") == 0)
				cfg.flag_mode = PN_FLAG_REFERENCE;
			else if (strcmp(optarg, "converged") == 0)
				cfg.flag_mode = PN_FLAG_CONVERGED;
			else {
				fprintf(stderr, "pennant-agg: --mode is reference or converged, got '%s'\n", optarg);
				bad = 1;
			}
			break;
		case O_ITERS: bad = parse_int(optarg, "--max-iters", 1, &cfg.max_iters); break;
		case O_THREADS: bad = parse_int(optarg, "--threads", 1, &cfg.threads); break;
		case 'o': out_path = optarg; break;
		case O_JSON: json = 1; break;
		case 'h': usage(stdout); return 0;
		case O_VERSION: pn_tools_print_version(stdout, "pennant-agg"); return 0;
		default: return pn_cli_bad_option("pennant-agg", c, argv);
		}
		if (bad)
			return 2;
	}
	if (!rule || !out_path || optind != argc - 1) {
		fprintf(stderr, "pennant-agg: need --rule, one input file and -o OUT.npy (see pennant-agg --help)\n");
		return 2;
	}
	int r = pn_rule_from_name(rule);
	if (r < 0) {
		fprintf(stderr, "pennant-agg: unknown rule '%s' (see --help)\n", rule);
		return 2;
	}
	cfg.rule = (pn_rule)r;

	char err[512];
	/* The input is mapped, not copied: the rows point into the page cache. */
	pn_npy_map in;
	if (pn_npy_map_typed(argv[optind], &in, err, sizeof err) != 0) {
		fprintf(stderr, "pennant-agg: %s\n", err);
		return 1;
	}
	const char *x = in.raw;
	const size_t *shape = in.shape;
	int ndim = in.ndim;
	if (ndim != 2 || shape[0] == 0 || shape[1] == 0 || shape[0] > (1u << 20)) {
		fprintf(stderr, "pennant-agg: %s: expected a non-empty 2-D array (p, d), got %d-D\n",
			argv[optind], ndim);
		pn_npy_unmap(&in);
		return 1;
	}
	cfg.p = (int)shape[0];
	cfg.d = shape[1];
	cfg.grad_dtype = in.dtype;
	if (pn_agg_config_check(&cfg, err, sizeof err) != 0) {
		fprintf(stderr, "pennant-agg: %s\n", err);
		pn_npy_unmap(&in);
		return 2;
	}
	/* p comes from the file (up to 2^20 rows): on the heap, never the stack */
	const void **rows = malloc(sizeof(void *) * (size_t)cfg.p);
	float *out = malloc(cfg.d * sizeof *out);
	for (int i = 0; rows && i < cfg.p; i++)
		rows[i] = x + (size_t)i * cfg.d * pn_dtype_size(in.dtype);
	if (!rows) {
		free(out);
		out = NULL;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pn_agg *a = out ? pn_agg_begin_typed(&cfg, rows, err, sizeof err) : NULL;
	int rc = a ? 0 : -1;
	for (int i = 0; a && i < cfg.p && rc == 0; i++)
		rc = pn_agg_landed(a, i, 0, cfg.d);
	if (a && rc == 0)
		rc = pn_agg_finish(a, out);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc != 0) {
		fprintf(stderr, "pennant-agg: %s\n", a ? pn_agg_errmsg(a) : (out ? err : "out of memory"));
		pn_agg_free(a);
		free((void *)rows);
		free(out);
		pn_npy_unmap(&in);
		return 1;
	}
	pn_agg_report rep;
	pn_agg_get_report(a, &rep);
	if (rep.nonfinite)
		fprintf(stderr, "pennant-agg: %d worker(s) sent NaN/Inf and were excluded\n", rep.nonfinite);
	size_t oshape[1] = {cfg.d};
	if (pn_npy_write_f32(out_path, out, oshape, 1, err, sizeof err) != 0) {
		fprintf(stderr, "pennant-agg: %s\n", err);
		rc = 1;
	} else if (json &&
		   print_json(&cfg, a, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec))) {
		fprintf(stderr, "pennant-agg: writing the JSON to stdout failed\n");
		rc = 1;
	}
	pn_agg_free(a);
	free((void *)rows);
	free(out);
	pn_npy_unmap(&in);
	return rc ? 1 : 0;
}
