/* The worker session's plumbing: one pump of the transport (queueing what the aggregator
 * sent, our heartbeat, the silence limit), sending, and blocking reads that keep pumping.
 * Every completion a worker sees comes from an aggregator shard (one, unsharded). */
#include "job/session_worker.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int pn_sess_fail(pn_session *s, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	fprintf(stderr, "pennant-worker %d: %s\n", s->rank, s->err);
	return rc;
}

const char *pn_sess_who(const pn_session *s, int k, char *buf, size_t len)
{
	if (s->nshards <= 1)
		return "the aggregator";
	snprintf(buf, len, "aggregator shard %d (%s)", k, s->sh[k].addr);
	return buf;
}

int pn_sess_shard_of(const pn_session *s, const pn_tp_peer *p)
{
	for (int k = 0; k < s->nshards; k++)
		if (s->sh[k].peer && s->sh[k].peer == p)
			return k;
	return -1;
}

static int send_to(pn_session *s, int k, const uint8_t *buf, size_t len)
{
	s->sh[k].last_sent = pn_now_s();
	int rc = pn_tp_send_ctrl(s->sh[k].peer, buf, len);
	if (rc) {
		char who[320];
		pn_sess_fail(s, rc, "send to %s: %s", pn_sess_who(s, k, who, sizeof who), pn_tp_errmsg(s->ctx));
	}
	return rc;
}

int pn_sess_send(pn_session *s, const pn_job_msg *m)
{
	uint8_t buf[PN_TP_CTRL_MAX];
	size_t len = pn_job_msg_pack(m, buf);
	int rc = 0;
	for (int k = 0; k < s->nshards && rc == 0; k++)
		if (s->sh[k].peer)
			rc = send_to(s, k, buf, len);
	if (rc && pn_sess_can_fail_over(s)) /* (what we sent is lost with the node) */
		return pn_sess_fail_over(s, "a send to it failed");
	return rc;
}

void pn_sess_queue_remove(pn_session *s, int k)
{
	memmove(&s->q[k], &s->q[k + 1], (size_t)(s->qn - k - 1) * sizeof s->q[0]);
	s->qn--;
}

static void enqueue(pn_session *s, const pn_job_msg *m)
{
	if (s->qn == PN_SESSION_QUEUE) {
		/* a worker this far behind skips to the newest round anyway (and resyncs) */
		if (s->verbose || s->dropped == 0)
			fprintf(stderr, "pennant-worker %d: fell behind: dropped the unread message of "
				"round %lld (queue full)%s\n", s->rank, (long long)s->q[0].round,
				s->verbose ? "" : " (said once)");
		s->dropped++;
		pn_sess_queue_remove(s, 0);
	}
	s->q[s->qn++] = *m;
}

/* Shard k's WELCOME: it must be the k-th of our K shards, and its range must start where
 * shard k-1's ended (shards are joined in order), the last one ending at d. */
static int check_shard_welcome(pn_session *s, int k, const pn_job_msg *m, const char *who)
{
	size_t lo = k == 0 ? 0 : s->sh[k - 1].hi;
	if (m->shards != (uint32_t)s->nshards || m->shard != (uint32_t)k)
		return pn_sess_fail(s, -EINVAL, "%s says it is shard %u of %u; we were given %d address(es) "
				    "and it is number %d", who, m->shard, m->shards, s->nshards, k);
	if (m->lo != lo || (k == s->nshards - 1 && m->hi != s->d))
		return pn_sess_fail(s, -EINVAL, "%s owns [%llu, %llu), which does not continue the shards "
				    "before it at %zu (d = %zu)", who, (unsigned long long)m->lo,
				    (unsigned long long)m->hi, lo, s->d);
	if (k > 0 && (m->n != (uint32_t)s->n || m->serve != s->serve))
		return pn_sess_fail(s, -EINVAL, "%s disagrees with shard 0 on the job (n %u, serve %u)", who,
				    m->n, m->serve);
	if (s->nshards > 1 && m->serve != PN_SERVE_MODEL)
		return pn_sess_fail(s, -EINVAL, "%s serves gradients: a sharded job serves the model", who);
	if (s->nshards > 1 && m->comm_dim != 1)
		return pn_sess_fail(s, -EINVAL, "%s runs a comm-efficient code (m = %u): a sharded job "
				    "sends whole gradients", who, m->comm_dim);
	return 0;
}

