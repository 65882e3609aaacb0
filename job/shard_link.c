/* The exchange between the shards of a sharded job (pennant/shard.h), over the job's own
 * transport (any backend: only the pn_tp_* API). Shard k > 0 connects to shard 0 and says
 * SHARD_HELLO (its facts region, its model region, its range); shard 0 answers
 * SHARD_WELCOME (its decision region). Round v:
 *     shard k > 0: settle, facts blob into facts slot v%2, FACTS(v) ──▶ shard 0 READs it
 *     shard 0: settle, merge the K facts (pn_shard_merge), decision blob into decision
 *              slot v%2, DECISION(v) ──▶ every shard READs it
 *     every shard: pn_agg_finish_shared on the decision, then steps its own range.
 * A slot is never rewritten while read: shard k writes facts v+2 only after reading
 * decision v, which shard 0 wrote after reading facts v (and likewise for decisions).
 * After the last round each shard k > 0 says SHARD_DONE (model slot, bytes pulled), shard
 * 0 READs its range into the whole model and answers SHARD_DONE. A shard lost at any
 * point ends the job on every shard (pn_shard_link_check). The blobs are the only copies
 * here: p + p²·8 bytes that must sit in registered memory for the other side to READ. */
#include "job/aggregator_internal.h"
#include "job/cookie.h"
#include "job/shard_facts.h"
#include "pennant/shard.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Reads between shards carry the worker field no worker has, and in the chunk field
 * which shard and what. */
#define COOKIE_SHARD (PN_COOKIE_MAX_WORKERS - 1)
enum { READ_BLOB = 0, READ_MODEL = 1 };
_Static_assert(PN_JOB_MAX_WORKERS <= COOKIE_SHARD, "no worker has the shards' cookie");

typedef struct shard_peer {
	pn_tp_peer *peer;   /* shard 0: shard k's; shard k > 0: shard 0's (entry 0) */
	pn_mr_desc blob;    /* shard 0: shard k's facts region; shard k: shard 0's decision region */
	pn_mr_desc model;   /* shard 0: shard k's model region (2 slots of its range) */
	size_t lo, hi;
	int64_t landed;     /* the last round whose blob landed here */
	bool done, gathered;
	int64_t done_round;
	uint32_t done_slot;
	uint64_t bytes;
} shard_peer;

struct pn_shard_link {
	int K, k;
	size_t blob_len;
	pn_tp_mr *out_mr, *in_mr, *gather_mr;
	uint8_t *out, *in;  /* ours (2 slots); landing (K slots on shard 0, 1 elsewhere) */
	float *gather;      /* shard 0, at the end: the whole model */
	shard_peer peer[PN_SHARD_MAX];
	int joined;
	int *statuses;      /* shard 0: K×p; elsewhere p */
	double *grams;      /* K×p×p on shard 0, p×p elsewhere; NULL without a Gram rule */
	int lost;           /* -1, or the shard that went away */
	int fail_rc;        /* the exchange failed (the reason is in the job's err): the job ends */
	bool ended;         /* the exchange is over: peers leaving is expected */
	uint64_t exchange_bytes, gather_bytes; /* bytes this shard READ from other shards */
};

/* waiting on another shard is bounded like a round's pull (decide.c) on both sides */
static double wait_cap(const pn_job *j)
{
	return 2 * (fmax(j->cfg->deadline_ms / 1e3, 1.0) * 4 + 30);
}

static int send_msg(pn_tp_peer *p, const pn_job_msg *m)
{
	uint8_t buf[PN_TP_CTRL_MAX];
	return pn_tp_send_ctrl(p, buf, pn_job_msg_pack(m, buf));
}

static void fill_session(const pn_job *j, pn_job_msg *m)
{
	m->n = (uint32_t)j->n;
	m->d = j->d_full;
	m->heartbeat_ms = (uint32_t)(j->heartbeat_s * 1e3 + 0.5);
	m->silence_ms = (uint32_t)(j->silence_s * 1e3 + 0.5);
	m->shard = (uint32_t)j->link->k;
	m->shards = (uint32_t)j->link->K;
	m->lo = j->lo;
	m->hi = j->lo + j->d;
}

