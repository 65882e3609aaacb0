/* Combination pass: out = Σ_i α_i g_i over resident rows.
 * Memory-bound (reads p·d floats once); a range is walked in L1-sized pieces so the
 * partial output stays in cache while every row streams through once. The engine runs
 * ranges on its own pool (engine_pool.c); pn_combine() splits over short-lived threads
 * for callers outside the engine. */
#include "agg_internal.h"

#include <float.h>
#include <math.h>
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

/* Four rows in one sweep: the output piece is loaded and stored once per four rows
 * instead of once per row. The additions keep the one-row order (((o + a0·r0) + a1·r1)
 * + ...), so the result is bit-identical to four axpy_piece calls. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
axpy4_piece(float *restrict o, const float *restrict r0, const float *restrict r1,
	    const float *restrict r2, const float *restrict r3, const float *a, size_t n)
{
	float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
	for (size_t c = 0; c < n; c++) {
		float t = o[c] + a0 * r0[c];
		t = t + a1 * r1[c];
		t = t + a2 * r2[c];
		o[c] = t + a3 * r3[c];
	}
}

/* For a coefficient float32 cannot hold (|α| > FLT_MAX, or so small it would lose its
 * precision or vanish): each product is formed in float64. Rare, so not vectorised by
 * hand. */
static void axpy_piece_wide(float *restrict o, const float *restrict r, double a, size_t n)
{
	for (size_t c = 0; c < n; c++)
		o[c] = (float)((double)o[c] + a * (double)r[c]);
}

void pn_combine_prepare(pn_combine_coefs *c, const float *const *rows, const double *alpha, int p)
{
	c->p = p;
	c->rows = rows;
	c->dtype = PN_DTYPE_F32;
	c->hrows = NULL;
	for (int i = 0; i < p; i++) {
		double a = alpha[i], m = fabs(a);
		c->a64[i] = a;
		c->wide[i] = a != 0.0 && (m > FLT_MAX || m < FLT_MIN);
		c->a32[i] = c->wide[i] ? 0.0f : (float)a;
	}
}

void pn_combine_set_half(pn_combine_coefs *c, pn_dtype dtype, const uint16_t *const *hrows)
{
	c->dtype = dtype;
	c->hrows = dtype == PN_DTYPE_F32 ? NULL : hrows;
}

/* Row i's piece [c0, c0+n): float32 rows in place; half rows widened into buf (PIECE
 * floats, in L1) right before the axpy reads them: no copy of a whole row. */
static const float *piece_row(const pn_combine_coefs *cf, int i, size_t c0, size_t n, float *buf)
{
	if (cf->dtype == PN_DTYPE_F32)
		return cf->rows[i] + c0;
	pn_half_to_f32(cf->dtype, buf, cf->hrows[i] + c0, n);
	return buf;
}

bool pn_combine_range(const pn_combine_coefs *cf, size_t begin, size_t end, float *out,
		      pn_agg_consumer consume, void *ctx, bool check)
{
	float widened[4][PIECE]; /* half rows only: the pieces of one group of four */
	for (size_t c0 = begin; c0 < end; c0 += PIECE) {
		size_t n = end - c0 < PIECE ? end - c0 : PIECE;
		float *o = out + c0;
		memset(o, 0, n * sizeof *o);
		/* rows in order; runs of four float32 coefficients go through axpy4_piece */
		const float *grp[4];
		float ga[4];
		int ng = 0;
		for (int i = 0; i < cf->p; i++) {
			if (cf->wide[i]) {
				for (int g = 0; g < ng; g++)
					axpy_piece(o, grp[g], ga[g], n);
				ng = 0;
				axpy_piece_wide(o, piece_row(cf, i, c0, n, widened[0]), cf->a64[i], n);
			} else if (cf->a32[i] != 0.0f) {
				grp[ng] = piece_row(cf, i, c0, n, widened[ng]);
				ga[ng++] = cf->a32[i];
				if (ng == 4) {
					axpy4_piece(o, grp[0], grp[1], grp[2], grp[3], ga, n);
					ng = 0;
				}
			}
		}
		for (int g = 0; g < ng; g++)
			axpy_piece(o, grp[g], ga[g], n);
		if (check && !pn_all_finite(o, n))
			return false;
		if (consume)
			consume(ctx, c0, o, n);
	}
	return true;
}

typedef struct combine_job {
	const pn_combine_coefs *cf;
	size_t begin, end;
	float *out;
	pn_agg_consumer consume;
	void *ctx;
	bool ok;
} combine_job;

static void *combine_thread(void *arg)
{
	combine_job *j = arg;
	j->ok = pn_combine_range(j->cf, j->begin, j->end, j->out, j->consume, j->ctx, false);
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
	if (threads < 1)
		threads = 1;
	/* Below ~1 MB of input the thread start-up costs more than it saves. */
	if ((size_t)p * d < (1u << 18))
		threads = 1;
	size_t np = p > 0 ? (size_t)p : 1;
	pn_combine_coefs cf = {.a64 = malloc(np * sizeof(double)), .a32 = malloc(np * sizeof(float)),
			       .wide = malloc(np)};
	combine_job *jobs = malloc((size_t)threads * sizeof *jobs);
	pthread_t *tid = malloc((size_t)threads * sizeof *tid);
	uint8_t *started = malloc((size_t)threads);
	if (!cf.a64 || !cf.a32 || !cf.wide || !jobs || !tid || !started)
		abort(); /* a few bytes per row and thread: nothing sensible is left to do */
	pn_combine_prepare(&cf, rows, alpha, p);
	size_t per = (d + (size_t)threads - 1) / (size_t)threads;
	per = (per + 15) & ~(size_t)15; /* keep ranges 64-byte aligned relative to each other */
	int n = 0;
	for (int t = 0; t < threads; t++) {
		size_t b = (size_t)t * per, e = b + per;
		if (b >= d)
			break;
		jobs[t] = (combine_job){&cf, b, e > d ? d : e, out, consume, ctx, true};
		started[t] = t > 0 && pthread_create(&tid[t], NULL, combine_thread, &jobs[t]) == 0;
		if (t > 0 && !started[t])
			combine_thread(&jobs[t]); /* could not start a thread: do it here */
		n = t + 1;
	}
	combine_thread(&jobs[0]); /* the calling thread takes range 0 */
	for (int t = 1; t < n; t++)
		if (started[t])
			pthread_join(tid[t], NULL);
	free(cf.a64), free(cf.a32), free(cf.wide), free(jobs), free(tid), free(started);
}
