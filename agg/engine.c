/* The streaming aggregation engine: create (once per job: the pool starts here) →
 * per round reset → landed/feed (any order, any chunk size) → finish.
 *
 * Coordinates are split into blocks of PN_AGG_BLOCK floats. A block becomes ready once
 * every worker still taking part has landed all of it; ready blocks go to the pool
 * (engine_pool.c), which accumulates the Gram matrix (Gram rules), runs the
 * coordinate-wise rule (coordinate rules) or checks for NaN/Inf (fixed weights), so
 * this work overlaps the pulls still in flight. Excluding a worker (straggler given up
 * on, NaN/Inf found) can make blocks ready. finish (engine_finish.c) processes what is
 * left, solves the k×k problem and runs one combination pass on the pool. */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t pn_agg_block_len(const pn_agg *a, size_t b)
{
	size_t start = b * PN_AGG_BLOCK;
	return a->d - start < PN_AGG_BLOCK ? a->d - start : PN_AGG_BLOCK;
}

static int task_kind(const pn_agg *a)
{
	static const int kinds[] = {[PN_KIND_COORD] = PN_TASK_COORD, [PN_KIND_GRAM] = PN_TASK_GRAM,
				    [PN_KIND_FIXED] = PN_TASK_CHECK};
	return kinds[a->rule->kind];
}

static void make_ready(pn_agg *a, size_t b)
{
	a->state[b] = 1;
	uint64_t *m = pn_agg_block_mask(a, b);
	memset(m, 0, sizeof(uint64_t) * a->words);
	for (int i = 0; i < a->p; i++)
		if (pn_agg_active(a, i))
			pn_mask_set(m, i, true);
	pn_pool_submit(a, task_kind(a), b);
}

void pn_agg_deactivate(pn_agg *a, int i, int why)
{
	if (!pn_agg_active(a, i))
		return;
	a->status[i] = why;
	for (size_t b = 0; b < a->nblocks; b++) {
		if (a->state[b] || a->landed[(size_t)i * a->nblocks + b] == pn_agg_block_len(a, b))
			continue;
		if (--a->missing[b] == 0)
			make_ready(a, b);
	}
}

void pn_agg_free(pn_agg *a)
{
	if (!a)
		return;
	pn_pool_stop(a);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv_work);
	pthread_cond_destroy(&a->cv_done);
	free(a->rows);
	free(a->hrows);
	free(a->owned);
	for (int i = 0; a->ranges && i < a->p; i++)
		pn_range_set_free(&a->ranges[i]);
	free(a->ranges);
	free(a->landed), free(a->missing), free(a->state), free(a->mask), free(a->used);
	free(a->status), free(a->nonfinite_seen), free(a->cout_own);
	free(a->cf.a32), free(a->cf.a64), free(a->cf.wide), free(a->fixed_w);
	free(a->ids), free(a->selected), free(a->alpha), free(a->score), free(a->Gk), free(a->norms);
	free(a->usable), free(a->final_mask);
	free(a->G), free(a->weights), free(a->scores);
	free(a);
}

static bool alloc_state(pn_agg *a)
{
	size_t p = (size_t)a->p, nb = a->nblocks;
	a->rows = calloc(p, sizeof *a->rows);
	a->hrows = calloc(p, sizeof *a->hrows);
	a->landed = calloc(p * nb, sizeof *a->landed);
	a->ranges = calloc(p, sizeof *a->ranges);
	a->missing = malloc(nb * sizeof *a->missing);
	a->state = calloc(nb, 1);
	a->mask = calloc(nb * (size_t)a->words, sizeof *a->mask);
	a->status = calloc(p, sizeof *a->status);
	a->nonfinite_seen = calloc(p, sizeof *a->nonfinite_seen);
	a->G = calloc(p * p, sizeof *a->G);
	a->weights = calloc(p, sizeof *a->weights);
	a->scores = calloc(p, sizeof *a->scores);
	a->cf.a32 = malloc(p * sizeof *a->cf.a32);
	a->cf.a64 = malloc(p * sizeof *a->cf.a64);
	a->cf.wide = malloc(p);
	a->fixed_w = calloc(p, sizeof *a->fixed_w);
	a->ids = malloc(p * sizeof *a->ids);
	a->selected = malloc(p * sizeof *a->selected);
	a->alpha = malloc(p * sizeof *a->alpha);
	a->score = malloc(p * sizeof *a->score);
	a->Gk = malloc(p * p * sizeof *a->Gk);
	a->norms = malloc(p * sizeof *a->norms);
	a->usable = malloc(p * sizeof *a->usable);
	a->final_mask = malloc((size_t)a->words * sizeof *a->final_mask);
	bool ok = a->rows && a->hrows && a->landed && a->ranges && a->missing && a->state && a->mask &&
		  a->status && a->nonfinite_seen && a->G && a->weights && a->scores && a->cf.a32 &&
		  a->cf.a64 && a->cf.wide && a->fixed_w && a->ids && a->selected && a->alpha &&
		  a->score && a->Gk && a->norms && a->usable && a->final_mask;
	if (ok && a->rule->block) { /* the coordinate output (cout) is sized at reset */
		a->used = calloc(p * nb, sizeof *a->used);
		ok = a->used != NULL;
	}
	return ok;
}