static int on_welcome(pn_session *s, int k, const pn_job_msg *m)
{
	pn_sess_shard *sh = &s->sh[k];
	if (sh->welcomed)
		return 0; /* a repeat changes nothing */
	char who[320];
	pn_sess_who(s, k, who, sizeof who);
	if (m->d != s->d)
		return pn_sess_fail(s, -EINVAL, "%s's model has %llu parameters, ours %zu", who,
				    (unsigned long long)m->d, s->d);
	int rc = check_shard_welcome(s, k, m, who);
	if (rc == 0 && k == 0)
		rc = pn_sess_adopt_code(s, m);
	if (rc)
		return rc;
	sh->model_desc = m->region;
	sh->lo = m->lo;
	sh->hi = m->hi;
	if (k == 0) {
		s->result_desc = m->result;
		s->serve = (pn_serve)m->serve;
		s->n = (int)m->n;
		s->heartbeat_s = m->heartbeat_ms / 1e3;
		s->silence_s = (s->silence_override_ms > 0 ? (uint32_t)s->silence_override_ms : m->silence_ms) / 1e3;
	}
	sh->last_heard = pn_now_s();
	sh->welcomed = true;
	s->welcomed = k == s->nshards - 1;
	return 0;
}

int pn_sess_on_ctrl(pn_session *s, const pn_tp_completion *c)
{
	pn_job_msg m;
	int k = pn_sess_shard_of(s, c->peer);
	if (k < 0 || pn_job_msg_unpack(c->data, c->len, &m) != 0) {
		fprintf(stderr, "pennant-worker %d: dropped a malformed control message\n", s->rank);
		return 0;
	}
	char who[320];
	switch (m.type) {
	case PN_MSG_WELCOME:
		return on_welcome(s, k, &m);
	case PN_MSG_STOP:
		if (m.status != 0) /* a shard was lost: the job ends without a whole model */
			return pn_sess_fail(s, -ECONNRESET, "%s ended the job: aggregator shard %u is gone",
					    pn_sess_who(s, k, who, sizeof who), m.shard);
		s->stopped = true;
		enqueue(s, &m);
		return 0;
	case PN_MSG_ROUND:
	case PN_MSG_RESULT:
		m.shard = (uint32_t)k; /* which shard announced it (take_round waits for all) */
		if (s->sh[k].welcomed)
			enqueue(s, &m);
		return 0;
	default: /* PING: hearing it is the point; nothing else is for a worker */
		return 0;
	}
}

static void on_read_done(pn_session *s, const pn_tp_completion *c)
{
	if (c->cookie < s->read_seq || c->cookie >= s->read_seq + (uint64_t)s->reads_posted)
		return; /* an abandoned batch's */
	s->reads_left--;
	if (c->status != 0)
		s->read_status = c->status;
}

/* Silence, and our own PINGs, judged per shard. */
static int liveness(pn_session *s, double now, bool drained)
{
	char who[320];
	for (int k = 0; k < s->nshards; k++) {
		pn_sess_shard *sh = &s->sh[k];
		if (drained && now - sh->last_heard >= s->silence_s) {
			/* (drained: nothing queued behind, so the silence is real) */
			if (pn_sess_can_fail_over(s))
				return pn_sess_fail_over(s, "silent past the limit");
			s->gone = true;
			return pn_sess_fail(s, -ETIMEDOUT,
					    "nothing from %s for %.1f s (limit %.1f s): it is gone, exiting",
					    pn_sess_who(s, k, who, sizeof who), now - sh->last_heard, s->silence_s);
		}
		if (!s->stopped && now - sh->last_sent >= s->heartbeat_s) {
			uint8_t buf[PN_TP_CTRL_MAX];
			send_to(s, k, buf, pn_job_msg_pack(&(pn_job_msg){.type = PN_MSG_PING}, buf));
			/* (a failed PING shows as the peer going down) */
		}
	}
	return 0;
}

bool pn_session_owns(const pn_session *s, const pn_tp_completion *c)
{
	return pn_sess_shard_of(s, c->peer) >= 0;
}

int pn_sess_poll(pn_session *s, pn_tp_completion *c, int max, int timeout_ms)
{
	int n = pn_tp_poll(s->ctx, c, max, timeout_ms);
	if (n <= 0 || !s->ctx_shared)
		return n;
	int kept = 0;
	for (int k = 0; k < n; k++) {
		if (pn_session_owns(s, &c[k]))
			c[kept++] = c[k];
		else if (s->foreign)
			s->foreign(s->foreign_arg, &c[k]);
	}
	return kept;
}

