/* The aggregator role: accept n workers, then run rounds (see include/pennant/job.h for
 * exactly what is computed). One thread drives the transport; the aggregation engine's
 * pool does the per-block work while pulls are still in flight. */
#include "job_proto.h"
#include "pennant/codes.h"
#include "pennant/sched.h"
#include "pennant/straggler.h"
#include "pennant/train.h"
#include "runtime/agg_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read cookies: round (40 bits) | worker (12 bits) | chunk (12+ bits) */
#define CK_WORKER_BITS 12
#define CK_CHUNK_BITS 20
static uint64_t cookie_make(int64_t round, int worker, int chunk)
{
	return (uint64_t)round << (CK_WORKER_BITS + CK_CHUNK_BITS) |
	       (uint64_t)worker << CK_CHUNK_BITS | (uint64_t)chunk;
}
static int64_t cookie_round(uint64_t c) { return (int64_t)(c >> (CK_WORKER_BITS + CK_CHUNK_BITS)); }
static int cookie_worker(uint64_t c) { return (int)(c >> CK_CHUNK_BITS & ((1u << CK_WORKER_BITS) - 1)); }
static int cookie_chunk(uint64_t c) { return (int)(c & ((1u << CK_CHUNK_BITS) - 1)); }

typedef struct wstate {
	pn_tp_peer *peer;
	pn_mr_desc grad;
	bool alive;
	bool ready;           /* READY for the current round seen */
	uint32_t slot;
	double loss;
	int inflight[2];      /* reads in flight into landing parity 0/1 */
	double trust;
	int flagged, straggled;
	int64_t gone_at;
	double last_sent, last_heard; /* liveness (heartbeat) */
} wstate;

typedef struct job {
	const pn_agg_job_config *cfg;
	int n;
	size_t d;
	pn_tp_ctx *ctx;
	pn_tp_mr *model_mr, *land_mr;
	float *model;          /* 2 slots */
	float *land;           /* 2 parities × n × d */
	float *velocity, *velocity_saved, *out;
	wstate *w;
	pn_code *code;
	pn_chunk_plan plan;
	pn_puller *puller;
	pn_straggler_policy pol;
	bool robust;           /* rule != mean */
	bool stopping;         /* STOP sent: peers leaving is expected */
	double heartbeat_s, silence_s;
	double row_scale;      /* robust inputs: 1 / (row sum of B) */
	FILE *log;
	char *err;
	size_t errlen;
	/* per round */
	int64_t round;
	bool *finished, *failed, *needed;
	pn_agg *agg;
	/* pipelining off: remember landed chunks, feed them after the pulls */
	int *landed_list, nlanded;
	/* step */
	const float *cur;      /* model slot being stepped from */
	float *next;
} job;

static bool stop_requested(const job *j)
{
	return j->cfg->stop_requested && *j->cfg->stop_requested;
}