pn_agg *pn_agg_create(const pn_agg_config *cfg, char *err, size_t errlen)
{
	if (!cfg) {
		pn_errf(err, errlen, "no configuration");
		return NULL;
	}
	if (pn_agg_config_check(cfg, err, errlen) != 0)
		return NULL;
	pn_agg *a = calloc(1, sizeof *a);
	if (!a) {
		pn_errf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv_work, NULL);
	pthread_cond_init(&a->cv_done, NULL);
	a->cfg = *cfg;
	a->rule = pn_rule_desc_get((int)cfg->rule);
	a->p = cfg->p;
	a->d = cfg->d;
	a->dtype = cfg->grad_dtype;
	a->esize = pn_dtype_size(cfg->grad_dtype);
	a->nblocks = (cfg->d + PN_AGG_BLOCK - 1) / PN_AGG_BLOCK;
	a->words = (cfg->p + 63) / 64;
	if (a->cfg.threads == 0)
		a->cfg.threads = pn_online_cpus();
	if (a->cfg.max_iters == 0)
		a->cfg.max_iters = 100;
	if (a->cfg.r == 0)
		a->cfg.r = cfg->p < 8 ? cfg->p : 8;
	if (!alloc_state(a)) {
		pn_errf(err, errlen, "out of memory for p=%d, d=%zu", a->p, a->d);
		pn_agg_free(a);
		return NULL;
	}
	/* One pool thread per CPU; with threads == 1 tasks run inline. */
	if (pn_pool_start(a, err, errlen) != 0) {
		pn_agg_free(a);
		return NULL;
	}
	return a;
}

void pn_agg_output_direct(pn_agg *a, float *out)
{
	a->cout_direct = out;
}

/* Where the coordinate stage writes: the one-shot caller's out, or the engine's own
 * buffer (allocated once, at the first round that needs it: an engine created for a
 * one-shot call never touches d floats it does not use). */
static int reset_cout(pn_agg *a)
{
	if (!a->rule->block)
		return 0;
	if (!a->cout_direct && !a->cout_own) {
		a->cout_own = malloc(a->d * sizeof *a->cout_own);
		if (!a->cout_own)
			return pn_fail(a->err, sizeof a->err, ENOMEM, "out of memory for d=%zu", a->d);
	}
	a->cout = a->cout_direct ? a->cout_direct : a->cout_own;
	return 0;
}

static int reset_rows(pn_agg *a, const void *const *rows)
{
	if (!rows && !a->owned) {
		a->owned = malloc((size_t)a->p * a->d * a->esize);
		if (!a->owned)
			return pn_fail(a->err, sizeof a->err, ENOMEM, "out of memory for p=%d, d=%zu", a->p, a->d);
	}
	for (int i = 0; i < a->p; i++) {
		/* read only: the engine writes rows only through pn_agg_feed* */
		void *r = rows ? (void *)rows[i] : (char *)a->owned + (size_t)i * a->d * a->esize;
		a->rows[i] = a->dtype == PN_DTYPE_F32 ? r : NULL;
		a->hrows[i] = a->dtype == PN_DTYPE_F32 ? NULL : r;
	}
	return 0;
}

int pn_agg_reset(pn_agg *a, float *const *rows)
{
	if (!a)
		return -EINVAL;
	if (a->dtype != PN_DTYPE_F32)
		return pn_fail(a->err, sizeof a->err, EINVAL, "rows are %s: use pn_agg_reset_typed",
			       pn_dtype_name(a->dtype));
	return pn_agg_reset_typed(a, (const void *const *)rows);
}