int pn_shard_link_open(pn_job *j)
{
	pn_shard_link *l = calloc(1, sizeof *l);
	if (!l)
		return pn_job_fail(j, -ENOMEM, "out of memory");
	j->link = l;
	l->K = j->cfg->shard.count;
	l->k = j->cfg->shard.index;
	l->lost = -1;
	l->blob_len = pn_shard_facts_size(j->n, j->gram);
	/* facts rows: K on shard 0 (its own first), 1 elsewhere; one more for the decision */
	int slots_in = l->k == 0 ? l->K : 1, slots_st = slots_in + 1;
	l->statuses = calloc((size_t)slots_st * (size_t)j->n, sizeof(int));
	if (j->gram)
		l->grams = calloc((size_t)slots_st * (size_t)j->n * (size_t)j->n, sizeof(double));
	if (!l->statuses || (j->gram && !l->grams))
		return pn_job_fail(j, -ENOMEM, "out of memory");
	void *o, *in;
	int rc = pn_tp_alloc(j->ctx, 2 * l->blob_len, PN_ACCESS_REMOTE_READ, &o, &l->out_mr);
	if (!rc)
		rc = pn_tp_alloc(j->ctx, (size_t)slots_in * l->blob_len, PN_ACCESS_LOCAL_WRITE, &in, &l->in_mr);
	if (rc)
		return pn_job_fail(j, rc, "registered memory: %s", pn_tp_errmsg(j->ctx));
	l->out = o, l->in = in;
	for (int k = 0; k < l->K; k++)
		l->peer[k].landed = l->peer[k].done_round = -1;
	return 0;
}

int pn_shard_link_join(pn_job *j)
{
	pn_shard_link *l = j->link;
	if (!l || l->k == 0)
		return 0;
	/* shard k > 0: join shard 0 (it may still be starting: retried within the accept time) */
	int rc;
	double t0 = pn_now_s(), limit = (j->cfg->accept_timeout_ms > 0 ? j->cfg->accept_timeout_ms : 60000) / 1e3;
	do {
		rc = pn_tp_connect(j->ctx, j->cfg->shard.shard0, &l->peer[0].peer, 1000);
	} while (rc && rc != -EPERM && rc != -EACCES && pn_now_s() - t0 < limit && !pn_job_stop_requested(j));
	if (rc)
		return pn_job_fail(j, rc, "shard %d: cannot join shard 0 at %s: %s", l->k, j->cfg->shard.shard0,
				   pn_tp_errmsg(j->ctx));
	pn_job_msg hello = {.type = PN_MSG_SHARD_HELLO};
	fill_session(j, &hello);
	pn_tp_mr_get_desc(l->out_mr, &hello.region);
	pn_tp_mr_get_desc(j->model_mr, &hello.result);
	if ((rc = send_msg(l->peer[0].peer, &hello)))
		return pn_job_fail(j, rc, "shard %d: HELLO to shard 0: %s", l->k, pn_tp_errmsg(j->ctx));
	return 0;
}

bool pn_shard_link_ready(const pn_job *j)
{
	return !j->link || j->link->joined == j->link->K - 1;
}

static int shard_of_peer(const pn_shard_link *l, const pn_tp_peer *p)
{
	for (int k = 0; k < l->K; k++)
		if (l->peer[k].peer && l->peer[k].peer == p)
			return k;
	return -1;
}

/* Shard 0, setup: shard k > 0 joins if it is of this job (K, n, d) and its range is the
 * one our own plan gives it (checked once every shard has said where it starts). */
static void on_shard_hello(pn_job *j, const pn_tp_completion *c, const pn_job_msg *m)
{
	pn_shard_link *l = j->link;
	int k = (int)m->shard;
	if (m->shards != (uint32_t)l->K || m->n != (uint32_t)j->n || m->d != j->d_full ||
	    l->peer[k].peer || m->result.len < 2 * (m->hi - m->lo) * sizeof(float) ||
	    m->region.len < 2 * l->blob_len) {
		pn_job_log(j, "shard HELLO from peer %u (shard %u of %u, n %u, d %llu) does not fit this "
			   "job (or the shard is taken): ignored\n", c->peer_id, m->shard, m->shards, m->n,
			   (unsigned long long)m->d);
		return;
	}
	shard_peer *sp = &l->peer[k];
	sp->peer = c->peer;
	sp->blob = m->region;
	sp->model = m->result;
	sp->lo = m->lo, sp->hi = m->hi;
	l->joined++;
	pn_job_msg wel = {.type = PN_MSG_SHARD_WELCOME};
	fill_session(j, &wel);
	pn_tp_mr_get_desc(l->out_mr, &wel.region);
	if (send_msg(c->peer, &wel)) {
		pn_job_log(j, "shard %d: WELCOME failed to send\n", k);
		l->lost = k;
	}
	pn_job_log(j, "shard %d joined: coordinates [%zu, %zu)\n", k, sp->lo, sp->hi);
}

