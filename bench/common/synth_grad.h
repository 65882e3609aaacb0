/* A synthetic gradient source for the job benchmarks (bench/round, bench/shards): each of
 * the two gradient slots is filled once with seeded noise, later rounds reuse them, so a
 * round's time is the aggregator's (pulls, rule, step, publish), not a model's compute. */
#ifndef PENNANT_BENCH_SYNTH_GRAD_H
#define PENNANT_BENCH_SYNTH_GRAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_synth {
	size_t d;
	int filled;      /* slots written so far */
	uint64_t seed;
} bench_synth;

/* pn_grad_source.compute over a bench_synth (ctx). */
int bench_synth_compute(void *ctx, uint64_t round, const float *model, const int *parts,
			const double *coefs, int nparts, float *out, double *loss);

#endif
