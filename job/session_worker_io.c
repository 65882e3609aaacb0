/* The worker session's plumbing: one pump of the transport (queueing what the aggregator
 * sent, our heartbeat, the silence limit), sending, and blocking reads that keep pumping.
 * Every completion a worker sees comes from its one peer, the aggregator. */
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

int pn_sess_send(pn_session *s, const pn_job_msg *m)
{
	uint8_t buf[PN_TP_CTRL_MAX];
	size_t len = pn_job_msg_pack(m, buf);
	s->last_sent = pn_now_s();
	int rc = pn_tp_send_ctrl(s->agg, buf, len);
	if (rc)
		pn_sess_fail(s, rc, "send to the aggregator: %s", pn_tp_errmsg(s->ctx));
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

static int on_welcome(pn_session *s, const pn_job_msg *m)
{
	if (s->welcomed)
		return 0; /* a repeat changes nothing */
	if (m->d != s->d)
		return pn_sess_fail(s, -EINVAL, "aggregator's model has %llu parameters, ours %zu",
				    (unsigned long long)m->d, s->d);
	int rc = pn_sess_adopt_code(s, m);
	if (rc)
		return rc;
	s->model_desc = m->region;
	s->result_desc = m->result;
	s->serve = (pn_serve)m->serve;
	s->n = (int)m->n;
	s->heartbeat_s = m->heartbeat_ms / 1e3;
	s->silence_s = (s->silence_override_ms > 0 ? (uint32_t)s->silence_override_ms : m->silence_ms) / 1e3;
	s->last_heard = pn_now_s();
	s->welcomed = true;
	return 0;
}

int pn_sess_on_ctrl(pn_session *s, const pn_tp_completion *c)
{
	pn_job_msg m;
	if (pn_job_msg_unpack(c->data, c->len, &m) != 0) {
		fprintf(stderr, "pennant-worker %d: dropped a malformed control message\n", s->rank);
		return 0;
	}
	switch (m.type) {
	case PN_MSG_WELCOME:
		return on_welcome(s, &m);
	case PN_MSG_STOP:
		s->stopped = true;
		enqueue(s, &m);
		return 0;
	case PN_MSG_ROUND:
	case PN_MSG_RESULT:
		if (s->welcomed)
			enqueue(s, &m);
		return 0;
	default: /* PING: hearing it is the point; nothing else is for a worker */
		return 0;
	}
}

int pn_sess_pump(pn_session *s, int timeout_ms)
{
	if (s->gone)
		return s->stopped ? 0 : -ECONNRESET;
	pn_tp_completion c[16];
	int n = pn_tp_poll(s->ctx, c, 16, timeout_ms);
	double now = pn_now_s();
	if (n < 0)
		return pn_sess_fail(s, n, "poll: %s", pn_tp_errmsg(s->ctx));
	if (n > 0)
		s->last_heard = now;
	int rc = 0;
	for (int k = 0; k < n; k++) {
		switch (c[k].event) {
		case PN_TP_CTRL_RECV:
			if (rc == 0)
				rc = pn_sess_on_ctrl(s, &c[k]);
			break;
		case PN_TP_READ_DONE:
			if (c[k].cookie == s->read_seq) {
				s->read_done = true;
				s->read_status = c[k].status;
			}
			break;
		case PN_TP_PEER_DOWN:
			s->gone = true;
			break;
		}
	}
	if (rc)
		return rc;
	if (s->gone)
		return s->stopped ? 0 : pn_sess_fail(s, -ECONNRESET, "aggregator went away without STOP");
	if (!s->welcomed)
		return 0;
	if (n < 16 && now - s->last_heard >= s->silence_s) {
		/* (n < 16: nothing queued behind, so the silence is real) */
		s->gone = true;
		return pn_sess_fail(s, -ETIMEDOUT,
				    "nothing from the aggregator for %.1f s (limit %.1f s): it is gone, exiting",
				    now - s->last_heard, s->silence_s);
	}
	if (!s->stopped && now - s->last_sent >= s->heartbeat_s) {
		pn_job_msg ping = {.type = PN_MSG_PING};
		pn_sess_send(s, &ping); /* a failed PING shows as the peer going down */
	}
	return 0;
}

int pn_sess_slice_ms(const pn_session *s, double deadline)
{
	double ms = s->welcomed ? fmin(200, s->heartbeat_s * 500) : 100;
	if (deadline >= 0)
		ms = fmin(ms, fmax(0, (deadline - pn_now_s()) * 1e3));
	return (int)ms;
}

int pn_sess_read(pn_session *s, pn_tp_mr *mr, const pn_mr_desc *desc, uint64_t off, size_t len)
{
	s->read_seq++;
	s->read_done = false;
	int rc;
	while ((rc = pn_tp_post_read(s->agg, mr, 0, desc, off, len, s->read_seq)) == -EAGAIN)
		if ((rc = pn_sess_pump(s, 1)) != 0)
			return rc; /* let the send queue drain */
	if (rc)
		return pn_sess_fail(s, rc, "reading from the aggregator: %s", pn_tp_errmsg(s->ctx));
	while (!s->read_done) {
		if ((rc = pn_sess_pump(s, pn_sess_slice_ms(s, -1))) != 0)
			return rc;
		if (s->gone)
			return pn_sess_fail(s, -ECONNRESET, "the aggregator left while we read from it");
	}
	if (s->read_status != 0)
		return pn_sess_fail(s, -EIO, "read from the aggregator failed: %d", s->read_status);
	return 0;
}