static void post_blob_read(pn_job *j, int k, int64_t round, uint32_t slot)
{
	pn_shard_link *l = j->link;
	size_t into = l->k == 0 ? (size_t)k * l->blob_len : 0;
	int rc = pn_tp_post_read(l->peer[k].peer, l->in_mr, into, &l->peer[k].blob,
				 (uint64_t)slot * l->blob_len, l->blob_len,
				 pn_cookie_make(round, COOKIE_SHARD, k * 2 + READ_BLOB));
	if (rc) {
		pn_job_log(j, "round %lld: read from shard %d failed to post: %s\n", (long long)round,
			   l->k == 0 ? k : 0, pn_tp_errmsg(j->ctx));
		l->lost = k;
	}
}

bool pn_shard_link_on_ctrl(pn_job *j, const pn_tp_completion *c)
{
	pn_shard_link *l = j->link;
	if (!l)
		return false;
	int k = shard_of_peer(l, c->peer);
	pn_job_msg m;
	if (pn_job_msg_unpack(c->data, c->len, &m) != 0)
		return k >= 0; /* from a shard: dropped; else the caller drops (and counts) it */
	if (k < 0) {
		if (l->k != 0 || m.type != PN_MSG_SHARD_HELLO)
			return false;
		on_shard_hello(j, c, &m);
		return true;
	}
	switch (m.type) {
	case PN_MSG_SHARD_WELCOME: /* shard k > 0: shard 0 took us */
		if (l->k > 0 && m.shards == (uint32_t)l->K && m.n == (uint32_t)j->n && m.d == j->d_full &&
		    l->joined == 0 && m.region.len >= 2 * l->blob_len) {
			l->peer[0].blob = m.region;
			l->joined = l->K - 1;
		}
		break;
	case PN_MSG_FACTS:    /* shard 0: shard k's facts of round m.round */
	case PN_MSG_DECISION: /* shard k > 0: shard 0's decision */
		if ((m.type == PN_MSG_FACTS) == (l->k == 0))
			post_blob_read(j, k, m.round, m.slot);
		break;
	case PN_MSG_SHARD_DONE:
		l->peer[k].done = true;
		l->peer[k].done_round = m.round;
		l->peer[k].done_slot = m.slot;
		l->peer[k].bytes = m.bytes;
		break;
	default:
		break;
	}
	return true;
}

bool pn_shard_link_on_read(pn_job *j, const pn_tp_completion *c)
{
	pn_shard_link *l = j->link;
	if (!l || pn_cookie_worker(c->cookie) != COOKIE_SHARD)
		return false;
	int k = pn_cookie_chunk(c->cookie) / 2, what = pn_cookie_chunk(c->cookie) % 2;
	if (k >= l->K)
		return true;
	if (c->status != 0) {
		pn_job_log(j, "a read from shard %d failed (%s)\n", l->k == 0 ? k : 0, strerror(-c->status));
		l->lost = k;
		return true;
	}
	if (what == READ_BLOB) {
		l->exchange_bytes += c->len;
		l->peer[k].landed = pn_cookie_round(c->cookie);
	} else {
		l->gather_bytes += c->len;
		l->peer[k].gathered = true;
	}
	return true;
}

bool pn_shard_link_on_down(pn_job *j, const pn_tp_completion *c)
{
	pn_shard_link *l = j->link;
	int k = l ? shard_of_peer(l, c->peer) : -1;
	if (k < 0)
		return false;
	l->peer[k].peer = NULL;
	if (!l->ended && l->lost < 0)
		l->lost = k;
	return true;
}

/* The exchange failed: the reason stays in the job's err, the job ends. */
static int link_fail(pn_job *j, int rc)
{
	if (j->link->fail_rc == 0)
		j->link->fail_rc = rc;
	return j->link->fail_rc;
}

int pn_shard_link_check(pn_job *j)
{
	pn_shard_link *l = j->link;
	if (!l || l->fail_rc)
		return l ? l->fail_rc : 0;
	if (l->lost < 0)
		return 0;
	int who = l->k == 0 ? l->lost : 0;
	return link_fail(j, pn_job_fail(j, -ECONNRESET, "aggregator shard %d went away "
					"(round %lld): the job ends here, without a whole model",
					who, (long long)j->round));
}

