/* pennant-bench-agg: aggregation throughput, with same-run baselines.
 *
 * For each (p, d): per rule, the time of one aggregation (median over repetitions
 * after warm-up), and three ratios against baselines measured in the same run:
 *   (a) Gram pass GFLOP/s vs OpenBLAS ssyrk and dsyrk on the same shape,
 *   (b) combination pass GB/s vs a multi-threaded memory-read loop over the same data,
 *   (c) Flag (reference mode) time vs the naive route: LAPACK SVD of the d×p matrix,
 * and every pass and rule as a ratio to the memory-read loop, next to the previous
 * kernels timed in the same run (Gram: float64 2×4 tiles; sorting rules: the scalar
 * insertion sort) and the opt-in float32-product Gram kernel.
 * --grad-dtype bf16|f16: the rules read half rows (p·d·2 bytes); their GB/s of input and
 * ratio are against a read loop over those half rows, timed in the same run. The pass
 * baselines above the rule table stay float32.
 * Nothing here asserts a timing. */
#include "json.h"
#include "bench_cli.h"
#include "version.h"
#include "pennant/agg.h"
#include "agg/agg_internal.h"
#include "agg/gram_variants.h"
#include "agg/coord_simd.h"
#include "bench_agg.h"

#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void openblas_set_num_threads(int);

typedef struct opts {
	int ps[8], np;
	double ds[8];
	int nd;
	int reps, warmup, threads;
	int json, naive, prev;
	unsigned rules; /* bit per pn_rule */
	pn_dtype dtype; /* --grad-dtype: element type of the rules' input */
} opts;

