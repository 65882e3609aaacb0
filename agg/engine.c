/* The streaming aggregation engine: begin → landed/feed (any order, any chunk size) →
 * finish.
 *
 * Coordinates are split into blocks of PN_AGG_BLOCK floats. A block becomes ready once
 * every worker still taking part has landed all of it; ready blocks go to a small
 * thread pool that either accumulates the Gram matrix (Gram rules) or runs the
 * coordinate-wise rule (coordinate rules), so this work overlaps the pulls still in
 * flight. Excluding a worker (straggler given up on, NaN/Inf found) can make blocks
 * ready. finish() processes what is left, recomputes coordinate-wise blocks whose
 * participant set changed, solves the k×k problem and runs one combination pass. */
#include "agg_internal.h"
#include "range_set.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum task_kind { TASK_GRAM = 1, TASK_COORD = 2 };

typedef struct worker_thread {
	struct pn_agg *agg;
	pthread_t tid;
	double *G;        /* private partial Gram (p×p), Gram rules only */
	double busy_s;    /* time spent processing */
} worker_thread;

struct pn_agg {
	pn_agg_config cfg;
	int p;
	size_t d, nblocks;
	int words;                  /* 64-bit words per participant mask */
	float **rows;
	float *owned;               /* storage when the caller gave no landing buffers */
	bool gram_rule;
	bool finished;

	uint32_t *landed;           /* p × nblocks: floats landed per (worker, block) */
	pn_range_set *ranges;       /* per worker: element ranges landed (refuses overlaps) */
	int32_t *missing;           /* per block: active workers not yet complete */
	uint8_t *state;             /* per block: 0 waiting, 1 queued/processed */
	uint64_t *mask;             /* per block: rows the block was processed with */
	uint32_t *used;             /* coordinate rules: p × nblocks usage counts */
	int *status;                /* per worker: enum pn_worker_status */
	int *nonfinite_seen;        /* set by pool threads (atomic) */
	float *cout;                /* coordinate rules: output being built */
	pn_coord_params coord;

	/* pool */
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	size_t *queue, qhead, qtail, pending;
	int task;                   /* kind of the tasks in the queue */
	bool stop;
	int nthreads;
	worker_thread *threads;
	double inline_busy_s;
	double *G_inline;           /* partial Gram when processing inline */

	pn_agg_consumer consume;
	void *consume_ctx;

	/* results */
	double *G;                  /* final Gram, p×p full symmetric */
	double *weights, *scores;
	pn_agg_report rep;
	char err[256];
};

static const char *const rule_names[PN_RULE_COUNT_] = {
	"mean", "median", "trimmed-mean", "meamed", "phocas",
	"krum", "multi-krum", "bulyan", "geomed", "flag",
};

int pn_rule_from_name(const char *name)
{
	for (int r = 0; name && r < PN_RULE_COUNT_; r++)
		if (strcmp(name, rule_names[r]) == 0)
			return r;
	return -1;
}

const char *pn_rule_name(pn_rule rule)
{
	return (unsigned)rule < PN_RULE_COUNT_ ? rule_names[rule] : "?";
}

static bool is_gram_rule(pn_rule r)
{
	return r == PN_RULE_KRUM || r == PN_RULE_MULTI_KRUM || r == PN_RULE_BULYAN ||
	       r == PN_RULE_GEOMED || r == PN_RULE_FLAG;
}

void pn_agg_config_init(pn_agg_config *cfg, int p, size_t d, pn_rule rule)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->p = p;
	cfg->d = d;
	cfg->rule = rule;
	cfg->r = 0;
	cfg->flag_mode = PN_FLAG_REFERENCE;
	cfg->max_iters = 100;
	cfg->tol = 1e-9;
}