static void logf_(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(job *j, const char *fmt, ...)
{
	if (!j->log)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(j->log, fmt, ap);
	va_end(ap);
	fflush(j->log);
}

static int fail(job *j, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(job *j, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->err, j->errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static int send_msg(job *j, int i, const pn_job_msg *m)
{
	uint8_t buf[PN_TP_CTRL_MAX];
	size_t len = pn_job_msg_pack(m, buf);
	j->w[i].last_sent = pn_now_s();
	int rc = pn_tp_send_ctrl(j->w[i].peer, buf, len);
	if (rc) {
		logf_(j, "worker %d: send failed (%s), marking it down\n", i, strerror(-rc));
		j->w[i].alive = false;
	}
	return rc;
}

static float *land_row(job *j, int64_t round, int i)
{
	return j->land + ((size_t)(round & 1) * j->n + (size_t)i) * j->d;
}

/* A worker is gone (its link went down, it fell silent, or it owes reads too long). */
static void worker_lost(job *j, int i)
{
	j->w[i].alive = false;
	j->w[i].gone_at = j->round;
	j->failed[i] = true;
	j->w[i].inflight[0] = j->w[i].inflight[1] = 0;
}

/* Liveness over the job protocol: PING every worker we have said nothing to for a
 * heartbeat period; a worker silent past the limit is gone (judged only when `drained`,
 * i.e. the last poll left nothing queued: after a long busy stretch of ours, queued
 * messages must be read before anyone is called silent). */
static void heartbeat(job *j, bool drained)
{
	if (j->stopping)
		return;
	double now = pn_now_s();
	for (int i = 0; i < j->n; i++) {
		wstate *w = &j->w[i];
		if (!w->alive)
			continue;
		if (drained && now - w->last_heard >= j->silence_s) {
			logf_(j, "worker %d silent for %.1f s (limit %.1f s): treating it as gone\n", i,
			      now - w->last_heard, j->silence_s);
			pn_tp_disconnect(w->peer);
			worker_lost(j, i);
			continue;
		}
		if (now - w->last_sent >= j->heartbeat_s) {
			pn_job_msg ping = {.type = PN_MSG_PING};
			send_msg(j, i, &ping);
		}
	}
}

static int worker_of_peer(const job *j, const pn_tp_peer *p)
{
	for (int i = 0; i < j->n; i++)
		if (j->w[i].alive && j->w[i].peer == p)
			return i;
	return -1;
}

/* ---- setup ---- */

static int accept_workers(job *j)
{
	const pn_agg_job_config *c = j->cfg;
	int rc = pn_tp_listen(j->ctx, c->listen);
	if (rc)
		return fail(j, rc, "listen %s: %s", c->listen, pn_tp_errmsg(j->ctx));
	char addr[256] = "";
	pn_tp_local_addr(j->ctx, addr, sizeof addr);
	logf_(j, "aggregator listening on %s for %d workers\n", addr, j->n);
	if (c->on_listen)
		c->on_listen(c->on_listen_ctx, addr);
	int joined = 0;
	double t0 = pn_now_s(), limit = (c->accept_timeout_ms > 0 ? c->accept_timeout_ms : 60000) / 1e3;
	while (joined < j->n) {
		if (stop_requested(j))
			return fail(j, -EINTR, "stopped on request while %d of %d workers had joined", joined,
				    j->n);
		double left = limit - (pn_now_s() - t0);
		if (left <= 0)
			return fail(j, -ETIMEDOUT, "only %d of %d workers joined within %.0f s", joined, j->n,
				    limit);
		/* The peer is identified by its HELLO below (a completion names its peer). */
		pn_tp_peer *p = NULL;
		rc = pn_tp_accept(j->ctx, &p, 50);
		if (rc && rc != -ETIMEDOUT && rc != -EAGAIN)
			return fail(j, rc, "accept: %s", pn_tp_errmsg(j->ctx));
		pn_tp_completion comp[16];
		int nc = pn_tp_poll(j->ctx, comp, 16, 0);
		for (int k = 0; k < nc; k++) {
			if (comp[k].event == PN_TP_PEER_DOWN) {
				/* a worker lost before the job started may come back with the same rank */
				int i = worker_of_peer(j, comp[k].peer);
				if (i >= 0) {
					logf_(j, "worker %d dropped during setup; waiting for it to rejoin\n", i);
					j->w[i].alive = false;
				}
				continue;
			}
			if (comp[k].event != PN_TP_CTRL_RECV)
				continue;
			int known = worker_of_peer(j, comp[k].peer);
			if (known >= 0) {
				j->w[known].last_heard = pn_now_s();
				continue; /* a joined worker's PING while the others join */
			}
			pn_job_msg m;
			if (pn_job_msg_unpack(comp[k].data, comp[k].len, &m) || m.type != PN_MSG_HELLO) {
				logf_(j, "dropped a malformed message from peer %u during setup\n", comp[k].peer_id);
				continue;
			}
			if (m.rank >= (uint32_t)j->n || j->w[m.rank].alive) {
				logf_(j, "peer %u claims rank %u (n=%d, or taken): ignored\n", comp[k].peer_id,
				      m.rank, j->n);
				continue;
			}
			if (m.d != j->d || m.region.len < 2 * j->d * sizeof(float)) {
				logf_(j, "worker %u has a different model (%llu parameters, we have %zu): ignored\n",
				      m.rank, (unsigned long long)m.d, j->d);
				continue;
			}
			wstate *w = &j->w[m.rank];
			w->peer = comp[k].peer;
			w->grad = m.region;
			w->alive = true;
			w->trust = 1.0;
			w->gone_at = -1;
			w->last_heard = pn_now_s();
			pn_job_msg wel = {.type = PN_MSG_WELCOME, .n = (uint32_t)j->n, .d = j->d,
					  .heartbeat_ms = (uint32_t)(j->heartbeat_s * 1e3 + 0.5),
					  .silence_ms = (uint32_t)(j->silence_s * 1e3 + 0.5)};
			pn_tp_mr_get_desc(j->model_mr, &wel.region);
			send_msg(j, (int)m.rank, &wel);
		}
		heartbeat(j, nc < 16);
		joined = 0;
		for (int i = 0; i < j->n; i++)
			joined += j->w[i].alive;
	}
	logf_(j, "all %d workers joined in %.2f s\n", j->n, pn_now_s() - t0);
	return 0;
}

static int setup(job *j)
{
	const pn_agg_job_config *c = j->cfg;
	char e[512];
	j->ctx = pn_tp_open(&c->tp, e, sizeof e);
	if (!j->ctx)
		return fail(j, -EIO, "transport: %s", e);
	void *mb, *lb;
	int rc = pn_tp_alloc(j->ctx, 2 * j->d * sizeof(float), PN_ACCESS_REMOTE_READ, &mb, &j->model_mr);
	if (!rc)
		rc = pn_tp_alloc(j->ctx, 2 * (size_t)j->n * j->d * sizeof(float), PN_ACCESS_LOCAL_WRITE,
				 &lb, &j->land_mr);
	if (rc)
		return fail(j, rc, "registered memory: %s", pn_tp_errmsg(j->ctx));
	j->model = mb;
	j->land = lb;
	memcpy(j->model, c->init_model, j->d * sizeof(float));
	j->velocity = calloc(j->d, sizeof(float));
	j->velocity_saved = malloc(j->d * sizeof(float));
	j->out = malloc(j->d * sizeof(float));
	j->w = calloc((size_t)j->n, sizeof *j->w);
	for (int i = 0; j->w && i < j->n; i++)
		j->w[i].gone_at = -2; /* never joined, until it does */
	j->finished = calloc((size_t)j->n, sizeof(bool));
	j->failed = calloc((size_t)j->n, sizeof(bool));
	j->needed = calloc((size_t)j->n, sizeof(bool));
	if (!j->velocity || !j->velocity_saved || !j->out || !j->w || !j->finished || !j->failed || !j->needed)
		return fail(j, -ENOMEM, "out of memory");

	pn_code_params cp;
	pn_code_params_init(&cp, (pn_code_kind)c->code_kind, j->n, c->s);
	cp.seed = c->seed;
	if ((rc = pn_code_create(&cp, &j->code, e, sizeof e)))
		return fail(j, rc, "code: %s", e);
	/* Robust rules need every row to be a gradient estimate on the same scale. */
	j->robust = c->rule.rule != PN_RULE_MEAN;
	const double *B = pn_code_matrix(j->code);
	double s0 = 0;
	for (int i = 0; i < j->n; i++) {
		double s = 0;
		bool nonneg = true;
		for (int k = 0; k < j->n; k++) {
			s += B[(size_t)i * j->n + k];
			nonneg &= B[(size_t)i * j->n + k] >= 0;
		}
		if (i == 0)
			s0 = s;
		if (j->robust && (!nonneg || fabs(s - s0) > 1e-9 * fabs(s0) || s0 <= 0))
			return fail(j, -EINVAL,
				    "rule %s needs a code whose rows are gradient estimates (uncoded, "
				    "fractional, expander, bibd); %s rows mix partitions with signed "
				    "coefficients: use --rule mean with it",
				    pn_rule_name(c->rule.rule), pn_code_describe(j->code));
	}
	j->row_scale = 1.0 / s0;

	int mode = pn_wait_mode_from_name(c->wait ? c->wait : "code");
	if (mode < 0)
		return fail(j, -EINVAL, "unknown wait policy '%s' (all, code, deadline)", c->wait);
	j->pol.mode = (pn_wait_mode)mode;
	j->pol.deadline = c->deadline_ms / 1e3;
	if ((rc = pn_straggler_check(&j->pol, j->n, e, sizeof e)))
		return fail(j, rc, "straggler policy: %s", e);

	pn_chunk_params chp = {.d = j->d, .unit_bytes = pn_tp_preferred_chunk(j->ctx), .workers = j->n};
	if ((rc = pn_chunk_plan_build(&chp, &j->plan, e, sizeof e)))
		return fail(j, rc, "chunk plan: %s", e);
	pn_pull_config pc = {.workers = j->n, .plan = &j->plan,
			     .window_per_worker = c->window_per_worker > 0 ? c->window_per_worker : 8,
			     .window_total = c->window_total > 0 ? c->window_total : 64};
	pc.policy = pn_pull_policy_by_name(c->pull_policy ? c->pull_policy : "round-robin");
	if (!pc.policy)
		return fail(j, -EINVAL, "unknown pull policy '%s'", c->pull_policy);
	j->puller = pn_pull_create(&pc, e, sizeof e);
	if (!j->puller)
		return fail(j, -EINVAL, "puller: %s", e);
	j->landed_list = malloc(sizeof(int) * 2 * (size_t)j->n * (size_t)j->plan.nchunks);
	if (!j->landed_list)
		return fail(j, -ENOMEM, "out of memory");
	logf_(j, "code %s, wait=%s, rule %s, %d chunks of %zu floats per worker, pipelining %s\n",
	      pn_code_describe(j->code), pn_wait_mode_name(j->pol.mode), pn_rule_name(c->rule.rule),
	      j->plan.nchunks, j->plan.chunk_floats, c->pipelining ? "on" : "off");
	j->heartbeat_s = (c->heartbeat_ms > 0 ? c->heartbeat_ms : 1000) / 1e3;
	j->silence_s = (c->silence_ms > 0 ? c->silence_ms : 5000) / 1e3;
	if (j->silence_s <= j->heartbeat_s || j->silence_s * 1e3 > PN_JOB_MAX_TIMER_MS)
		return fail(j, -EINVAL, "silence limit (%.0f ms) must exceed the heartbeat (%.0f ms), at most a day",
			    j->silence_s * 1e3, j->heartbeat_s * 1e3);
	return accept_workers(j);
}

/* ---- the optimizer step, guarded ---- */

/* next = one SGD step from cur along scale·g. The aggregate is checked first and the
 * result after: a step that is not finite is refused (model and momentum unchanged) and
 * the reason returned, so the model never becomes non-finite. */
static const char *take_step(job *j, float *g, double scale)
{
	if (scale != 1.0)
		for (size_t k = 0; k < j->d; k++)
			g[k] *= (float)scale;
	if (!pn_all_finite(g, j->d))
		return "the aggregate is not finite";
	const pn_sgd sgd = {.lr = j->cfg->lr, .momentum = j->cfg->momentum, .weight_decay = j->cfg->weight_decay};
	memcpy(j->next, j->cur, j->d * sizeof(float));
	memcpy(j->velocity_saved, j->velocity, j->d * sizeof(float));
	pn_sgd_step(&sgd, j->next, j->velocity, g, j->d);
	if (pn_all_finite(j->next, j->d) && pn_all_finite(j->velocity, j->d))
		return NULL;
	memcpy(j->velocity, j->velocity_saved, j->d * sizeof(float));
	return "the step would make the model non-finite";
}

/* ---- one round ---- */

static void post_reads(job *j)
{
	pn_pull_req req;
	while (pn_pull_next(j->puller, &req) == 1) {
		wstate *w = &j->w[req.worker];
		size_t loff = (size_t)(land_row(j, j->round, req.worker) - j->land) + req.offset;
		uint64_t roff = ((uint64_t)w->slot * j->d + req.offset) * sizeof(float);
		int rc = pn_tp_post_read(w->peer, j->land_mr, loff * sizeof(float), &w->grad, roff,
					 req.len * sizeof(float), cookie_make(j->round, req.worker, req.chunk));
		if (rc == -EAGAIN) {
			pn_pull_fail(j->puller, req.worker, req.chunk, true, NULL, 0);
			return; /* the queue is full: retry after the next poll */
		}
		if (rc) {
			logf_(j, "round %lld: read from worker %d failed to post: %s\n", (long long)j->round,
			      req.worker, pn_tp_errmsg(j->ctx));
			pn_pull_fail(j->puller, req.worker, req.chunk, false, NULL, 0);
			j->failed[req.worker] = true;
			continue;
		}
		w->inflight[j->round & 1]++;
	}
}

static void on_read_done(job *j, const pn_tp_completion *c)
{
	int64_t r = cookie_round(c->cookie);
	int i = cookie_worker(c->cookie), ch = cookie_chunk(c->cookie);
	if (i >= j->n || ch >= j->plan.nchunks)
		return;
	j->w[i].inflight[r & 1]--;
	if (r != j->round)
		return; /* a cancelled read from an earlier round, landed in that round's buffer */
	if (c->status != 0) {
		logf_(j, "round %lld: read from worker %d failed (%s)\n", (long long)r, i,
		      strerror(-c->status));
		pn_pull_fail(j->puller, i, ch, false, NULL, 0);
		j->failed[i] = true;
		return;
	}
	int done = pn_pull_complete(j->puller, i, ch);
	if (done < 0)
		return; /* cancelled: ignored */
	if (j->agg) {
		if (j->cfg->pipelining)
			pn_agg_landed(j->agg, i, j->plan.chunks[ch].offset, j->plan.chunks[ch].len);
		else
			j->landed_list[j->nlanded++] = i << 20 | ch;
	}
	if (done == 1)
		j->finished[i] = true;
}

static void on_ctrl(job *j, const pn_tp_completion *c)
{
	pn_job_msg m;
	int i = worker_of_peer(j, c->peer);
	if (i >= 0)
		j->w[i].last_heard = pn_now_s();
	int rc = pn_job_msg_unpack(c->data, c->len, &m);
	if (i >= 0 && rc == 0 && m.type == PN_MSG_PING)
		return;
	if (i < 0 || rc != 0 || m.type != PN_MSG_READY) {
		logf_(j, "dropped an unexpected control message from peer %u\n", c->peer_id);
		return;
	}
	if (m.round != j->round)
		return; /* late READY of a round we already closed */
	wstate *w = &j->w[i];
	if (m.status != 0) {
		logf_(j, "round %lld: worker %d could not compute (%s)\n", (long long)m.round, i,
		      strerror(-m.status));
		j->failed[i] = true;
		return;
	}
	w->ready = true;
	w->slot = m.slot;
	w->loss = m.loss;
	pn_pull_set_ready(j->puller, i, pn_now_s());
}

static void on_peer_down(job *j, const pn_tp_completion *c)
{
	int i = worker_of_peer(j, c->peer);
	if (i < 0)
		return;
	if (!j->stopping)
		logf_(j, "worker %d went away (round %lld); continuing without it\n", i, (long long)j->round);
	worker_lost(j, i);
}

static void drive(job *j, int timeout_ms)
{
	pn_tp_completion c[64];
	int n = pn_tp_poll(j->ctx, c, 64, timeout_ms);
	for (int k = 0; k < n; k++) {
		switch (c[k].event) {
		case PN_TP_READ_DONE: on_read_done(j, &c[k]); break;
		case PN_TP_CTRL_RECV: on_ctrl(j, &c[k]); break;
		case PN_TP_PEER_DOWN: on_peer_down(j, &c[k]); break;
		}
	}
	heartbeat(j, n < 64);
}

/* Before reusing a landing parity, the reads of two rounds ago must be gone. */
static void drain_parity(job *j, int64_t round)
{
	double t0 = pn_now_s(), cap = fmax(j->cfg->deadline_ms / 1e3, 5.0);
	for (;;) {
		bool busy = false;
		for (int i = 0; i < j->n; i++)
			busy |= j->w[i].alive && j->w[i].inflight[round & 1] > 0;
		if (!busy)
			return;
		if (pn_now_s() - t0 > cap) {
			for (int i = 0; i < j->n; i++)
				if (j->w[i].alive && j->w[i].inflight[round & 1] > 0) {
					logf_(j, "worker %d still owes reads from round %lld: disconnecting it\n", i,
					      (long long)round - 2);
					pn_tp_disconnect(j->w[i].peer);
					j->w[i].alive = false;
				}
			return;
		}
		drive(j, 5);
	}
}

/* Fractional repetition: replicas of a group compute the same partitions and must agree
 * bit-for-bit. When a strict majority of a group's arrived replicas are identical, the
 * others are flagged and left out; without a majority (e.g. two attackers that also
 * differ from each other) nobody is flagged and the rule decides. Returns the count. */
static int check_replicas(job *j, bool *use)
{
	if (pn_code_kind_of(j->code) != PN_CODE_FRACTIONAL)
		return 0;
	int flagged = 0;
	for (int g = 0; g < pn_code_groups(j->code); g++) {
		int members[j->n], m = 0;
		for (int i = 0; i < j->n; i++)
			if (use[i] && pn_code_group_of(j->code, i) == g)
				members[m++] = i;
		int best = -1, best_count = 0;
		for (int a = 0; a < m; a++) {
			int same = 1;
			for (int b = 0; b < m; b++)
				same += b != a && memcmp(land_row(j, j->round, members[a]),
							 land_row(j, j->round, members[b]),
							 j->d * sizeof(float)) == 0;
			if (same > best_count) {
				best_count = same;
				best = members[a];
			}
		}
		if (m < 3 || best_count * 2 <= m)
			continue;
		for (int a = 0; a < m; a++) {
			int i = members[a];
			if (i != best && memcmp(land_row(j, j->round, i), land_row(j, j->round, best),
						j->d * sizeof(float)) != 0) {
				use[i] = false;
				j->w[i].flagged++;
				j->w[i].trust *= 0.8; /* judged: no share of the weight this round */
				flagged++;
			}
		}
	}
	return flagged;
}

static int run_round(job *j, pn_round_record *rec)
{
	const pn_agg_job_config *c = j->cfg;
	int64_t v = j->round;
	double t0 = pn_now_s();
	memset(rec, 0, sizeof *rec);
	rec->round = v;
	rec->test_loss = rec->test_acc = NAN;
	drain_parity(j, v);
	j->cur = j->model + (size_t)(v & 1) * j->d;
	j->next = j->model + (size_t)((v + 1) & 1) * j->d;
	pn_pull_reset(j->puller);
	j->nlanded = 0;
	for (int i = 0; i < j->n; i++) {
		j->finished[i] = false;
		j->failed[i] = !j->w[i].alive;
		j->w[i].ready = false;
	}
	/* The engine reads the landing rows in place. */
	pn_agg_config ac = c->rule;
	ac.p = j->n;
	ac.d = j->d;
	ac.flag_rescale = 1;
	if (j->robust) {
		float *rows[j->n];
		for (int i = 0; i < j->n; i++)
			rows[i] = land_row(j, v, i);
		char e[256];
		j->agg = pn_agg_begin(&ac, rows, e, sizeof e);
		if (!j->agg)
			return fail(j, -EINVAL, "aggregation: %s", e);
	}
	/* publish model v */
	double tp = pn_now_s();
	for (int i = 0; i < j->n; i++) {
		if (!j->w[i].alive)
			continue;
		pn_job_msg m = {.type = PN_MSG_ROUND, .round = v, .slot = (uint32_t)(v & 1)};
		int np = pn_code_partitions(j->code, i, m.parts, m.coefs, PN_JOB_MAX_PARTS);
		if (np > PN_JOB_MAX_PARTS)
			return fail(j, -E2BIG, "worker %d has %d partitions (max %d)", i, np, PN_JOB_MAX_PARTS);
		m.nparts = np;
		if (send_msg(j, i, &m))
			j->failed[i] = true;
	}
	rec->t_publish_s = pn_now_s() - tp;

	/* pull until the straggler policy is satisfied */
	double tpull = pn_now_s(), hard_cap = fmax(c->deadline_ms / 1e3, 1.0) * 4 + 30;
	pn_round_verdict verdict = PN_ROUND_WAIT;
	for (;;) {
		post_reads(j);
		drive(j, 2);
		for (int i = 0; i < j->n; i++)
			if (pn_pull_worker_failed(j->puller, i))
				j->failed[i] = true;
		double el = pn_now_s() - t0;
		verdict = pn_straggler_decide(&j->pol, j->code, j->finished, j->failed, el, j->needed);
		pn_pull_set_needed(j->puller, j->needed, NULL, 0);
		if (stop_requested(j))
			return -EINTR; /* abandoned: the model stays the last completed one */
		if (verdict != PN_ROUND_WAIT)
			break;
		bool any_hope = false;
		for (int i = 0; i < j->n; i++)
			any_hope |= !j->finished[i] && !j->failed[i];
		if (!any_hope) {
			verdict = PN_ROUND_IMPOSSIBLE;
			break;
		}
		if (el > hard_cap) {
			verdict = PN_ROUND_DEADLINE;
			logf_(j, "round %lld: nothing decodable after %.0f s, giving up on it\n", (long long)v, el);
			break;
		}
	}
	rec->t_pull_s = pn_now_s() - tpull;

	/* what takes part */
	bool use[j->n];
	int nuse = 0;
	double loss = 0;
	for (int i = 0; i < j->n; i++) {
		use[i] = j->finished[i];
		if (!use[i] && j->w[i].alive)
			j->w[i].straggled++;
		rec->stragglers += j->w[i].alive && !j->finished[i] && !j->failed[i];
		rec->failed += j->failed[i];
		if (use[i]) {
			nuse++;
			loss += j->w[i].loss;
		}
	}
	rec->finished = nuse;
	rec->loss = nuse ? loss / nuse : NAN;
	double ta = pn_now_s();
	heartbeat(j, false); /* the aggregation below does not poll */
	int rc = 0;
	const char *skip = NULL;
	if (nuse > 0 && verdict != PN_ROUND_IMPOSSIBLE) {
		for (int i = 0; i < j->n; i++)
			if (use[i] && !j->robust && !pn_all_finite(land_row(j, v, i), j->d)) {
				use[i] = false; /* the mean has no other defence */
				rec->nonfinite++;
				j->w[i].flagged++;
				j->w[i].trust *= 0.8;
			}
		rec->disagreeing = check_replicas(j, use);
		const float *rows[j->n];
		for (int i = 0; i < j->n; i++)
			rows[i] = land_row(j, v, i);
		if (j->robust) {
			for (int i = 0; i < j->n; i++)
				if (!use[i])
					pn_agg_exclude(j->agg, i);
			if (!c->pipelining)
				for (int k = 0; k < j->nlanded; k++) {
					int i = j->landed_list[k] >> 20, ch = j->landed_list[k] & 0xfffff;
					if (use[i])
						pn_agg_landed(j->agg, i, j->plan.chunks[ch].offset,
							      j->plan.chunks[ch].len);
				}
			rc = pn_agg_finish(j->agg, j->out);
			if (rc == 0) {
				pn_agg_report rep;
				pn_agg_get_report(j->agg, &rep);
				rec->nonfinite += rep.nonfinite;
				rec->gram_busy_s = rep.t_gram_s;
				rec->solve_combine_s = rep.t_solve_s + rep.t_combine_s;
				const double *wt = pn_agg_weights(j->agg);
				const int *st = pn_agg_status(j->agg);
				double tot = 0;
				for (int i = 0; i < j->n; i++)
					tot += fabs(wt[i]);
				for (int i = 0; i < j->n; i++) {
					double share = tot > 0 && st[i] == 0 ? fabs(wt[i]) / tot * rep.used : 0;
					if (use[i] || st[i] == 1) /* judged by the rule this round */
						j->w[i].trust = 0.8 * j->w[i].trust + 0.2 * share;
					if (st[i] == 1)
						j->w[i].flagged++;
					if (c->byzantine_ranks && c->byzantine_ranks[i] && st[i] == 0 && wt[i] != 0)
						rec->byzantine_used++;
				}
			} else {
				logf_(j, "round %lld: %s; model unchanged\n", (long long)v, pn_agg_errmsg(j->agg));
				skip = "the rule failed";
			}
		} else {
			/* mean = the code's decode: (1/n) Σ a_i c_i */
			double a[j->n];
			pn_decode_info info;
			rc = pn_code_decode(j->code, use, a, &info);
			rec->decode_residual = info.residual;
			if (rc == 0) {
				for (int i = 0; i < j->n; i++) {
					a[i] = use[i] ? a[i] / j->n : 0.0;
					if (c->byzantine_ranks && c->byzantine_ranks[i] && use[i] && a[i] != 0)
						rec->byzantine_used++;
				}
				double tc = pn_now_s();
				pn_combine(rows, a, j->n, j->d, j->out, pn_online_cpus());
				rec->solve_combine_s = pn_now_s() - tc;
			} else {
				skip = "the code could not decode what arrived";
			}
		}
	} else {
		rc = -ENODATA;
		skip = "no usable gradient";
		logf_(j, "round %lld: no usable gradient (%s); model unchanged\n", (long long)v,
		      pn_round_verdict_name(verdict));
	}
	if (rc == 0 && (skip = take_step(j, j->out, j->robust ? j->row_scale : 1.0)) != NULL)
		logf_(j, "round %lld: %s; model unchanged\n", (long long)v, skip);
	if (skip) {
		/* skip: the next round starts from the same model */
		memcpy(j->next, j->cur, j->d * sizeof(float));
		rec->skipped = true;
		rec->skip_reason = skip;
	}
	rec->t_aggregate_s = pn_now_s() - ta;
	if (j->agg) {
		pn_agg_free(j->agg);
		j->agg = NULL;
	}
	bool strag[j->n];
	for (int i = 0; i < j->n; i++)
		strag[i] = !j->finished[i];
	pn_code_observe_round(j->code, strag);
	rec->t_round_s = pn_now_s() - t0;
	return 0;
}

int pn_aggregator_run(const pn_agg_job_config *cfg, pn_agg_job_result *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof *res);
	job j = {.cfg = cfg, .n = cfg->n, .d = cfg->d, .log = cfg->log, .err = err, .errlen = errlen};
	if (cfg->n < 1 || cfg->n >= (1 << CK_WORKER_BITS) || cfg->d < 1 || !cfg->init_model)
		return fail(&j, -EINVAL, "need 1 <= n < %d workers and an initial model", 1 << CK_WORKER_BITS);
	double t0 = pn_now_s();
	int rc = setup(&j);
	if (rc == 0 && j.plan.nchunks >= (1 << CK_CHUNK_BITS))
		rc = fail(&j, -EINVAL, "too many chunks (%d)", j.plan.nchunks);
	for (j.round = 0; rc == 0 && j.round < cfg->rounds; j.round++) {
		pn_round_record rec;
		rc = stop_requested(&j) ? -EINTR : run_round(&j, &rec);
		if (rc == -EINTR)
			rc = fail(&j, rc, "stopped on request in round %lld; the model is the one after %lld rounds",
				  (long long)j.round, (long long)res->rounds_done);
		if (rc)
			break;
		res->rounds_done++;
		res->rounds_skipped += rec.skipped;
		if (cfg->on_round)
			cfg->on_round(cfg->on_round_ctx, j.next, &rec);
		int alive = 0;
		for (int i = 0; i < j.n; i++)
			alive += j.w[i].alive;
		if (alive == 0) {
			rc = fail(&j, -ENOTCONN, "every worker is gone after round %lld", (long long)j.round);
			break;
		}
	}
	/* The model is never lost: hand back the latest one even after an error. */
	res->model = malloc(j.d * sizeof(float));
	res->trust = calloc((size_t)j.n, sizeof(double));
	res->flagged = calloc((size_t)j.n, sizeof(int));
	res->straggled = calloc((size_t)j.n, sizeof(int));
	res->gone_at = calloc((size_t)j.n, sizeof(int64_t));
	if (res->model)
		memcpy(res->model, j.model ? j.model + (size_t)(res->rounds_done & 1) * j.d : cfg->init_model,
		       j.d * sizeof(float));
	j.stopping = true;
	for (int i = 0; j.w && i < j.n; i++) {
		if (res->trust)
			res->trust[i] = j.w[i].trust;
		if (res->flagged)
			res->flagged[i] = j.w[i].flagged;
		if (res->straggled)
			res->straggled[i] = j.w[i].straggled;
		if (res->gone_at)
			res->gone_at[i] = j.w[i].gone_at;
		if (j.w[i].alive) {
			pn_job_msg stop = {.type = PN_MSG_STOP};
			send_msg(&j, i, &stop);
		}
	}
	if (j.ctx) {
		/* let STOP messages leave and late reads drain before tearing down */
		for (int k = 0; k < 20; k++)
			drive(&j, 5);
		pn_tp_get_stats(j.ctx, &res->tp_stats);
	}
	res->t_total_s = pn_now_s() - t0;
	pn_agg_free(j.agg);
	pn_pull_free(j.puller);
	pn_chunk_plan_free(&j.plan);
	pn_code_free(j.code);
	pn_tp_close(j.ctx);
	free(j.velocity), free(j.out), free(j.w), free(j.finished), free(j.failed), free(j.needed);
	free(j.velocity_saved), free(j.landed_list);
	return rc;
}

void pn_agg_job_result_free(pn_agg_job_result *res)
{
	free(res->trust);
	free(res->flagged);
	free(res->straggled);
	free(res->gone_at);
	free(res->model);
	memset(res, 0, sizeof *res);
}