static int parse_list_int(const char *s, int *v, int max)
{
	int n = 0;
	char *end;
	while (*s && n < max) {
		long x = strtol(s, &end, 10);
		if (end == s || x < 1 || x > 1024)
			return -1;
		v[n++] = (int)x;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return n;
}

static int parse_list_double(const char *s, double *v, int max)
{
	int n = 0;
	char *end;
	while (*s && n < max) {
		double x = strtod(s, &end);
		if (end == s || !(x >= 1) || x > 1e9)
			return -1;
		v[n++] = x;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return n;
}

static void usage(FILE *o)
{
	fprintf(o, "usage: pennant-bench-agg [--p 8,15,32] [--d 1e6,1e7] [--rules flag,krum,...]\n"
		   "                         [--reps N] [--warmup N] [--threads N] [--no-naive] [--no-previous]\n"
		   "                         [--grad-dtype f32|bf16|f16] [--json]\n"
		   "                         [--version]\n"
		   "Times every rule and prints same-run baselines: OpenBLAS syrk for the Gram pass,\n"
		   "a memory-read loop for the combination pass, a LAPACK SVD for Flag, and every\n"
		   "pass and rule as a ratio to the memory-read loop. The previous kernels (Gram\n"
		   "float64 2x4 tiles, scalar sorting) are timed in the same run unless --no-previous.\n"
		   "defaults: --p 8,15,32 --d 1e6,1e7 --reps 5 --warmup 1, all rules, all CPUs.\n"
		   "d goes up to 2.5e7 (--d 2.5e7); memory needed ≈ p·d·4 bytes (+ p·d·16 for the\n"
		   "naive SVD and dsyrk copies).\n"
		   "--grad-dtype bf16|f16: the rules aggregate half rows (half the bytes read); their\n"
		   "GB/s and 'vs read' are against a read loop over the half rows.\n");
}

int main(int argc, char **argv)
{
	opts o = {.ps = {8, 15, 32}, .np = 3, .ds = {1e6, 1e7}, .nd = 2, .reps = 5, .warmup = 1,
		  .threads = 0, .json = 0, .naive = 1, .prev = 1, .rules = ((1u << PN_RULE_COUNT_) - 1) & ~(1u << PN_RULE_WEIGHTED)};  /* weighted needs weights */
	static const struct option lo[] = {
		{"p", required_argument, 0, 'p'},      {"d", required_argument, 0, 'd'},
		{"rules", required_argument, 0, 'R'},  {"reps", required_argument, 0, 'n'},
		{"warmup", required_argument, 0, 'w'}, {"threads", required_argument, 0, 't'},
		{"no-naive", no_argument, 0, 'N'},     {"json", no_argument, 0, 'j'},
		{"no-previous", no_argument, 0, 'P'},  {"grad-dtype", required_argument, 0, 'g'},
		{0, 0, 0, 0},
	};
	struct bench_cli cli = {.prog = "pennant-bench-agg", .usage = usage, .opts = lo};
	int c, status;
	while ((c = bench_cli_next(&cli, argc, argv, &status)) != -1) {
		switch (c) {
		case BENCH_CLI_EXIT: return status;
		case 'p':
			if ((o.np = parse_list_int(optarg, o.ps, 8)) < 1)
				goto bad;
			break;
		case 'd':
			if ((o.nd = parse_list_double(optarg, o.ds, 8)) < 1)
				goto bad;
			break;
		case 'R': {
			o.rules = 0;
			char *dup = strdup(optarg), *save = NULL;
			for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				int r = pn_rule_from_name(t);
				if (r < 0) {
					fprintf(stderr, "pennant-bench-agg: unknown rule '%s'\n", t);
					free(dup);
					return 2;
				}
				o.rules |= 1u << r;
			}
			free(dup);
			break;
		}
		case 'n': o.reps = atoi(optarg); if (o.reps < 1) goto bad; break;
		case 'w': o.warmup = atoi(optarg); if (o.warmup < 0) goto bad; break;
		case 't': o.threads = atoi(optarg); if (o.threads < 1 || o.threads > MAX_THREADS) goto bad; break;
		case 'N': o.naive = 0; break;
		case 'P': o.prev = 0; break;
		case 'j': o.json = 1; break;
		case 'g': {
			int t = pn_dtype_from_name(optarg);
			if (t < 0) {
				fprintf(stderr, "pennant-bench-agg: --grad-dtype expects f32, bf16 or f16, got '%s'\n", optarg);
				return 2;
			}
			o.dtype = (pn_dtype)t;
			break;
		}
		default: goto bad;
		}
	}
	int threads = o.threads ? o.threads : pn_online_cpus();
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	openblas_set_num_threads(threads);
	FILE *tab = o.json ? stderr : stdout;
	char kernel[32];
	snprintf(kernel, sizeof kernel, "%s", pn_gram_kernel_name());
	/* main's default before the 3×4 tiles: AVX-512 4×4 where available, else AVX2 2×4 */
	const char *prev_kernel = pn_gram_use_kernel("avx512") == 0 ? "avx512" : "avx2";
	pn_gram_use_kernel(kernel);
	fprintf(tab, "# pennant-bench-agg: %d thread(s), Gram kernel %s (previous: %s), %d reps after %d warm-up, rules read %s\n",
		threads, kernel, prev_kernel, o.reps, o.warmup, pn_dtype_name(o.dtype));
	pn_json j;
	pn_json_init(&j, stdout);
	if (o.json) {
		pn_json_begin_object(&j);
		pn_json_provenance(&j, "pennant-bench-agg");
		pn_json_kint(&j, "threads", threads);
		pn_json_kstring(&j, "kernel", kernel);
		pn_json_kstring(&j, "previous_kernel", prev_kernel);
		pn_json_kint(&j, "reps", o.reps);
		pn_json_kint(&j, "warmup", o.warmup);
		pn_json_kstring(&j, "grad_dtype", pn_dtype_name(o.dtype));
		pn_json_key(&j, "results");
		pn_json_begin_array(&j);
	}
	for (int ip = 0; ip < o.np; ip++)
		for (int id = 0; id < o.nd; id++) {
			int p = o.ps[ip];
			size_t d = (size_t)o.ds[id];
			float *x = malloc(sizeof(float) * p * d), *out = malloc(sizeof(float) * d);
			if (!x || !out) {
				fprintf(stderr, "pennant-bench-agg: cannot allocate p=%d d=%zu\n", p, d);
				return 1;
			}
			uint64_t s = 88172645463325252ull;
			for (size_t k = 0; k < (size_t)p * d; k++) {
				s ^= s << 13, s ^= s >> 7, s ^= s << 17;
				x[k] = (float)((double)(s >> 40) / (double)(1ull << 24) - 0.5);
			}
			double gflop = (double)p * (p + 1) / 2.0 * (double)d * 2.0 / 1e9;
			double *G = malloc(sizeof(double) * (size_t)p * p);
			double *alpha = malloc(sizeof(double) * (size_t)p);
			const float **rows = malloc(sizeof(float *) * (size_t)p);
			if (!G || !alpha || !rows) {
				fprintf(stderr, "pennant-bench-agg: cannot allocate p=%d\n", p);
				return 1;
			}
			stats t_gram = MEASURE(o.reps, o.warmup, gram_threads(x, p, d, threads, G));
			/* The previous default kernel (float64 2×4 tiles, or AVX-512 4×4) and the
			 * opt-in float32-product kernel, same data, same run. */
			stats t_gram_prev = {NAN, NAN}, t_gram_f32 = {NAN, NAN};
			if (pn_gram_use_kernel(prev_kernel) == 0)
				t_gram_prev = MEASURE(o.reps, o.warmup, gram_threads(x, p, d, threads, G));
			if (pn_gram_use_kernel("avx2-f32") == 0)
				t_gram_f32 = MEASURE(o.reps, o.warmup, gram_threads(x, p, d, threads, G));
			pn_gram_use_kernel(kernel);
			float *Cs = malloc(sizeof(float) * p * p);
			stats t_ssyrk = MEASURE(o.reps, o.warmup,
						cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, p, (int)d,
							    1.0f, x, (int)d, 0.0f, Cs, p));
			double *xd = malloc(sizeof(double) * p * d);
			stats t_dsyrk = {NAN, NAN};
			if (xd) {
				for (size_t k = 0; k < (size_t)p * d; k++)
					xd[k] = x[k];
				t_dsyrk = MEASURE(o.reps, o.warmup,
						  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, p,
							      (int)d, 1.0, xd, (int)d, 0.0, G, p));
			}
			for (int i = 0; i < p; i++)
				alpha[i] = 1.0 / p;
			for (int i = 0; i < p; i++)
				rows[i] = x + (size_t)i * d;
			stats t_comb = MEASURE(o.reps, o.warmup, pn_combine(rows, alpha, p, d, out, threads));
			volatile double sink = 0;
			stats t_read = MEASURE(o.reps, o.warmup, sink += read_all(x, (size_t)p * d, threads));
			(void)sink;
			double bytes_comb = (double)p * d * 4 + (double)d * 4, bytes_read = (double)p * d * 4;
			double best_syrk = fmin(t_ssyrk.p50, isnan(t_dsyrk.p50) ? INFINITY : t_dsyrk.p50);
			fprintf(tab, "\n## p=%d d=%zu (%.1f MB of gradients)\n", p, d, bytes_read / 1e6);
			fprintf(tab, "%-34s %10s %10s %12s\n", "pass", "p50 ms", "p99 ms", "rate");
			fprintf(tab, "%-34s %10.2f %10.2f %9.2f GFLOP/s  %.2f GB/s\n", "gram (pennant kernel)",
				t_gram.p50 * 1e3, t_gram.p99 * 1e3, gflop / t_gram.p50, bytes_read / t_gram.p50 / 1e9);
			fprintf(tab, "%-34s %10.2f %10.2f %9.2f GFLOP/s  %.2f GB/s\n", "gram (previous kernel)",
				t_gram_prev.p50 * 1e3, t_gram_prev.p99 * 1e3, gflop / t_gram_prev.p50,
				bytes_read / t_gram_prev.p50 / 1e9);
			fprintf(tab, "%-34s %10.2f %10.2f %9.2f GFLOP/s  %.2f GB/s\n", "gram (opt-in f32 products)",
				t_gram_f32.p50 * 1e3, t_gram_f32.p99 * 1e3, gflop / t_gram_f32.p50,
				bytes_read / t_gram_f32.p50 / 1e9);
			fprintf(tab, "%-34s %10.2f %10.2f %9.2f GFLOP/s\n", "gram (OpenBLAS ssyrk)",
				t_ssyrk.p50 * 1e3, t_ssyrk.p99 * 1e3, gflop / t_ssyrk.p50);
			fprintf(tab, "%-34s %10.2f %10.2f %9.2f GFLOP/s\n", "gram (OpenBLAS dsyrk, double copy)",
				t_dsyrk.p50 * 1e3, t_dsyrk.p99 * 1e3, gflop / t_dsyrk.p50);
			fprintf(tab, "%-34s %10.2f %10.2f %9.2f GB/s\n", "combine Σα_i g_i", t_comb.p50 * 1e3,
				t_comb.p99 * 1e3, bytes_comb / t_comb.p50 / 1e9);
			fprintf(tab, "%-34s %10.2f %10.2f %9.2f GB/s\n", "memory read loop (baseline)",
				t_read.p50 * 1e3, t_read.p99 * 1e3, bytes_read / t_read.p50 / 1e9);
			double ratio_gram = best_syrk / t_gram.p50;
			double ratio_comb = (bytes_comb / t_comb.p50) / (bytes_read / t_read.p50);
			fprintf(tab, "ratio (a) gram vs best OpenBLAS syrk: %.2fx   (b) combine vs memory read: %.2f\n",
				ratio_gram, ratio_comb);
			double gbs_read = bytes_read / t_read.p50;
			double rg_read = bytes_read / t_gram.p50 / gbs_read,
			       rg_prev = bytes_read / t_gram_prev.p50 / gbs_read,
			       rg_f32 = bytes_read / t_gram_f32.p50 / gbs_read;
			fprintf(tab, "ratio gram vs memory read: %.2f (previous kernel %.2f, opt-in f32 %.2f)\n",
				rg_read, rg_prev, rg_f32);
			/* The compute roof: p(p+1)/2 float64 FMAs per coordinate at the FMA peak
			 * measured now. The best a float64 Gram pass can do against the read
			 * loop is the read time over max(read time, roof time). */
			double peak = fma_peak_gflops(threads);
			double t_roof = gflop / peak, best_ratio = t_read.p50 / fmax(t_read.p50, t_roof);
			fprintf(tab, "roofline: float64 FMA peak %.1f GFLOP/s (same run) -> the FMAs alone take %.2f ms; "
				"best possible gram vs read %.2f; the kernel runs at %.2f of the FMA peak\n",
				peak, t_roof * 1e3, best_ratio, t_roof / t_gram.p50);

			/* The rules' input: the float32 rows, or the same values as half rows. */
			size_t es = pn_dtype_size(o.dtype);
			uint16_t *xh = es == 2 ? malloc(2 * (size_t)p * d) : NULL;
			if (es == 2 && !xh) {
				fprintf(stderr, "pennant-bench-agg: cannot allocate p=%d d=%zu half rows\n", p, d);
				return 1;
			}
			if (xh)
				pn_f32_to_half(o.dtype, xh, x, (size_t)p * d);
			const void *xin = xh ? (const void *)xh : x;
			double bytes_in = (double)p * d * es;
			/* the read loop over the rules' own input bytes (half rows: p·d/2 floats' worth) */
			stats t_read_in = xh ? MEASURE(o.reps, o.warmup,
						       sink += read_all((const float *)xh, (size_t)p * d / 2, threads))
					     : t_read;
			fprintf(tab, "rules read %s: %.1f MB; memory read loop over it %.2f ms, %.2f GB/s\n",
				pn_dtype_name(o.dtype), bytes_in / 1e6, t_read_in.p50 * 1e3,
				bytes_in / t_read_in.p50 / 1e9);

			double t_rule[PN_RULE_COUNT_], t_rule99[PN_RULE_COUNT_], t_prev[PN_RULE_COUNT_];
			fprintf(tab, "%-14s %10s %10s %12s %9s %18s\n", "rule", "p50 ms", "p99 ms", "GB/s in",
				"vs read", "previous kernel");
			for (int r = 0; r < PN_RULE_COUNT_; r++) {
				t_rule[r] = t_prev[r] = NAN;
				if (!(o.rules >> r & 1))
					continue;
				pn_agg_config cfg;
				pn_agg_config_init(&cfg, p, d, (pn_rule)r);
				cfg.f = (p - 3) / 4; /* Bulyan's p >= 4f+3 holds for every p */
				cfg.threads = threads;
				cfg.grad_dtype = o.dtype;
				char err[256];
				int rc = 0;
				stats t = MEASURE(o.reps, o.warmup,
						  rc |= pn_aggregate_typed(&cfg, xin, out, NULL, NULL, err, sizeof err));
				if (rc) {
					fprintf(tab, "%-14s error: %s\n", pn_rule_name((pn_rule)r), err);
					continue;
				}
				t_rule[r] = t.p50;
				t_rule99[r] = t.p99;
				/* The sorting rules again with the scalar insertion sort (the previous
				 * kernel), once: it is slow. */
				bool sorting = r == PN_RULE_MEDIAN || r == PN_RULE_TRIMMED_MEAN ||
					       r == PN_RULE_MEAMED || r == PN_RULE_PHOCAS || r == PN_RULE_BULYAN;
				if (sorting && o.prev) {
					pn_coord_simd_enable(false);
					stats tp = MEASURE(1, 0, rc |= pn_aggregate_typed(&cfg, xin, out, NULL, NULL, err, sizeof err));
					pn_coord_simd_enable(true);
					t_prev[r] = tp.p50;
				}
				fprintf(tab, "%-14s %10.2f %10.2f %12.2f %9.2f", pn_rule_name((pn_rule)r), t.p50 * 1e3,
					t.p99 * 1e3, bytes_in / t.p50 / 1e9, t_read_in.p50 / t.p50);
				if (!isnan(t_prev[r]))
					fprintf(tab, " %7.2f GB/s %4.2f", bytes_in / t_prev[r] / 1e9, t_read_in.p50 / t_prev[r]);
				fprintf(tab, "\n");
			}
			double t_naive = NAN, naive_diff = NAN;
			if (o.naive && (o.rules >> PN_RULE_FLAG & 1)) {
				double *A = malloc(sizeof(double) * d * p);
				float *nout = malloc(sizeof(float) * d);
				if (A && nout) {
					int r = p < 8 ? p : 8;
					stats tn = MEASURE(1, 0, naive_flag(x, p, d, r, A, nout));
					t_naive = tn.p50;
					pn_agg_config cfg;
					pn_agg_config_init(&cfg, p, d, PN_RULE_FLAG);
					char err[256];
					pn_aggregate(&cfg, x, out, NULL, NULL, err, sizeof err);
					double num = 0, den = 0;
					for (size_t q = 0; q < d; q++) {
						num += ((double)out[q] - nout[q]) * ((double)out[q] - nout[q]);
						den += (double)nout[q] * nout[q];
					}
					naive_diff = sqrt(num / den);
					fprintf(tab, "ratio (c) flag vs naive SVD route: naive %.1f ms / flag %.2f ms = %.1fx"
						"  (outputs differ by %.1e relative)\n",
						t_naive * 1e3, t_rule[PN_RULE_FLAG] * 1e3, t_naive / t_rule[PN_RULE_FLAG],
						naive_diff);
				}
				free(A);
				free(nout);
			}
			if (o.json) {
				/* not measured (no naive run, a rule left out or failing) is null */
				pn_json_begin_object(&j);
				pn_json_kint(&j, "p", p);
				pn_json_kuint(&j, "d", d);
				pn_json_knumber(&j, "gram_s", t_gram.p50);
				pn_json_knumber(&j, "ssyrk_s", t_ssyrk.p50);
				pn_json_knumber(&j, "dsyrk_s", t_dsyrk.p50);
				pn_json_knumber(&j, "gram_gflops", gflop / t_gram.p50);
				pn_json_knumber(&j, "ratio_gram_vs_syrk", ratio_gram);
				pn_json_knumber(&j, "gram_prev_s", t_gram_prev.p50);
				pn_json_knumber(&j, "gram_f32_s", t_gram_f32.p50);
				pn_json_knumber(&j, "ratio_gram_vs_read", rg_read);
				pn_json_knumber(&j, "ratio_gram_prev_vs_read", rg_prev);
				pn_json_knumber(&j, "ratio_gram_f32_vs_read", rg_f32);
				pn_json_knumber(&j, "fma_peak_gflops", peak);
				pn_json_knumber(&j, "ratio_gram_roofline_best", best_ratio);
				pn_json_knumber(&j, "gram_fraction_of_fma_peak", t_roof / t_gram.p50);
				pn_json_knumber(&j, "combine_s", t_comb.p50);
				pn_json_knumber(&j, "combine_gbs", bytes_comb / t_comb.p50 / 1e9);
				pn_json_knumber(&j, "read_gbs", bytes_read / t_read.p50 / 1e9);
				pn_json_knumber(&j, "ratio_combine_vs_read", ratio_comb);
				pn_json_knumber(&j, "rules_bytes_read", bytes_in);
				pn_json_knumber(&j, "rules_read_gbs", bytes_in / t_read_in.p50 / 1e9);
				pn_json_knumber(&j, "flag_naive_s", t_naive);
				pn_json_knumber(&j, "ratio_naive_vs_flag", t_naive / t_rule[PN_RULE_FLAG]);
				pn_json_knumber(&j, "naive_rel_diff", naive_diff);
				pn_json_key(&j, "rules");
				pn_json_begin_object(&j);
				for (int r = 0; r < PN_RULE_COUNT_; r++)
					if (!isnan(t_rule[r])) {
						pn_json_key(&j, pn_rule_name((pn_rule)r));
						pn_json_begin_object(&j);
						pn_json_knumber(&j, "p50_s", t_rule[r]);
						pn_json_knumber(&j, "p99_s", t_rule99[r]);
						pn_json_knumber(&j, "gbs_in", bytes_in / t_rule[r] / 1e9);
						pn_json_knumber(&j, "ratio_vs_read", t_read_in.p50 / t_rule[r]);
						pn_json_knumber(&j, "prev_kernel_s", t_prev[r]);
						pn_json_knumber(&j, "prev_ratio_vs_read", t_read_in.p50 / t_prev[r]);
						pn_json_end_object(&j);
					}
				pn_json_end_object(&j);
				pn_json_end_object(&j);
			}
			free(G), free(alpha), free(rows);
			free(x), free(out), free(Cs), free(xd), free(xh);
		}
	if (o.json && pn_json_finish_results(&j, "pennant-bench-agg") != 0)
		return 1;
	return 0;
bad:
	usage(stderr);
	return 2;
}