/* The session's own completions: messages, its reads, its aggregators going down. */
static int dispatch(pn_session *s, const pn_tp_completion *c, int n, bool full)
{
	double now = pn_now_s();
	int rc = 0, down = -1;
	for (int k = 0; k < n; k++) {
		int from = pn_sess_shard_of(s, c[k].peer);
		if (from >= 0)
			s->sh[from].last_heard = now;
		switch (c[k].event) {
		case PN_TP_CTRL_RECV:
			if (rc == 0)
				rc = pn_sess_on_ctrl(s, &c[k]);
			break;
		case PN_TP_READ_DONE:
			on_read_done(s, &c[k]);
			break;
		case PN_TP_PEER_DOWN:
			if (from >= 0 && down < 0)
				down = from;
			break;
		}
	}
	if (rc)
		return rc;
	if (down >= 0 && !s->stopped && pn_sess_can_fail_over(s))
		return pn_sess_fail_over(s, "went away without STOP");
	if (down >= 0) {
		s->gone = true;
		char who[320];
		return s->stopped ? 0 : pn_sess_fail(s, -ECONNRESET, "%s went away without STOP",
						      pn_sess_who(s, down, who, sizeof who));
	}
	if (!s->welcomed)
		return 0;
	return liveness(s, now, !full);
}

int pn_sess_pump(pn_session *s, int timeout_ms)
{
	if (s->gone)
		return s->stopped ? 0 : -ECONNRESET;
	pn_tp_completion c[16];
	int n = pn_sess_poll(s, c, 16, timeout_ms);
	if (n < 0)
		return pn_sess_fail(s, n, "poll: %s", pn_tp_errmsg(s->ctx));
	return dispatch(s, c, n, n == 16);
}

int pn_session_deliver(pn_session *s, const pn_tp_completion *c, int n)
{
	if (s->gone)
		return s->stopped ? 0 : -ECONNRESET;
	return dispatch(s, c, n, false);
}

int pn_sess_slice_ms(const pn_session *s, double deadline)
{
	double ms = s->welcomed ? fmin(200, s->heartbeat_s * 500) : 100;
	if (deadline >= 0)
		ms = fmin(ms, fmax(0, (deadline - pn_now_s()) * 1e3));
	return (int)ms;
}

/* One read of a batch from shard k. */
typedef struct sess_read {
	int shard;
	pn_tp_mr *mr;
	size_t local_off;
	const pn_mr_desc *desc;
	uint64_t off;
	size_t len;
} sess_read;

/* Posts the batch (all in flight at once) and pumps until every read landed. */
static int read_batch(pn_session *s, const sess_read *r, int nr)
{
	s->read_seq += (uint64_t)s->reads_posted; /* a fresh cookie range */
	s->reads_posted = s->reads_left = 0;
	s->read_status = 0;
	int rc = 0;
	char who[320];
	for (int i = 0; i < nr && rc == 0; i++) {
		while ((rc = pn_tp_post_read(s->sh[r[i].shard].peer, r[i].mr, r[i].local_off, r[i].desc,
					     r[i].off, r[i].len, s->read_seq + (uint64_t)i)) == -EAGAIN)
			if ((rc = pn_sess_pump(s, 1)) != 0)
				return rc; /* let the send queue drain */
		if (rc)
			return pn_sess_fail(s, rc, "reading from %s: %s",
					    pn_sess_who(s, r[i].shard, who, sizeof who), pn_tp_errmsg(s->ctx));
		s->reads_posted++;
		s->reads_left++;
	}
	while (s->reads_left > 0) {
		if ((rc = pn_sess_pump(s, pn_sess_slice_ms(s, -1))) != 0)
			return rc;
		if (s->gone)
			return pn_sess_fail(s, -ECONNRESET, "the aggregator left while we read from it");
	}
	if (s->read_status != 0)
		return pn_sess_fail(s, -EIO, "read from the aggregator failed: %d", s->read_status);
	return 0;
}

int pn_sess_read(pn_session *s, pn_tp_mr *mr, const pn_mr_desc *desc, uint64_t off, size_t len)
{
	sess_read r = {.shard = 0, .mr = mr, .desc = desc, .off = off, .len = len};
	return read_batch(s, &r, 1);
}

int pn_sess_read_model(pn_session *s, uint32_t slot)
{
	sess_read r[PN_SHARD_MAX];
	for (int k = 0; k < s->nshards; k++) {
		size_t len = s->sh[k].hi - s->sh[k].lo;
		r[k] = (sess_read){.shard = k, .mr = s->model_mr, .local_off = s->sh[k].lo * sizeof(float),
				   .desc = &s->sh[k].model_desc, .off = (uint64_t)slot * len * sizeof(float),
				   .len = len * sizeof(float)};
	}
	return read_batch(s, r, s->nshards);
}