int pn_agg_config_check(const pn_agg_config *c, char *err, size_t errlen)
{
	if (c->p < 1) {
		pn_errf(err, errlen, "need at least one worker (p=%d)", c->p);
		return -EINVAL;
	}
	if (c->d < 1) {
		pn_errf(err, errlen, "dimension must be positive (d=%zu)", c->d);
		return -EINVAL;
	}
	if ((unsigned)c->rule >= PN_RULE_COUNT_) {
		pn_errf(err, errlen, "unknown rule %d", (int)c->rule);
		return -EINVAL;
	}
	if (c->f < 0 || c->f >= c->p) {
		pn_errf(err, errlen, "f=%d must be in [0, p-1] (p=%d)", c->f, c->p);
		return -EINVAL;
	}
	if (c->m < 0 || c->m > c->p) {
		pn_errf(err, errlen, "m=%d must be in [0, p] (0: p-f-2)", c->m);
		return -EINVAL;
	}
	if (!(c->beta >= 0 && c->beta < 0.5)) {
		pn_errf(err, errlen, "beta=%g must be in [0, 0.5)", c->beta);
		return -EINVAL;
	}
	if (c->r < 0) {
		pn_errf(err, errlen, "r=%d must be >= 0 (0: default)", c->r);
		return -EINVAL;
	}
	if (!(c->lambda >= 0) || isinf(c->lambda)) {
		pn_errf(err, errlen, "lambda=%g must be finite and >= 0", c->lambda);
		return -EINVAL;
	}
	if (c->flag_mode != PN_FLAG_REFERENCE && c->flag_mode != PN_FLAG_CONVERGED) {
		pn_errf(err, errlen, "unknown flag mode %d", (int)c->flag_mode);
		return -EINVAL;
	}
	if (c->max_iters < 0 || !(c->tol >= 0) || c->threads < 0) {
		pn_errf(err, errlen, "max_iters, tol and threads must be >= 0");
		return -EINVAL;
	}
	return 0;
}

static size_t block_len(const pn_agg *a, size_t b)
{
	size_t start = b * PN_AGG_BLOCK;
	return a->d - start < PN_AGG_BLOCK ? a->d - start : PN_AGG_BLOCK;
}

static uint64_t *block_mask(const pn_agg *a, size_t b)
{
	return a->mask + b * (size_t)a->words;
}

static bool mask_has(const uint64_t *m, int i)
{
	return (m[i / 64] >> (i % 64)) & 1;
}

static void mask_set(uint64_t *m, int i, bool on)
{
	if (on)
		m[i / 64] |= 1ull << (i % 64);
	else
		m[i / 64] &= ~(1ull << (i % 64));
}

/* Rows of block b per its mask; returns how many. ids[] gets the worker indices. */
static int gather_rows(const pn_agg *a, size_t b, const float **rows, int *ids)
{
	const uint64_t *m = block_mask(a, b);
	size_t off = b * PN_AGG_BLOCK;
	int k = 0;
	for (int i = 0; i < a->p; i++)
		if (mask_has(m, i)) {
			rows[k] = a->rows[i] + off;
			ids[k++] = i;
		}
	return k;
}