int pn_agg_reset_typed(pn_agg *a, const void *const *rows)
{
	if (!a)
		return -EINVAL;
	pn_pool_reset(a); /* the pool is idle before the rows change */
	int rc = reset_rows(a, rows);
	if (rc == 0)
		rc = reset_cout(a);
	if (rc != 0)
		return rc;
	size_t p = (size_t)a->p, nb = a->nblocks;
	for (int i = 0; i < a->p; i++)
		a->ranges[i].n = 0;
	memset(a->landed, 0, p * nb * sizeof *a->landed);
	for (size_t b = 0; b < nb; b++)
		a->missing[b] = a->p;
	memset(a->state, 0, nb);
	memset(a->mask, 0, nb * (size_t)a->words * sizeof *a->mask);
	memset(a->status, 0, p * sizeof *a->status);
	memset(a->nonfinite_seen, 0, p * sizeof *a->nonfinite_seen);
	memset(a->G, 0, p * p * sizeof *a->G);
	memset(a->weights, 0, p * sizeof *a->weights);
	memset(a->scores, 0, p * sizeof *a->scores);
	if (a->used)
		memset(a->used, 0, p * nb * sizeof *a->used);
	memset(&a->coord, 0, sizeof a->coord);
	memset(&a->rep, 0, sizeof a->rep);
	a->have_fixed_w = false;
	a->err[0] = 0;
	a->finished = false;
	a->open = true;
	return 0;
}

pn_agg *pn_agg_begin(const pn_agg_config *cfg, float *const *rows, char *err, size_t errlen)
{
	if (cfg && cfg->grad_dtype != PN_DTYPE_F32) {
		pn_errf(err, errlen, "rows are %s: use pn_agg_begin_typed", pn_dtype_name(cfg->grad_dtype));
		return NULL;
	}
	return pn_agg_begin_typed(cfg, (const void *const *)rows, err, errlen);
}

pn_agg *pn_agg_begin_typed(const pn_agg_config *cfg, const void *const *rows, char *err,
			   size_t errlen)
{
	pn_agg *a = pn_agg_create(cfg, err, errlen);
	if (a && pn_agg_reset_typed(a, rows) != 0) {
		pn_errf(err, errlen, "%s", a->err);
		pn_agg_free(a);
		return NULL;
	}
	return a;
}

int pn_agg_landed(pn_agg *a, int worker, size_t offset, size_t len)
{
	if (!a)
		return -EINVAL;
	if (!a->open || a->finished)
		return pn_fail(a->err, sizeof a->err, EINVAL, "landed() outside a round (after finish, or before reset)");
	if (worker < 0 || worker >= a->p)
		return pn_fail(a->err, sizeof a->err, EINVAL, "worker %d out of range [0, %d)", worker, a->p);
	if (len == 0 || offset >= a->d || len > a->d - offset) {
		pn_errf(a->err, sizeof a->err,
			"chunk [%zu, %zu+%zu) of worker %d is outside the gradient (d=%zu)", offset,
			offset, len, worker, a->d);
		return -ERANGE;
	}
	size_t end = offset + len;
	uint32_t *land = a->landed + (size_t)worker * a->nblocks;
	if (pn_range_set_overlaps(&a->ranges[worker], offset, end))
		return pn_fail(a->err, sizeof a->err, EEXIST, "worker %d: elements in [%zu, %zu) landed twice", worker,
			       offset, end);
	if (pn_range_set_add(&a->ranges[worker], offset, end) != 0)
		return pn_fail(a->err, sizeof a->err, ENOMEM, "out of memory");
	for (size_t b = offset / PN_AGG_BLOCK; b * PN_AGG_BLOCK < end; b++) {
		size_t bs = b * PN_AGG_BLOCK, be = bs + pn_agg_block_len(a, b);
		size_t lo = offset > bs ? offset : bs, hi = end < be ? end : be;
		land[b] += (uint32_t)(hi - lo);
		if (land[b] == pn_agg_block_len(a, b) && pn_agg_active(a, worker) && !a->state[b] &&
		    --a->missing[b] == 0)
			make_ready(a, b);
	}
	return 0;
}

int pn_agg_feed(pn_agg *a, int worker, size_t offset, const float *data, size_t len)
{
	if (a && a->dtype != PN_DTYPE_F32)
		return pn_fail(a->err, sizeof a->err, EINVAL, "rows are %s: use pn_agg_feed_typed",
			       pn_dtype_name(a->dtype));
	return pn_agg_feed_typed(a, worker, offset, data, len);
}

int pn_agg_feed_typed(pn_agg *a, int worker, size_t offset, const void *data, size_t len)
{
	if (!a || !data)
		return -EINVAL;
	if (worker < 0 || worker >= a->p || len == 0 || offset >= a->d || len > a->d - offset)
		return pn_agg_landed(a, worker, offset, len); /* same checks and message */
	char *row = a->dtype == PN_DTYPE_F32 ? (char *)a->rows[worker] : (char *)a->hrows[worker];
	char *dst = row + offset * a->esize;
	if (dst != (const char *)data)
		memmove(dst, data, len * a->esize);
	return pn_agg_landed(a, worker, offset, len);
}

