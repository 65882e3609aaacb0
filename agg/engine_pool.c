/* The engine's thread pool. It lives as long as the engine (created once per job, not
 * per round) and runs every kind of task: Gram accumulation or the coordinate-wise rule
 * per ready block while pulls are in flight, the NaN/Inf check of fixed-weights rounds,
 * and the ranges of the combination pass. With cfg.threads == 1 there is no pool and
 * tasks run inline on the caller. */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Below ~1 MB of input a combination pass is faster on the caller alone. */
#define COMBINE_INLINE_BELOW (1u << 18)

int pn_scratch_init(pn_agg_scratch *s, int p, bool gram, bool half)
{
	size_t np = (size_t)p;
	s->tile = half ? malloc(np * PN_AGG_BLOCK * sizeof(float)) : NULL;
	s->rows = malloc(np * sizeof *s->rows);
	s->ids = malloc(np * sizeof *s->ids);
	s->cnt = malloc(np * sizeof *s->cnt);
	s->coord = malloc(np * pn_coord_scratch_size());
	s->G = gram ? calloc(np * np, sizeof *s->G) : NULL;
	s->busy_s = 0;
	return s->rows && s->ids && s->cnt && s->coord && (!gram || s->G) && (!half || s->tile) ? 0 : -1;
}

void pn_scratch_free(pn_agg_scratch *s)
{
	free(s->rows), free(s->ids), free(s->cnt), free(s->coord), free(s->G), free(s->tile);
	memset(s, 0, sizeof *s);
}

/* Row i's n floats of the block at off. Half rows are widened into this thread's tile
 * right before the float32 kernels read them: one block of p rows (≤ p·16 KiB, cache
 * resident), never a staging copy of the whole gradient. NaN/Inf widen to NaN/Inf, so
 * the kernels' finiteness checks see them. */
static const float *block_row(const pn_agg *a, pn_agg_scratch *s, int i, size_t off, size_t n)
{
	if (a->dtype == PN_DTYPE_F32)
		return a->rows[i] + off;
	float *t = s->tile + (size_t)i * PN_AGG_BLOCK;
	pn_half_to_f32(a->dtype, t, a->hrows[i] + off, n);
	return t;
}

static void gram_block(pn_agg *a, size_t b, pn_agg_scratch *s)
{
	size_t n = pn_agg_block_len(a, b), off = b * PN_AGG_BLOCK;
	const uint64_t *m = pn_agg_block_mask(a, b);
	for (int i = 0; i < a->p; i++)
		s->rows[i] = pn_mask_has(m, i) ? block_row(a, s, i, off, n) : NULL;
	pn_gram_block(s->rows, a->p, n, s->G);
}

static bool row_finite(const pn_agg *a, int i, size_t off, size_t n)
{
	return a->dtype == PN_DTYPE_F32 ? pn_all_finite(a->rows[i] + off, n)
					: pn_half_all_finite(a->dtype, a->hrows[i] + off, n);
}

static void check_block(pn_agg *a, size_t b)
{
	size_t n = pn_agg_block_len(a, b), off = b * PN_AGG_BLOCK;
	const uint64_t *m = pn_agg_block_mask(a, b);
	for (int i = 0; i < a->p; i++)
		if (pn_mask_has(m, i) && !row_finite(a, i, off, n))
			__atomic_store_n(&a->nonfinite_seen[i], 1, __ATOMIC_RELAXED);
}

/* The rule over the kept rows s->rows[0..kept) (ids in s->ids) into a->cout; nonfinite
 * as in pn_coord_params. */
static void coord_run(pn_agg *a, size_t b, pn_agg_scratch *s, int kept, int *nonfinite)
{
	size_t n = pn_agg_block_len(a, b), off = b * PN_AGG_BLOCK;
	uint32_t *used = a->used + b * (size_t)a->p;
	memset(used, 0, sizeof(uint32_t) * a->p);
	if (kept == 0) {
		memset(a->cout + off, 0, n * sizeof(float));
		return;
	}
	memset(s->cnt, 0, sizeof(uint64_t) * (size_t)kept);
	pn_coord_params prm = a->coord;
	/* Trim/neighbour counts follow the number of rows actually present. */
	int t = a->cfg.beta > 0 ? (int)floor(a->cfg.beta * kept) : a->cfg.f;
	prm.trim = 2 * t < kept ? t : (kept - 1) / 2;
	prm.f = a->cfg.f < kept ? a->cfg.f : kept - 1;
	prm.scratch = s->coord;
	prm.nonfinite = nonfinite;
	a->rule->block(&prm, s->rows, kept, n, a->cout + off, s->cnt);
	for (int x = 0; x < kept; x++)
		used[s->ids[x]] = (uint32_t)s->cnt[x];
}

