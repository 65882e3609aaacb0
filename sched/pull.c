/* Puller: per-round bookkeeping of which (worker, chunk) reads are pending, in flight,
 * done or dropped, with per-worker and total windows. Ordering is delegated to a policy. */
#include "sched/pull_internal.h"
#include "util/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *cell(const pn_puller *p, int w, int c)
{
	return &p->state[(size_t)w * (size_t)p->nchunks + (size_t)c];
}

pn_puller *pn_pull_create(const pn_pull_config *cfg, char *err, size_t errlen)
{
	const char *why = NULL;
	if (!cfg || !cfg->plan || cfg->plan->nchunks < 1)
		why = "no chunk plan";
	else if (cfg->workers < 1)
		why = "workers must be >= 1";
	else if (cfg->window_per_worker < 1 || cfg->window_total < 1)
		why = "windows must be >= 1";
	if (pn_refused(err, errlen, "puller", why))
		return NULL;
	pn_puller *p = calloc(1, sizeof *p);
	if (!p)
		goto nomem;
	p->n = cfg->workers;
	p->nchunks = cfg->plan->nchunks;
	p->plan = cfg->plan;
	p->window_worker = cfg->window_per_worker;
	p->window_total = cfg->window_total;
	p->policy = cfg->policy ? cfg->policy : &pn_policy_round_robin;
	p->view.p = p;
	p->w = calloc((size_t)p->n, sizeof *p->w);
	p->state = malloc((size_t)p->n * (size_t)p->nchunks);
	p->policy_state = calloc(1, p->policy->state_size ? p->policy->state_size : 1);
	if (!p->w || !p->state || !p->policy_state) {
		pn_pull_free(p);
		goto nomem;
	}
	pn_pull_reset(p);
	return p;
nomem:
	pn_errf(err, errlen, "puller: out of memory");
	return NULL;
}

void pn_pull_free(pn_puller *p)
{
	if (!p)
		return;
	free(p->w);
	free(p->state);
	free(p->policy_state);
	free(p);
}

void pn_pull_reset(pn_puller *p)
{
	memset(p->state, CH_PENDING, (size_t)p->n * (size_t)p->nchunks);
	for (int i = 0; i < p->n; i++)
		p->w[i] = (struct pull_worker){ .needed = true, .pending = p->nchunks };
	p->inflight_total = 0;
	memset(p->policy_state, 0, p->policy->state_size ? p->policy->state_size : 1);
}

static bool valid(const pn_puller *p, int w, int c)
{
	return w >= 0 && w < p->n && c >= 0 && c < p->nchunks;
}

int pn_pull_readmit(pn_puller *p, int worker)
{
	if (worker < 0 || worker >= p->n)
		return -EINVAL;
	if (p->w[worker].inflight > 0 || p->w[worker].done > 0)
		return -EBUSY;
	memset(cell(p, worker, 0), CH_PENDING, (size_t)p->nchunks);
	p->w[worker] = (struct pull_worker){ .needed = true, .pending = p->nchunks };
	return 0;
}

int pn_pull_set_ready_upto(pn_puller *p, int worker, size_t upto, double t)
{
	if (worker < 0 || worker >= p->n)
		return -EINVAL;
	struct pull_worker *pw = &p->w[worker];
	if (!pw->ready) {
		pw->ready = true;
		pw->ready_time = t;
	}
	if (upto > pw->upto)
		pw->upto = upto;
	return 0;
}

int pn_pull_set_ready(pn_puller *p, int worker, double t)
{
	return pn_pull_set_ready_upto(p, worker, SIZE_MAX, t);
}

/* ---- view for policies ---- */

int pn_pull_view_workers(const pn_pull_view *v) { return v->p->n; }
int pn_pull_view_chunks(const pn_pull_view *v) { return v->p->nchunks; }
double pn_pull_view_ready_time(const pn_pull_view *v, int w) { return v->p->w[w].ready_time; }
int pn_pull_view_inflight(const pn_pull_view *v, int w) { return v->p->w[w].inflight; }
int pn_pull_view_done(const pn_pull_view *v, int w) { return v->p->w[w].done; }
int pn_pull_view_chunk_layer(const pn_pull_view *v, int c) { return v->p->plan->chunks[c].layer; }

int pn_pull_view_next_chunk(const pn_pull_view *v, int w)
{
	const pn_puller *p = v->p;
	struct pull_worker *pw = &((pn_puller *)p)->w[w];
	if (pw->pending == 0)
		return -1;
	while (pw->cursor < p->nchunks && *cell(p, w, pw->cursor) != CH_PENDING)
		pw->cursor++; /* cursor only caches the scan; state is unchanged */
	return pw->cursor < p->nchunks ? pw->cursor : -1;
}

bool pn_pull_view_eligible(const pn_pull_view *v, int w)
{
	if (w < 0 || w >= v->p->n)
		return false;
	const struct pull_worker *pw = &v->p->w[w];
	if (!(pw->ready && pw->needed && !pw->failed && pw->pending > 0 && pw->inflight < v->p->window_worker))
		return false;
	if (pw->upto == SIZE_MAX)
		return true;
	const pn_chunk *c = &v->p->plan->chunks[pn_pull_view_next_chunk(v, w)];
	return c->offset + c->len <= pw->upto; /* only what the worker said is final */
}

/* ---- issuing and completions ---- */