static void process_block(pn_agg *a, size_t b, int kind, double *G)
{
	size_t n = block_len(a, b), off = b * PN_AGG_BLOCK;
	if (kind == TASK_GRAM) {
		const float *rows[a->p];
		for (int i = 0; i < a->p; i++)
			rows[i] = mask_has(block_mask(a, b), i) ? a->rows[i] + off : NULL;
		pn_gram_block(rows, a->p, n, G);
		return;
	}
	const float *rows[a->p];
	int ids[a->p];
	int k = gather_rows(a, b, rows, ids);
	/* Coordinate rules see raw values: drop rows with NaN/Inf in this block (the engine
	 * excludes those workers and recomputes earlier blocks at finish). */
	int kept = 0;
	for (int x = 0; x < k; x++) {
		if (!pn_all_finite(rows[x], n)) {
			__atomic_store_n(&a->nonfinite_seen[ids[x]], 1, __ATOMIC_RELAXED);
			mask_set(block_mask(a, b), ids[x], false);
			continue;
		}
		rows[kept] = rows[x];
		ids[kept++] = ids[x];
	}
	uint32_t *used = a->used + b * (size_t)a->p;
	memset(used, 0, sizeof(uint32_t) * a->p);
	if (kept == 0) {
		memset(a->cout + off, 0, n * sizeof(float));
		return;
	}
	uint64_t cnt[kept];
	memset(cnt, 0, sizeof cnt);
	pn_coord_params prm = a->coord;
	if (prm.rule != PN_RULE_BULYAN) {
		/* Trim/neighbour counts follow the number of rows actually present. */
		int t = a->cfg.beta > 0 ? (int)floor(a->cfg.beta * kept) : a->cfg.f;
		prm.trim = 2 * t < kept ? t : (kept - 1) / 2;
		prm.f = a->cfg.f < kept ? a->cfg.f : kept - 1;
	}
	pn_coord_block(&prm, rows, kept, n, a->cout + off, cnt);
	for (int x = 0; x < kept; x++)
		used[ids[x]] = (uint32_t)cnt[x];
}