/* A rule whose output shows a NaN/Inf of its rows (mean), or that reports the NaN/Inf it
 * reads (the sorting rules), runs on every row first: the rows are read once, by the
 * rule, instead of once by a check and again by the rule. False if a row was not
 * finite: the caller checks the rows and runs the rule again without the bad ones. */
static bool coord_block_unchecked(pn_agg *a, size_t b, pn_agg_scratch *s)
{
	size_t n = pn_agg_block_len(a, b), off = b * PN_AGG_BLOCK;
	const uint64_t *m = pn_agg_block_mask(a, b);
	int kept = 0;
	for (int i = 0; i < a->p; i++)
		if (pn_mask_has(m, i)) {
			s->rows[kept] = block_row(a, s, i, off, n);
			s->ids[kept++] = i;
		}
	int bad = 0;
	coord_run(a, b, s, kept, a->rule->reports_nonfinite ? &bad : NULL);
	return a->rule->reports_nonfinite ? !bad : pn_all_finite(a->cout + off, n);
}

static void coord_block(pn_agg *a, size_t b, pn_agg_scratch *s)
{
	if ((a->rule->output_shows_nonfinite || a->rule->reports_nonfinite) &&
	    coord_block_unchecked(a, b, s))
		return;
	size_t n = pn_agg_block_len(a, b), off = b * PN_AGG_BLOCK;
	uint64_t *m = pn_agg_block_mask(a, b);
	/* Coordinate rules see raw values: drop rows with NaN/Inf in this block (the engine
	 * excludes those workers and recomputes earlier blocks at finish). */
	int kept = 0;
	for (int i = 0; i < a->p; i++) {
		if (!pn_mask_has(m, i))
			continue;
		const float *r = block_row(a, s, i, off, n);
		if (!pn_all_finite(r, n)) {
			__atomic_store_n(&a->nonfinite_seen[i], 1, __ATOMIC_RELAXED);
			pn_mask_set(m, i, false);
			continue;
		}
		s->rows[kept] = r;
		s->ids[kept++] = i;
	}
	coord_run(a, b, s, kept, NULL);
}

static void combine_task(pn_agg *a, size_t t)
{
	size_t b = t * a->comb_per, e = b + a->comb_per;
	if (b >= a->d)
		return;
	if (e > a->d)
		e = a->d;
	if (!pn_combine_range(&a->cf, b, e, a->comb_out, a->consume, a->consume_ctx, true))
		__atomic_store_n(&a->comb_bad, 1, __ATOMIC_RELAXED);
}

static void run_task(pn_agg *a, pn_task t, pn_agg_scratch *s)
{
	double t0 = pn_now_s();
	switch (t.kind) {
	case PN_TASK_GRAM: gram_block(a, t.arg, s); break;
	case PN_TASK_COORD: coord_block(a, t.arg, s); break;
	case PN_TASK_CHECK: check_block(a, t.arg); break;
	case PN_TASK_COMBINE: combine_task(a, t.arg); return; /* timed by finish */
	default: abort(); /* the engine only submits the kinds above */
	}
	s->busy_s += pn_now_s() - t0;
}