/* Drive until `done` says so, a shard is lost, or the wait cap passes. */
static int drive_until(pn_job *j, bool (*done)(const pn_job *), const char *what)
{
	double t0 = pn_now_s();
	while (!done(j)) {
		int rc = pn_shard_link_check(j);
		if (rc)
			return rc;
		if (pn_now_s() - t0 > wait_cap(j))
			return link_fail(j, pn_job_fail(j, -ETIMEDOUT, "shard %d: no %s in round %lld within %.0f s",
							j->link->k, what, (long long)j->round, wait_cap(j)));
		pn_job_drive(j, 2);
	}
	return pn_shard_link_check(j);
}

static bool all_facts_landed(const pn_job *j)
{
	for (int k = 1; k < j->link->K; k++)
		if (j->link->peer[k].landed != j->round)
			return false;
	return true;
}

static bool decision_landed(const pn_job *j)
{
	return j->link->peer[0].landed == j->round;
}

static int announce(pn_job *j, int k, int type)
{
	pn_job_msg m = {.type = (uint8_t)type, .round = j->round, .slot = pn_job_slot(j->round)};
	int rc = send_msg(j->link->peer[k].peer, &m);
	if (rc)
		j->link->lost = k;
	return rc ? pn_shard_link_check(j) : 0;
}

/* Shard 0: every shard's facts in shard order, merged into the decision, published. */
static int decide_as_shard0(pn_job *j, int *status, double *G)
{
	pn_shard_link *l = j->link;
	size_t p = (size_t)j->n, pp = p * p;
	int rc = drive_until(j, all_facts_landed, "facts from every shard");
	for (int k = 1; k < l->K && rc == 0; k++)
		if (pn_shard_facts_unpack(l->in + (size_t)k * l->blob_len, l->blob_len, j->round, j->n,
					  l->statuses + k * p, l->grams ? l->grams + k * pp : NULL))
			rc = link_fail(j, pn_job_fail(j, -EBADMSG, "round %lld: shard %d's facts do not "
						      "check out", (long long)j->round, k));
	if (rc)
		return rc;
	pn_shard_merge(l->K, j->n, l->statuses, l->grams, status, G);
	pn_shard_facts_pack(j->round, j->n, status, G, l->out + pn_job_slot(j->round) * l->blob_len);
	for (int k = 1; k < l->K && rc == 0; k++)
		rc = announce(j, k, PN_MSG_DECISION);
	return rc;
}

/* Shard k > 0: our facts to shard 0, its decision back. */
static int decide_as_shard(pn_job *j, int *status, double *G)
{
	pn_shard_link *l = j->link;
	pn_shard_facts_pack(j->round, j->n, status, G, l->out + pn_job_slot(j->round) * l->blob_len);
	int rc = announce(j, 0, PN_MSG_FACTS);
	if (rc == 0)
		rc = drive_until(j, decision_landed, "decision from shard 0");
	if (rc == 0 && pn_shard_facts_unpack(l->in, l->blob_len, j->round, j->n, status, G))
		rc = link_fail(j, pn_job_fail(j, -EBADMSG, "round %lld: shard 0's decision does not "
					      "check out", (long long)j->round));
	return rc;
}

int pn_shard_link_finish_round(pn_job *j, float *out)
{
	pn_shard_link *l = j->link;
	size_t p = (size_t)j->n;
	/* our facts: row 0 of the K rows on shard 0 (the merge's input), the only row elsewhere;
	 * the decision lands in the row after them (allocated with the link: K + 1 rows) */
	int *status = l->statuses + (size_t)(l->k == 0 ? l->K : 1) * p;
	double *G = l->grams ? l->grams + (size_t)(l->k == 0 ? l->K : 1) * p * p : NULL;
	int rc = pn_agg_settle(j->agg, l->statuses, l->grams);
	if (rc)
		return rc;
	if (l->k == 0) {
		rc = decide_as_shard0(j, status, G);
	} else {
		memcpy(status, l->statuses, sizeof(int) * p);
		if (G)
			memcpy(G, l->grams, sizeof(double) * p * p);
		rc = decide_as_shard(j, status, G);
	}
	return rc ? rc : pn_agg_finish_shared(j->agg, status, G, out);
}