static void *pool_main(void *arg)
{
	worker_thread *w = arg;
	pn_agg *a = w->agg;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (a->qhead == a->qtail && !a->stop)
			pthread_cond_wait(&a->cv_work, &a->mu);
		if (a->qhead == a->qtail && a->stop)
			break;
		size_t b = a->queue[a->qhead++ % a->nblocks];
		int kind = a->task;
		pthread_mutex_unlock(&a->mu);
		double t0 = pn_now_s();
		process_block(a, b, kind, w->G);
		w->busy_s += pn_now_s() - t0;
		pthread_mutex_lock(&a->mu);
		if (--a->pending == 0)
			pthread_cond_broadcast(&a->cv_done);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* Hand block b to the pool (or process it here when running single-threaded). The
 * block's mask is the set of rows it is processed with. */
static void submit(pn_agg *a, size_t b, int kind)
{
	if (a->nthreads == 0) {
		double t0 = pn_now_s();
		process_block(a, b, kind, a->G_inline);
		a->inline_busy_s += pn_now_s() - t0;
		return;
	}
	pthread_mutex_lock(&a->mu);
	a->task = kind;
	a->queue[a->qtail++ % a->nblocks] = b;
	a->pending++;
	pthread_cond_signal(&a->cv_work);
	pthread_mutex_unlock(&a->mu);
}

static void wait_idle(pn_agg *a)
{
	if (a->nthreads == 0)
		return;
	pthread_mutex_lock(&a->mu);
	while (a->pending > 0)
		pthread_cond_wait(&a->cv_done, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

static bool active(const pn_agg *a, int i)
{
	return a->status[i] == PN_WORKER_USED;
}

static void make_ready(pn_agg *a, size_t b)
{
	a->state[b] = 1;
	uint64_t *m = block_mask(a, b);
	memset(m, 0, sizeof(uint64_t) * a->words);
	for (int i = 0; i < a->p; i++)
		if (active(a, i))
			mask_set(m, i, true);
	submit(a, b, a->gram_rule ? TASK_GRAM : TASK_COORD);
}

/* Worker i leaves the round: blocks that only waited for it become ready. */
static void deactivate(pn_agg *a, int i, int why)
{
	if (!active(a, i))
		return;
	a->status[i] = why;
	for (size_t b = 0; b < a->nblocks; b++) {
		if (a->state[b] || a->landed[(size_t)i * a->nblocks + b] == block_len(a, b))
			continue;
		if (--a->missing[b] == 0)
			make_ready(a, b);
	}
}

static void stop_pool(pn_agg *a)
{
	if (a->nthreads == 0 || !a->threads)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = true;
	pthread_cond_broadcast(&a->cv_work);
	pthread_mutex_unlock(&a->mu);
	for (int t = 0; t < a->nthreads; t++)
		pthread_join(a->threads[t].tid, NULL);
	a->nthreads = 0;
}

void pn_agg_free(pn_agg *a)
{
	if (!a)
		return;
	stop_pool(a);
	if (a->threads) {
		for (int t = 0; t < a->cfg.threads; t++)
			free(a->threads[t].G);
		free(a->threads);
	}
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv_work);
	pthread_cond_destroy(&a->cv_done);
	free(a->rows);
	free(a->owned);
	for (int i = 0; a->ranges && i < a->p; i++)
		pn_range_set_free(&a->ranges[i]);
	free(a->ranges);
	free(a->landed);
	free(a->missing);
	free(a->state);
	free(a->mask);
	free(a->used);
	free(a->status);
	free(a->nonfinite_seen);
	free(a->cout);
	free(a->queue);
	free(a->G_inline);
	free(a->G);
	free(a->weights);
	free(a->scores);
	free(a);
}

pn_agg *pn_agg_begin(const pn_agg_config *cfg, float *const *rows, char *err, size_t errlen)
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
	a->p = cfg->p;
	a->d = cfg->d;
	a->nblocks = (cfg->d + PN_AGG_BLOCK - 1) / PN_AGG_BLOCK;
	a->words = (cfg->p + 63) / 64;
	a->gram_rule = is_gram_rule(cfg->rule);
	if (a->cfg.threads == 0)
		a->cfg.threads = pn_online_cpus();
	if (a->cfg.max_iters == 0)
		a->cfg.max_iters = 100;
	if (a->cfg.r == 0)
		a->cfg.r = cfg->p < 8 ? cfg->p : 8;
	size_t p = (size_t)a->p, nb = a->nblocks;
	a->rows = calloc(p, sizeof *a->rows);
	a->landed = calloc(p * nb, sizeof *a->landed);
	a->ranges = calloc(p, sizeof *a->ranges);
	a->missing = malloc(nb * sizeof *a->missing);
	a->state = calloc(nb, 1);
	a->mask = calloc(nb * (size_t)a->words, sizeof *a->mask);
	a->status = calloc(p, sizeof *a->status);
	a->nonfinite_seen = calloc(p, sizeof *a->nonfinite_seen);
	a->queue = malloc(nb * sizeof *a->queue);
	a->G = calloc(p * p, sizeof *a->G);
	a->G_inline = calloc(p * p, sizeof *a->G_inline);
	a->weights = calloc(p, sizeof *a->weights);
	a->scores = calloc(p, sizeof *a->scores);
	bool ok = a->rows && a->landed && a->ranges && a->missing && a->state && a->mask && a->status &&
		  a->nonfinite_seen && a->queue && a->G && a->G_inline && a->weights && a->scores;
	if (ok && (!a->gram_rule || cfg->rule == PN_RULE_BULYAN)) {
		a->cout = malloc(a->d * sizeof *a->cout);
		a->used = calloc(p * nb, sizeof *a->used);
		ok = a->cout && a->used;
	}
	if (ok && !rows) {
		a->owned = malloc(p * a->d * sizeof(float));
		ok = a->owned != NULL;
	}
	if (!ok) {
		pn_errf(err, errlen, "out of memory for p=%d, d=%zu", a->p, a->d);
		pn_agg_free(a);
		return NULL;
	}
	for (int i = 0; i < a->p; i++)
		a->rows[i] = rows ? rows[i] : a->owned + (size_t)i * a->d;
	for (size_t b = 0; b < nb; b++)
		a->missing[b] = a->p;
	a->coord.rule = cfg->rule;

	/* One pool thread per CPU; with threads == 1 blocks are processed inline. */
	int nt = a->cfg.threads > 1 ? a->cfg.threads : 0;
	if (nt > 0) {
		a->threads = calloc((size_t)nt, sizeof *a->threads);
		if (!a->threads) {
			pn_errf(err, errlen, "out of memory");
			pn_agg_free(a);
			return NULL;
		}
		for (int t = 0; t < nt; t++) {
			a->threads[t].agg = a;
			a->threads[t].G = calloc(p * p, sizeof(double));
			if (!a->threads[t].G || pthread_create(&a->threads[t].tid, NULL, pool_main,
							       &a->threads[t]) != 0) {
				a->cfg.threads = t + 1; /* free what exists */
				a->nthreads = t;
				pn_errf(err, errlen, "cannot start aggregation threads");
				pn_agg_free(a);
				return NULL;
			}
			a->nthreads = t + 1;
		}
	}
	a->cfg.threads = nt > 0 ? nt : 1;
	return a;
}

int pn_agg_landed(pn_agg *a, int worker, size_t offset, size_t len)
{
	if (!a)
		return -EINVAL;
	if (a->finished) {
		snprintf(a->err, sizeof a->err, "landed() after finish()");
		return -EINVAL;
	}
	if (worker < 0 || worker >= a->p) {
		snprintf(a->err, sizeof a->err, "worker %d out of range [0, %d)", worker, a->p);
		return -EINVAL;
	}
	if (len == 0 || offset >= a->d || len > a->d - offset) {
		snprintf(a->err, sizeof a->err,
			 "chunk [%zu, %zu+%zu) of worker %d is outside the gradient (d=%zu)", offset,
			 offset, len, worker, a->d);
		return -ERANGE;
	}
	size_t end = offset + len;
	uint32_t *land = a->landed + (size_t)worker * a->nblocks;
	if (pn_range_set_overlaps(&a->ranges[worker], offset, end)) {
		snprintf(a->err, sizeof a->err, "worker %d: elements in [%zu, %zu) landed twice", worker,
			 offset, end);
		return -EEXIST;
	}
	if (pn_range_set_add(&a->ranges[worker], offset, end) != 0) {
		snprintf(a->err, sizeof a->err, "out of memory");
		return -ENOMEM;
	}
	for (size_t b = offset / PN_AGG_BLOCK; b * PN_AGG_BLOCK < end; b++) {
		size_t bs = b * PN_AGG_BLOCK, be = bs + block_len(a, b);
		size_t lo = offset > bs ? offset : bs, hi = end < be ? end : be;
		land[b] += (uint32_t)(hi - lo);
		if (land[b] == block_len(a, b) && active(a, worker) && !a->state[b] &&
		    --a->missing[b] == 0)
			make_ready(a, b);
	}
	return 0;
}

int pn_agg_feed(pn_agg *a, int worker, size_t offset, const float *data, size_t len)
{
	if (!a || !data)
		return -EINVAL;
	if (worker < 0 || worker >= a->p || len == 0 || offset >= a->d || len > a->d - offset)
		return pn_agg_landed(a, worker, offset, len); /* same checks and message */
	float *dst = a->rows[worker] + offset;
	if (dst != data)
		memmove(dst, data, len * sizeof(float));
	return pn_agg_landed(a, worker, offset, len);
}

int pn_agg_exclude(pn_agg *a, int worker)
{
	if (!a || worker < 0 || worker >= a->p || a->finished)
		return -EINVAL;
	deactivate(a, worker, PN_WORKER_EXCLUDED);
	return 0;
}

int pn_agg_set_consumer(pn_agg *a, pn_agg_consumer fn, void *ctx)
{
	if (!a || a->finished)
		return -EINVAL;
	a->consume = fn;
	a->consume_ctx = ctx;
	return 0;
}

const char *pn_agg_errmsg(const pn_agg *a)
{
	return a ? a->err : "no aggregation";
}

/* ---- finish ---- */

static void collect_gram(pn_agg *a)
{
	size_t pp = (size_t)a->p * a->p;
	memcpy(a->G, a->G_inline, pp * sizeof(double));
	for (int t = 0; a->threads && t < a->nthreads; t++)
		for (size_t x = 0; x < pp; x++)
			a->G[x] += a->threads[t].G[x];
	for (int i = 0; i < a->p; i++)
		for (int j = 0; j < i; j++)
			a->G[i * a->p + j] = a->G[j * a->p + i];
}

static double busy_seconds(const pn_agg *a)
{
	double s = a->inline_busy_s;
	for (int t = 0; a->threads && t < a->nthreads; t++)
		s += a->threads[t].busy_s;
	return s;
}

/* Blocks no one completed yet: every worker that did not land everything leaves. */
static void exclude_incomplete(pn_agg *a)
{
	for (int i = 0; i < a->p; i++) {
		if (!active(a, i))
			continue;
		const uint32_t *land = a->landed + (size_t)i * a->nblocks;
		for (size_t b = 0; b < a->nblocks; b++)
			if (land[b] != block_len(a, b)) {
				deactivate(a, i, PN_WORKER_INCOMPLETE);
				break;
			}
	}
}

/* Coordinate rules: a block processed with a row that has since left the round (or
 * without one that stayed, impossible by construction) is recomputed with the final set. */
static size_t recompute_coord_blocks(pn_agg *a)
{
	uint64_t final_mask[a->words];
	memset(final_mask, 0, sizeof final_mask);
	for (int i = 0; i < a->p; i++)
		if (active(a, i))
			mask_set(final_mask, i, true);
	size_t redone = 0;
	for (size_t b = 0; b < a->nblocks; b++)
		if (memcmp(block_mask(a, b), final_mask, sizeof final_mask) != 0) {
			memcpy(block_mask(a, b), final_mask, sizeof final_mask);
			submit(a, b, TASK_COORD);
			redone++;
		}
	wait_idle(a);
	return redone;
}

static int usable_ids(const pn_agg *a, int *ids)
{
	int k = 0;
	for (int i = 0; i < a->p; i++)
		if (active(a, i))
			ids[k++] = i;
	return k;
}

static void coord_weights(pn_agg *a)
{
	double best = 0;
	for (int i = 0; i < a->p; i++) {
		uint64_t s = 0;
		for (size_t b = 0; b < a->nblocks; b++)
			s += a->used[b * (size_t)a->p + i];
		a->weights[i] = active(a, i) ? (double)s / (double)a->d : 0.0;
		if (a->weights[i] > best)
			best = a->weights[i];
	}
	for (int i = 0; i < a->p; i++)
		a->scores[i] = active(a, i) ? (best > 0 ? 1.0 - a->weights[i] / best : 0.0) : INFINITY;
}

static int finish_coord(pn_agg *a, float *out)
{
	/* NaN/Inf found by the pool: those workers leave and blocks computed with them are
	 * redone. A redo only removes rows, so this settles after a few passes. */
	do {
		wait_idle(a);
		for (int i = 0; i < a->p; i++)
			if (__atomic_load_n(&a->nonfinite_seen[i], __ATOMIC_RELAXED) && active(a, i))
				deactivate(a, i, PN_WORKER_NONFINITE);
		wait_idle(a);
	} while (recompute_coord_blocks(a) > 0);
	int ids[a->p];
	int k = usable_ids(a, ids);
	if (k == 0) {
		snprintf(a->err, sizeof a->err, "no usable worker: all were excluded");
		return -ENODATA;
	}
	int need = 1;
	if (a->cfg.rule == PN_RULE_MEAMED || a->cfg.rule == PN_RULE_PHOCAS)
		need = a->cfg.f + 1;
	if (a->cfg.rule == PN_RULE_TRIMMED_MEAN && a->cfg.beta == 0)
		need = 2 * a->cfg.f + 1;
	if (k < need) {
		snprintf(a->err, sizeof a->err, "%s with f=%d needs at least %d usable workers, have %d",
			 pn_rule_name(a->cfg.rule), a->cfg.f, need, k);
		return -ENODATA;
	}
	double t0 = pn_now_s();
	memcpy(out, a->cout, a->d * sizeof(float));
	if (a->consume)
		a->consume(a->consume_ctx, 0, out, a->d);
	coord_weights(a);
	a->rep.t_combine_s = pn_now_s() - t0;
	return 0;
}

static int solve_gram_rule(pn_agg *a, const int *ids, int k, double *alpha, double *score,
			   int *selected)
{
	double *Gk = malloc(sizeof(double) * k * k);
	if (!Gk)
		return -ENOMEM;
	for (int x = 0; x < k; x++)
		for (int y = 0; y < k; y++)
			Gk[x * k + y] = a->G[ids[x] * a->p + ids[y]];
	pn_gram_result res = {.alpha = alpha, .score = score, .selected = selected};
	const pn_agg_config *c = &a->cfg;
	int rc;
	switch (c->rule) {
	case PN_RULE_KRUM:
		rc = pn_rule_krum(Gk, k, c->f, 1, &res, a->err, sizeof a->err);
		break;
	case PN_RULE_MULTI_KRUM: {
		int m = c->m > 0 ? c->m : k - c->f - 2;
		if (m < 1)
			m = 1;
		if (m > k)
			m = k;
		rc = pn_rule_krum(Gk, k, c->f, m, &res, a->err, sizeof a->err);
		break;
	}
	case PN_RULE_BULYAN:
		rc = pn_rule_bulyan_select(Gk, k, c->f, &res, a->err, sizeof a->err);
		break;
	case PN_RULE_GEOMED:
		rc = pn_rule_geomed(Gk, k, c->max_iters, c->tol, &res, a->err, sizeof a->err);
		break;
	default:
		rc = pn_rule_flag(Gk, k, c->r, c->lambda, c->flag_mode, c->max_iters, c->tol, &res,
				  a->err, sizeof a->err);
		break;
	}
	a->rep.iterations = res.iterations;
	a->rep.objective = res.objective;
	free(Gk);
	return rc;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* ‖Σ α_i g_i‖² = αᵀGα: the output's norm is known before the combination pass. */
static void rescale_to_median_norm(pn_agg *a, const int *ids, int k)
{
	double norms[k], on2 = 0;
	for (int x = 0; x < k; x++) {
		norms[x] = sqrt(fmax(a->G[ids[x] * a->p + ids[x]], 0.0));
		for (int y = 0; y < k; y++)
			on2 += a->weights[ids[x]] * a->weights[ids[y]] * a->G[ids[x] * a->p + ids[y]];
	}
	qsort(norms, (size_t)k, sizeof *norms, cmp_double);
	double target = (k & 1) ? norms[k / 2] : 0.5 * (norms[k / 2 - 1] + norms[k / 2]);
	if (on2 > 0 && target > 0)
		for (int x = 0; x < k; x++)
			a->weights[ids[x]] *= target / sqrt(on2);
}

static int finish_gram(pn_agg *a, float *out)
{
	wait_idle(a);
	collect_gram(a);
	/* G_ii is non-finite exactly when row i holds a NaN/Inf (float32 squares cannot
	 * overflow float64), so one look at the diagonal finds every poisoned worker. */
	for (int i = 0; i < a->p; i++)
		if (active(a, i) && !isfinite(a->G[i * a->p + i]))
			a->status[i] = PN_WORKER_NONFINITE;
	int ids[a->p];
	int k = usable_ids(a, ids);
	if (k == 0) {
		snprintf(a->err, sizeof a->err, "no usable worker: all were excluded");
		return -ENODATA;
	}
	double alpha[k], score[k];
	int selected[k];
	double t0 = pn_now_s();
	int rc = solve_gram_rule(a, ids, k, alpha, score, selected);
	a->rep.t_solve_s = pn_now_s() - t0;
	if (rc != 0)
		return rc;
	for (int i = 0; i < a->p; i++) {
		a->weights[i] = 0.0;
		a->scores[i] = INFINITY;
	}
	for (int x = 0; x < k; x++) {
		a->weights[ids[x]] = alpha[x];
		a->scores[ids[x]] = score[x];
	}
	if (a->cfg.rule == PN_RULE_FLAG && a->cfg.flag_rescale)
		rescale_to_median_norm(a, ids, k);
	t0 = pn_now_s();
	if (a->cfg.rule == PN_RULE_BULYAN) {
		/* Second stage: coordinate-wise over the θ selected workers, β = θ - 2f kept. */
		int theta = k - 2 * a->cfg.f;
		a->coord.keep = theta - 2 * a->cfg.f;
		for (size_t b = 0; b < a->nblocks; b++) {
			uint64_t *m = block_mask(a, b);
			memset(m, 0, sizeof(uint64_t) * a->words);
			for (int x = 0; x < k; x++)
				if (selected[x])
					mask_set(m, ids[x], true);
			submit(a, b, TASK_COORD);
		}
		wait_idle(a);
		memcpy(out, a->cout, a->d * sizeof(float));
		if (a->consume)
			a->consume(a->consume_ctx, 0, out, a->d);
		for (int i = 0; i < a->p; i++) {
			uint64_t s = 0;
			for (size_t b = 0; b < a->nblocks; b++)
				s += a->used[b * (size_t)a->p + i];
			a->weights[i] = (double)s / (double)a->d;
		}
	} else {
		pn_combine_consume((const float *const *)a->rows, a->weights, a->p, a->d, out,
				   a->cfg.threads, a->consume, a->consume_ctx);
	}
	a->rep.t_combine_s = pn_now_s() - t0;
	return 0;
}

int pn_agg_finish(pn_agg *a, float *out)
{
	if (!a || !out)
		return -EINVAL;
	if (a->finished) {
		snprintf(a->err, sizeof a->err, "finish() called twice");
		return -EINVAL;
	}
	a->finished = true;
	exclude_incomplete(a);
	int rc = a->gram_rule ? finish_gram(a, out) : finish_coord(a, out);
	wait_idle(a);
	a->rep.p = a->p;
	for (int i = 0; i < a->p; i++) {
		a->rep.used += a->status[i] == PN_WORKER_USED;
		a->rep.nonfinite += a->status[i] == PN_WORKER_NONFINITE;
		a->rep.incomplete += a->status[i] == PN_WORKER_INCOMPLETE;
	}
	a->rep.t_gram_s = busy_seconds(a); /* thread-seconds in per-block work */
	return rc;
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

int pn_aggregate(const pn_agg_config *cfg, const float *x, float *out, pn_agg_report *rep,
		 double *weights, char *err, size_t errlen)
{
	if (!cfg || !x || !out) {
		pn_errf(err, errlen, "null argument");
		return -EINVAL;
	}
	if (pn_agg_config_check(cfg, err, errlen) != 0)
		return -EINVAL;
	float *rows[cfg->p];
	for (int i = 0; i < cfg->p; i++)
		rows[i] = (float *)x + (size_t)i * cfg->d; /* read only: the engine never writes rows */
	pn_agg *a = pn_agg_begin(cfg, rows, err, errlen);
	if (!a)
		return -ENOMEM;
	int rc = 0;
	for (int i = 0; i < cfg->p && rc == 0; i++)
		rc = pn_agg_landed(a, i, 0, cfg->d);
	if (rc == 0)
		rc = pn_agg_finish(a, out);
	if (rc != 0)
		pn_errf(err, errlen, "%s", pn_agg_errmsg(a));
	if (rep)
		pn_agg_get_report(a, rep);
	if (weights && rc == 0)
		memcpy(weights, pn_agg_weights(a), sizeof(double) * cfg->p);
	pn_agg_free(a);
	return rc;
}