int pn_pull_next(pn_puller *p, pn_pull_req *req)
{
	if (p->inflight_total >= p->window_total)
		return 0;
	int chunk = -1;
	int w = p->policy->pick(p->policy_state, &p->view, &chunk);
	if (w < 0)
		return 0;
	if (!valid(p, w, chunk) || !pn_pull_view_eligible(&p->view, w) || *cell(p, w, chunk) != CH_PENDING)
		return -EPROTO; /* the policy picked something it may not */
	*cell(p, w, chunk) = CH_INFLIGHT;
	struct pull_worker *pw = &p->w[w];
	pw->pending--;
	pw->inflight++;
	p->inflight_total++;
	p->stats.issued++;
	if (p->inflight_total > p->stats.max_inflight_total)
		p->stats.max_inflight_total = p->inflight_total;
	if (pw->inflight > p->stats.max_inflight_worker)
		p->stats.max_inflight_worker = pw->inflight;
	req->worker = w;
	req->chunk = chunk;
	req->offset = p->plan->chunks[chunk].offset;
	req->len = p->plan->chunks[chunk].len;
	return 1;
}

int pn_pull_complete(pn_puller *p, int worker, int chunk)
{
	if (!valid(p, worker, chunk)) {
		p->stats.bogus++;
		return -EINVAL;
	}
	uint8_t *st = cell(p, worker, chunk);
	if (*st == CH_DROPPED) {
		p->stats.stale++;
		return -ESTALE;
	}
	if (*st != CH_INFLIGHT) {
		p->stats.bogus++;
		return -EINVAL;
	}
	*st = CH_DONE;
	struct pull_worker *pw = &p->w[worker];
	pw->inflight--;
	pw->done++;
	p->inflight_total--;
	p->stats.completed++;
	return pw->done == p->nchunks ? 1 : 0;
}

int pn_pull_drop_worker(pn_puller *p, int worker, int *cancel, int cap)
{
	if (worker < 0 || worker >= p->n)
		return -EINVAL;
	struct pull_worker *pw = &p->w[worker];
	int k = 0;
	for (int c = 0; c < p->nchunks; c++) {
		uint8_t *st = cell(p, worker, c);
		if (*st == CH_INFLIGHT) {
			if (cancel && k < cap)
				cancel[k] = c;
			k++;
			*st = CH_DROPPED;
			p->stats.cancelled++;
		} else if (*st == CH_PENDING) {
			*st = CH_DROPPED;
			p->stats.dropped++;
		}
	}
	p->inflight_total -= pw->inflight;
	pw->inflight = 0;
	pw->pending = 0;
	pw->needed = false;
	return k;
}

int pn_pull_fail(pn_puller *p, int worker, int chunk, bool retry, int *cancel, int cap)
{
	if (!valid(p, worker, chunk) || *cell(p, worker, chunk) != CH_INFLIGHT) {
		if (valid(p, worker, chunk) && *cell(p, worker, chunk) == CH_DROPPED) {
			p->stats.stale++;
			return -ESTALE;
		}
		p->stats.bogus++;
		return -EINVAL;
	}
	struct pull_worker *pw = &p->w[worker];
	if (retry) {
		*cell(p, worker, chunk) = CH_PENDING;
		pw->inflight--;
		pw->pending++;
		p->inflight_total--;
		if (chunk < pw->cursor)
			pw->cursor = chunk;
		p->stats.retries++;
		return 0;
	}
	/* The failed read itself is over: take it out of the windows, then drop the rest. */
	*cell(p, worker, chunk) = CH_DROPPED;
	pw->inflight--;
	p->inflight_total--;
	pw->failed = true;
	return pn_pull_drop_worker(p, worker, cancel, cap);
}

int pn_pull_set_needed(pn_puller *p, const bool *needed, int *cancel, int cap)
{
	int pairs = 0;
	int *tmp = malloc(sizeof(int) * (size_t)p->nchunks);
	if (!tmp)
		return -ENOMEM;
	for (int w = 0; w < p->n; w++) {
		if (needed[w] || !p->w[w].needed || pn_pull_worker_finished(p, w))
			continue;
		int k = pn_pull_drop_worker(p, w, tmp, p->nchunks);
		for (int i = 0; i < k; i++, pairs++) {
			if (cancel && pairs < cap) {
				cancel[2 * pairs] = w;
				cancel[2 * pairs + 1] = tmp[i];
			}
		}
	}
	free(tmp);
	return pairs;
}

bool pn_pull_worker_finished(const pn_puller *p, int worker)
{
	return worker >= 0 && worker < p->n && p->w[worker].done == p->nchunks;
}

bool pn_pull_worker_failed(const pn_puller *p, int worker)
{
	return worker >= 0 && worker < p->n && p->w[worker].failed;
}

void pn_pull_finished_set(const pn_puller *p, bool *finished)
{
	for (int w = 0; w < p->n; w++)
		finished[w] = pn_pull_worker_finished(p, w);
}

void pn_pull_failed_set(const pn_puller *p, bool *failed)
{
	for (int w = 0; w < p->n; w++)
		failed[w] = p->w[w].failed;
}

int pn_pull_inflight(const pn_puller *p, int worker)
{
	if (worker < 0)
		return p->inflight_total;
	return worker < p->n ? p->w[worker].inflight : -EINVAL;
}

void pn_pull_get_stats(const pn_puller *p, pn_pull_stats *st)
{
	*st = p->stats;
}