static bool all_done(const pn_job *j)
{
	for (int k = 1; k < j->link->K; k++)
		if (!j->link->peer[k].done)
			return false;
	return true;
}

static bool all_gathered(const pn_job *j)
{
	for (int k = 1; k < j->link->K; k++)
		if (!j->link->peer[k].gathered)
			return false;
	return true;
}

static bool acked(const pn_job *j)
{
	return j->link->peer[0].done || j->link->peer[0].peer == NULL;
}

/* Shard 0: READ each shard's range of the last model into the whole one. */
static int gather_as_shard0(pn_job *j, pn_agg_job_result *res, int64_t rounds)
{
	pn_shard_link *l = j->link;
	void *buf;
	int rc = drive_until(j, all_done, "end of the job from every shard");
	if (rc == 0 && (rc = pn_tp_alloc(j->ctx, j->d_full * sizeof(float), PN_ACCESS_LOCAL_WRITE, &buf,
					 &l->gather_mr)))
		return pn_job_fail(j, rc, "registered memory: %s", pn_tp_errmsg(j->ctx));
	if (rc)
		return rc;
	l->gather = buf;
	memcpy(l->gather, j->model + (size_t)pn_job_slot(rounds) * j->d, j->d * sizeof(float));
	for (int k = 1; k < l->K && rc == 0; k++) {
		shard_peer *sp = &l->peer[k];
		size_t len = sp->hi - sp->lo;
		if (sp->done_round != rounds)
			return pn_job_fail(j, -EPROTO, "shard %d ended after %lld rounds, shard 0 after %lld",
					   k, (long long)sp->done_round, (long long)rounds);
		rc = pn_tp_post_read(sp->peer, l->gather_mr, sp->lo * sizeof(float), &sp->model,
				     (uint64_t)sp->done_slot * len * sizeof(float), len * sizeof(float),
				     pn_cookie_make(rounds, COOKIE_SHARD, k * 2 + READ_MODEL));
		if (rc)
			return pn_job_fail(j, rc, "reading shard %d's model: %s", k, pn_tp_errmsg(j->ctx));
	}
	if ((rc = drive_until(j, all_gathered, "model from every shard")))
		return rc;
	l->ended = true;
	for (int k = 1; k < l->K; k++) {
		res->shard_bytes_pulled[k] = l->peer[k].bytes;
		send_msg(l->peer[k].peer, &(pn_job_msg){.type = PN_MSG_SHARD_DONE, .round = rounds,
							  .slot = pn_job_slot(rounds)});
	}
	free(res->model);
	if ((res->model = malloc(j->d_full * sizeof(float))))
		memcpy(res->model, l->gather, j->d_full * sizeof(float));
	return 0;
}

int pn_shard_link_gather(pn_job *j, pn_agg_job_result *res)
{
	pn_shard_link *l = j->link;
	int64_t rounds = res->rounds_done;
	pn_tp_stats st;
	pn_tp_get_stats(j->ctx, &st);
	res->shards = l->K;
	res->shard_bytes_pulled[l->k] = st.bytes_read - l->exchange_bytes; /* (no gather yet) */
	res->exchange_bytes = l->exchange_bytes;
	if (l->k == 0)
		return gather_as_shard0(j, res, rounds);
	pn_job_msg m = {.type = PN_MSG_SHARD_DONE, .round = rounds, .slot = pn_job_slot(rounds),
			.bytes = res->shard_bytes_pulled[l->k]};
	int rc = send_msg(l->peer[0].peer, &m);
	if (rc)
		l->lost = 0;
	if (rc == 0)
		rc = drive_until(j, acked, "end of the job from shard 0");
	l->ended = true;
	return rc ? rc : pn_shard_link_check(j);
}

void pn_shard_link_stop_msg(const pn_job *j, int rc, pn_job_msg *stop)
{
	*stop = (pn_job_msg){.type = PN_MSG_STOP};
	if (!j->link || rc == 0 || rc == -EINTR)
		return;
	stop->status = -ECONNRESET;
	stop->shard = (uint32_t)(j->link->lost < 0 ? j->link->k : j->link->k == 0 ? j->link->lost : 0);
}

void pn_shard_link_close(pn_job *j)
{
	pn_shard_link *l = j->link;
	if (!l)
		return;
	l->ended = true;
	free(l->statuses);
	free(l->grams);
	free(l);
	j->link = NULL; /* the regions go with the transport */
}