static void *pool_main(void *arg)
{
	pn_pool_thread *w = arg;
	pn_agg *a = w->agg;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (a->qhead == a->qtail && !a->stop)
			pthread_cond_wait(&a->cv_work, &a->mu);
		if (a->qhead == a->qtail && a->stop)
			break;
		pn_task t = a->queue[a->qhead++ % a->qcap];
		pthread_mutex_unlock(&a->mu);
		run_task(a, t, &w->s);
		pthread_mutex_lock(&a->mu);
		if (--a->pending == 0)
			pthread_cond_broadcast(&a->cv_done);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

int pn_pool_start(pn_agg *a, char *err, size_t errlen)
{
	bool gram = a->rule->kind == PN_KIND_GRAM, half = a->dtype != PN_DTYPE_F32;
	/* Every phase queues at most one task per block, or one per combination range. */
	a->qcap = a->nblocks + (size_t)a->cfg.threads;
	a->queue = malloc(a->qcap * sizeof *a->queue);
	if (!a->queue || pn_scratch_init(&a->inline_s, a->p, gram, half) != 0) {
		pn_errf(err, errlen, "out of memory");
		return -1;
	}
	int nt = a->cfg.threads > 1 ? a->cfg.threads : 0;
	if (nt == 0)
		return 0;
	a->threads = calloc((size_t)nt, sizeof *a->threads);
	if (!a->threads) {
		pn_errf(err, errlen, "out of memory");
		return -1;
	}
	for (int t = 0; t < nt; t++) {
		a->threads[t].agg = a;
		if (pn_scratch_init(&a->threads[t].s, a->p, gram, half) != 0 ||
		    pthread_create(&a->threads[t].tid, NULL, pool_main, &a->threads[t]) != 0) {
			pn_scratch_free(&a->threads[t].s);
			pn_errf(err, errlen, "cannot start aggregation threads");
			return -1;
		}
		a->nthreads = t + 1;
	}
	return 0;
}

void pn_pool_stop(pn_agg *a)
{
	if (a->nthreads > 0) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_broadcast(&a->cv_work);
		pthread_mutex_unlock(&a->mu);
		for (int t = 0; t < a->nthreads; t++)
			pthread_join(a->threads[t].tid, NULL);
	}
	for (int t = 0; a->threads && t < a->nthreads; t++)
		pn_scratch_free(&a->threads[t].s);
	a->nthreads = 0;
	free(a->threads);
	a->threads = NULL;
	pn_scratch_free(&a->inline_s);
	free(a->queue);
	a->queue = NULL;
}

void pn_pool_submit(pn_agg *a, int kind, size_t arg)
{
	pn_task t = {kind, arg};
	if (a->nthreads == 0) {
		run_task(a, t, &a->inline_s);
		return;
	}
	pthread_mutex_lock(&a->mu);
	a->queue[a->qtail++ % a->qcap] = t;
	a->pending++;
	pthread_cond_signal(&a->cv_work);
	pthread_mutex_unlock(&a->mu);
}

void pn_pool_wait_idle(pn_agg *a)
{
	if (a->nthreads == 0)
		return;
	pthread_mutex_lock(&a->mu);
	while (a->pending > 0)
		pthread_cond_wait(&a->cv_done, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

void pn_pool_collect_gram(pn_agg *a)
{
	size_t pp = (size_t)a->p * a->p;
	memcpy(a->G, a->inline_s.G, pp * sizeof(double));
	for (int t = 0; t < a->nthreads; t++)
		for (size_t x = 0; x < pp; x++)
			a->G[x] += a->threads[t].s.G[x];
	for (int i = 0; i < a->p; i++)
		for (int j = 0; j < i; j++)
			a->G[i * a->p + j] = a->G[j * a->p + i];
}

double pn_pool_busy_seconds(const pn_agg *a)
{
	double s = a->inline_s.busy_s;
	for (int t = 0; t < a->nthreads; t++)
		s += a->threads[t].s.busy_s;
	return s;
}

static void scratch_reset(pn_agg_scratch *s, int p)
{
	if (s->G)
		memset(s->G, 0, sizeof(double) * (size_t)p * (size_t)p);
	s->busy_s = 0;
}

void pn_pool_reset(pn_agg *a)
{
	pn_pool_wait_idle(a);
	scratch_reset(&a->inline_s, a->p);
	for (int t = 0; t < a->nthreads; t++)
		scratch_reset(&a->threads[t].s, a->p);
	a->qhead = a->qtail = 0;
}

bool pn_pool_combine(pn_agg *a, const double *alpha, float *out)
{
	pn_combine_prepare(&a->cf, (const float *const *)a->rows, alpha, a->p);
	pn_combine_set_half(&a->cf, a->dtype, a->hrows);
	a->comb_bad = 0;
	if (a->nthreads == 0 || (size_t)a->p * a->d < COMBINE_INLINE_BELOW)
		return pn_combine_range(&a->cf, 0, a->d, out, a->consume, a->consume_ctx, true);
	size_t nt = (size_t)a->nthreads;
	size_t per = (a->d + nt - 1) / nt;
	a->comb_per = (per + 15) & ~(size_t)15; /* ranges 64-byte aligned relative to each other */
	a->comb_out = out;
	for (size_t t = 0; t * a->comb_per < a->d; t++)
		pn_pool_submit(a, PN_TASK_COMBINE, t);
	pn_pool_wait_idle(a);
	return !__atomic_load_n(&a->comb_bad, __ATOMIC_RELAXED);
}
