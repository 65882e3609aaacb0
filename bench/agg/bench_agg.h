/* pennant-bench-agg internals: the timing helper and the same-run baselines
 * (bench_agg_baselines.c) that the rule and pass timings in bench_agg.c are compared to. */
#ifndef PENNANT_BENCH_AGG_H
#define PENNANT_BENCH_AGG_H

#include "cli.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#define PN_BENCH_MAX_P 1024 /* --p upper bound (parse_list_int) */

/* Thread counts are bounded (--threads is checked against this). */
#define MAX_THREADS 256

typedef struct stats {
	double p50, p99;
} stats;

/* Sorts t[0..n) and returns its median and 99th percentile. */
stats summarize(double *t, int n);

/* Times `body` reps times after warmup runs; the samples live on the heap (reps is
 * user input). An allocation failure gives NaN statistics (reported as null). */
#define MEASURE(reps, warmup, body)                                                                \
	({                                                                                         \
		double *_t = malloc(sizeof(double) * (size_t)(reps));                              \
		stats _s = {NAN, NAN};                                                             \
		if (_t) {                                                                          \
			for (int _w = 0; _w < (warmup); _w++) {                                    \
				body;                                                              \
			}                                                                          \
			for (int _r = 0; _r < (reps); _r++) {                                      \
				double _t0 = pn_now_s();                                           \
				body;                                                              \
				_t[_r] = pn_now_s() - _t0;                                         \
			}                                                                          \
			_s = summarize(_t, (reps));                                                \
			free(_t);                                                                  \
		}                                                                                  \
		_s;                                                                                \
	})

/* Memory-read baseline: the sum of x[0..n), split over threads. */
double read_all(const float *x, size_t n, int threads);
/* The Gram pass through the engine's kernel, split like the engine splits it: G (p×p)
 * of the p rows of x (each d floats). */
void gram_threads(const float *x, int p, size_t d, int threads, double *G);
/* float64 FMA throughput of `threads` threads (GFLOP/s, an FMA counted as 2), widest
 * vectors this CPU has: the compute roof of a float64 Gram pass. */
double fma_peak_gflops(int threads);
/* Naive Flag: normalize, d×p SVD, (1/r) Σ Y Yᵀ x_i into out (d floats); A is d×p scratch. */
void naive_flag(const float *x, int p, size_t d, int r, double *A, float *out);

#endif