int pn_agg_exclude(pn_agg *a, int worker)
{
	if (!a || worker < 0 || worker >= a->p || !a->open || a->finished)
		return -EINVAL;
	pn_agg_deactivate(a, worker, PN_AGG_EXCLUDED);
	return 0;
}

int pn_agg_set_consumer(pn_agg *a, pn_agg_consumer fn, void *ctx)
{
	if (!a || (a->open && a->finished))
		return -EINVAL;
	a->consume = fn;
	a->consume_ctx = ctx;
	return 0;
}

int pn_agg_set_weights(pn_agg *a, const double *w)
{
	if (!a || !w)
		return -EINVAL;
	if (a->rule->kind != PN_KIND_FIXED)
		return pn_fail(a->err, sizeof a->err, EINVAL, "weights are set only with rule 'weighted', not '%s'",
			       a->rule->name);
	if (!a->open || a->finished)
		return pn_fail(a->err, sizeof a->err, EINVAL, "set_weights() outside a round (before reset or after finish)");
	for (int i = 0; i < a->p; i++)
		if (!isfinite(w[i]))
			return pn_fail(a->err, sizeof a->err, EINVAL, "weight %d is not finite (%g)", i, w[i]);
	memcpy(a->fixed_w, w, sizeof(double) * (size_t)a->p);
	a->have_fixed_w = true;
	return 0;
}

int pn_agg_set_weight_fn(pn_agg *a, pn_agg_weight_fn fn, void *ctx)
{
	if (!a)
		return -EINVAL;
	if (a->rule->kind != PN_KIND_FIXED)
		return pn_fail(a->err, sizeof a->err, EINVAL, "a weight function needs rule 'weighted', not '%s'",
			       a->rule->name);
	a->weight_fn = fn;
	a->weight_ctx = ctx;
	return 0;
}

const char *pn_agg_errmsg(const pn_agg *a)
{
	return a ? a->err : "no aggregation";
}

static int check_open(pn_agg *a, const char *what)
{
	if (!a->open) {
		snprintf(a->err, sizeof a->err, "%s before reset()", what);
		return -EINVAL;
	}
	if (a->finished) {
		snprintf(a->err, sizeof a->err, "%s after finish()", what);
		return -EINVAL;
	}
	return 0;
}

static int finish_report(pn_agg *a, int rc)
{
	pn_pool_wait_idle(a);
	a->rep.p = a->p;
	a->rep.used = a->rep.nonfinite = a->rep.incomplete = 0;
	for (int i = 0; i < a->p; i++) {
		a->rep.used += a->status[i] == PN_AGG_USED;
		a->rep.nonfinite += a->status[i] == PN_AGG_NONFINITE;
		a->rep.incomplete += a->status[i] == PN_AGG_INCOMPLETE;
	}
	a->rep.t_gram_s = pn_pool_busy_seconds(a); /* thread-seconds in per-block work */
	return rc;
}

int pn_agg_finish(pn_agg *a, float *out)
{
	if (!a || !out)
		return -EINVAL;
	if (!a->open)
		return pn_fail(a->err, sizeof a->err, EINVAL, "finish() before reset()");
	if (a->finished)
		return pn_fail(a->err, sizeof a->err, EINVAL, "finish() called twice");
	a->finished = true;
	return finish_report(a, pn_agg_finish_rule(a, out));
}

int pn_agg_settle(pn_agg *a, int *status, double *G)
{
	if (!a || !status)
		return -EINVAL;
	int rc = check_open(a, "settle()");
	return rc ? rc : pn_agg_settle_rule(a, status, G);
}

int pn_agg_finish_shared(pn_agg *a, const int *status, const double *G, float *out)
{
	if (!a || !status || !out)
		return -EINVAL;
	int rc = check_open(a, "finish_shared()");
	if (rc)
		return rc;
	a->finished = true;
	return finish_report(a, pn_agg_finish_shared_rule(a, status, G, out));
}

void pn_agg_get_report(const pn_agg *a, pn_agg_report *rep)
{
	if (a && rep)
		*rep = a->rep;
}

const double *pn_agg_weights(const pn_agg *a)
{
	return a ? a->weights : NULL;
}

const double *pn_agg_scores(const pn_agg *a)
{
	return a ? a->scores : NULL;
}

const int *pn_agg_status(const pn_agg *a)
{
	return a ? a->status : NULL;
}

const double *pn_agg_gram(const pn_agg *a)
{
	return a ? a->G : NULL;
}
