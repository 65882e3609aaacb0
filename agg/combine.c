/* Combination pass: out = Σ_i α_i g_i over resident rows, split across threads.
 * Memory-bound (reads p·d floats once); each thread owns a contiguous coordinate range
 * and walks it in L1-sized pieces so the partial output stays in cache while every
 * row streams through once. */
#include "agg_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PIECE 2048

__attribute__((target_clones("avx512f", "avx2", "default"))) static void
axpy_piece(float *restrict o, const float *restrict r, float a, size_t n)
{
	for (size_t c = 0; c < n; c++)
		o[c] += a * r[c];
}

typedef struct combine_job {
	const float *const *rows;
	const float *alpha; /* float copy of the coefficients */
	int p;
	size_t begin, end;
	float *out;
	pn_agg_consumer consume;
	void *ctx;
} combine_job;

static void *combine_range(void *arg)
{
	const combine_job *j = arg;
	for (size_t c0 = j->begin; c0 < j->end; c0 += PIECE) {
		size_t n = j->end - c0 < PIECE ? j->end - c0 : PIECE;
		float *o = j->out + c0;
		memset(o, 0, n * sizeof *o);
		for (int i = 0; i < j->p; i++)
			if (j->alpha[i] != 0.0f)
				axpy_piece(o, j->rows[i] + c0, j->alpha[i], n);
		if (j->consume)
			j->consume(j->ctx, c0, o, n);
	}
	return NULL;
}

void pn_combine(const float *const *rows, const double *alpha, int p, size_t d, float *out,
		int threads)
{
	pn_combine_consume(rows, alpha, p, d, out, threads, NULL, NULL);
}

void pn_combine_consume(const float *const *rows, const double *alpha, int p, size_t d,
			float *out, int threads, pn_agg_consumer consume, void *ctx)
{
	float a32[p > 0 ? p : 1];
	for (int i = 0; i < p; i++)
		a32[i] = (float)alpha[i];
	if (threads < 1)
		threads = 1;
	/* Below ~1 MB of input the thread start-up costs more than it saves. */
	if ((size_t)p * d < (1u << 18))
		threads = 1;
	combine_job jobs[threads];
	pthread_t tid[threads];
	size_t per = (d + (size_t)threads - 1) / (size_t)threads;
	per = (per + 15) & ~(size_t)15; /* keep ranges 64-byte aligned relative to each other */
	int started = 0;
	for (int t = 0; t < threads; t++) {
		size_t b = (size_t)t * per, e = b + per;
		if (b >= d)
			break;
		if (e > d)
			e = d;
		jobs[t] = (combine_job){rows, a32, p, b, e, out, consume, ctx};
		if (t == 0)
			continue; /* the calling thread takes range 0 */
		if (pthread_create(&tid[t], NULL, combine_range, &jobs[t]) != 0) {
			combine_range(&jobs[t]); /* could not start a thread: do it here */
			tid[t] = 0;
		}
		started = t + 1;
	}
	combine_range(&jobs[0]);
	for (int t = 1; t < started; t++)
		if (tid[t])
			pthread_join(tid[t], NULL);
}
