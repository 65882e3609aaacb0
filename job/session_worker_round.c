/* The worker session's rounds (include/pennant/session.h): begin (ROUND, and the model
 * read), the gradient slot, submit (READY), wait (RESULT and the aggregate's read, or
 * the next model), poll. Messages are taken from the session's queue in arrival order. */
#include "job/parity.h"
#include "job/session_worker.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* One more pump unless the caller's deadline has passed. */
static int pump_until(pn_session *s, double deadline, const char *what)
{
	if (deadline >= 0 && pn_now_s() >= deadline) {
		snprintf(s->err, sizeof s->err, "no %s within the caller's timeout", what);
		return -ETIMEDOUT;
	}
	int rc = pn_sess_pump(s, pn_sess_slice_ms(s, deadline));
	if (rc == 0 && s->gone && !s->stopped)
		rc = pn_sess_fail(s, -ECONNRESET, "aggregator went away without STOP");
	return rc;
}

static double deadline_of(int timeout_ms)
{
	return timeout_ms >= 0 ? pn_now_s() + timeout_ms / 1e3 : -1;
}

static bool stop_queued(const pn_session *s)
{
	for (int k = 0; k < s->qn; k++)
		if (s->q[k].type == PN_MSG_STOP)
			return true;
	return false;
}

/* Whether every shard has announced round v. */
static bool announced_by_all(const pn_session *s, int64_t v)
{
	uint64_t seen = 0;
	for (int k = 0; k < s->qn; k++)
		if (s->q[k].type == PN_MSG_ROUND && s->q[k].round == v)
			seen |= 1ull << s->q[k].shard;
	return seen == (s->nshards == 64 ? ~0ull : (1ull << s->nshards) - 1);
}

/* Takes the round to begin out of the queue: the newest one every shard announced (older
 * ones are closed; shard 0's ROUND is the one kept, every shard sends the same code row).
 * Stale ROUNDs and RESULTs before it go. */
static bool take_round(pn_session *s, pn_job_msg *m)
{
	int pick = -1;
	for (int k = 0; k < s->qn; k++) {
		const pn_job_msg *q = &s->q[k];
		bool old = s->have_round && (s->retake ? q->round < s->cur.round : q->round <= s->cur.round);
		if (q->type != PN_MSG_ROUND || q->shard != 0 || old || !announced_by_all(s, q->round))
			continue;
		pick = k;
	}
	if (pick < 0)
		return false;
	*m = s->q[pick];
	s->retake = false;
	for (int k = s->qn - 1; k >= 0; k--)
		if ((s->q[k].type == PN_MSG_ROUND && s->q[k].round <= m->round) ||
		    (s->q[k].type == PN_MSG_RESULT && s->q[k].round < m->round))
			pn_sess_queue_remove(s, k);
	return true;
}

/* The newest ROUND queued, pumping the transport until one comes: 0 and *m,
 * PN_SESSION_STOPPED once STOP is queued, or the pump's error (timeout, peer gone). */
static int next_round(pn_session *s, pn_job_msg *m, double deadline, const char *what)
{
	for (;;) {
		if (stop_queued(s))
			return PN_SESSION_STOPPED;
		if (take_round(s, m))
			return 0;
		int rc = pump_until(s, deadline, what);
		if (rc)
			return rc;
	}
}

int pn_session_begin(pn_session *s, pn_session_round *r, float *model, int timeout_ms)
{
	if (s->phase == PHASE_BEGUN)
		return pn_sess_fail(s, -EPROTO, "begin called again before submit (round %lld is begun)",
				    (long long)s->cur.round);
	s->phase = PHASE_IDLE; /* a result not waited for is dropped (take_round) */
	double deadline = deadline_of(timeout_ms);
	pn_job_msg m;
	bool read = false;
	if (s->prefetched) {
		m = s->next;
		s->prefetched = false;
		read = true;
	}
	for (;;) {
		if (!read) {
			int rc = next_round(s, &m, deadline, "round announcement");
			if (rc)
				return rc;
		}
		/* serving gradients: a missed result means our model is not the others' */
		bool resync = s->serve == PN_SERVE_GRADIENT &&
			      (!s->model_read_once || s->behind || m.round > s->waited + 1);
		bool want = s->serve == PN_SERVE_MODEL || resync;
		if (want && !read) {
			int rc = pn_sess_read_model(s, m.slot);
			if (rc == -EIO)
				continue; /* said; the next ROUND will come */
			if (rc)
				return rc;
		}
		if (want && model)
			memcpy(model, s->model, s->d * sizeof(float));
		if (resync && s->model_read_once && s->verbose)
			fprintf(stderr, "pennant-worker %d: missed results before round %lld: took the "
				"aggregator's model\n", s->rank, (long long)m.round);
		s->model_read_once = true;
		s->behind = false;
		if (r)
			r->resync = resync;
		break;
	}
	s->cur = m;
	s->have_round = true;
	s->phase = PHASE_BEGUN;
	s->t_begun = pn_now_s();
	if (r) {
		bool resync = r->resync;
		memset(r, 0, sizeof *r);
		r->resync = resync;
		r->round = m.round;
		r->n = s->n;
		r->serve = s->serve;
		r->nparts = m.nparts;
		r->comm_dim = s->comm_dim;
		memcpy(r->parts, m.parts, sizeof r->parts);
		memcpy(r->coefs, m.coefs, sizeof r->coefs);
		if (s->comm_dim > 1) /* no one coefficient per partition: a caller using them sends NaN */
			for (int k = 0; k < PN_JOB_MAX_PARTS; k++)
				r->coefs[k] = NAN;
	}
	return 0;
}

float *pn_session_gradient(pn_session *s)
{
	if (!s->have_round)
		return NULL;
	return s->wire ? s->grad : s->grad + (size_t)pn_job_slot(s->cur.round) * s->slot_len;
}

int pn_session_submit(pn_session *s, double loss, int status)
{
	if (s->phase != PHASE_BEGUN)
		return pn_sess_fail(s, -EPROTO, "submit without a round begun");
	if (status > 0 || status < -4095)
		return pn_sess_fail(s, -EINVAL, "submit: status %d is not 0 or a negative errno", status);
	if (s->wire) /* the one conversion the half format forces: float32 → the registered slot */
		pn_f32_to_half(s->dtype, s->wire + (size_t)pn_job_slot(s->cur.round) * s->slot_len, s->grad,
			       s->slot_len);
	pn_job_msg ready = {.type = PN_MSG_READY, .round = s->cur.round, .slot = pn_job_slot(s->cur.round),
			    .status = status, .loss = isinf(loss) ? NAN : loss,
			    .compute_s = pn_now_s() - s->t_begun};
	bool to_root = s->failed_over; /* (a send that fails over reaches no one) */
	int rc = pn_sess_send(s, &ready);
	if (rc == 0 && to_root)
		s->retake = false; /* the root has our READY of this round */
	if (rc == 0)
		s->phase = PHASE_SUBMITTED;
	return rc;
}

int pn_session_progress(pn_session *s, size_t elements)
{
	if (s->phase != PHASE_BEGUN)
		return pn_sess_fail(s, -EPROTO, "progress without a round begun (or after submit)");
	if (s->wire)
		return pn_sess_fail(s, -ENOTSUP, "progress: a bf16/f16 slot is converted only at submit");
	if (elements > s->slot_len)
		return pn_sess_fail(s, -EINVAL, "progress: %zu elements of a %zu-element slot", elements,
				    s->slot_len);
	pn_job_msg m = {.type = PN_MSG_PROGRESS, .round = s->cur.round, .slot = pn_job_slot(s->cur.round),
			.d = elements};
	return pn_sess_send(s, &m);
}

/* Serving gradients: RESULT(v) → READ the aggregate, check it, RESULT_ACK. */
static int wait_gradient(pn_session *s, float *out, double deadline)
{
	int64_t v = s->cur.round;
	pn_job_msg m;
	for (;;) {
		int found = -1;
		for (int k = 0; k < s->qn && found < 0; k++) {
			const pn_job_msg *q = &s->q[k];
			if (q->type == PN_MSG_STOP)
				return PN_SESSION_STOPPED;
			if (q->type == PN_MSG_RESULT && q->round < v)
				pn_sess_queue_remove(s, k--);
			else if (q->type == PN_MSG_RESULT)
				found = k;
		}
		if (found >= 0) {
			m = s->q[found];
			pn_sess_queue_remove(s, found);
			break;
		}
		int rc = pump_until(s, deadline, "result");
		if (rc)
			return rc;
	}
	s->waited = m.round;
	if (m.round != v) {
		s->behind = true;
		return pn_sess_fail(s, -ESTALE, "the aggregator's result is of round %lld, ours %lld",
				    (long long)m.round, (long long)v);
	}
	int rc = 0;
	if (!m.skipped) {
		rc = pn_sess_read(s, s->result_mr, &s->result_desc, (uint64_t)m.slot * s->d * sizeof(float),
				  s->d * sizeof(float));
		if (rc == 0 && pn_job_result_checksum(s->result, s->d) != m.checksum)
			s->behind = true, rc = pn_sess_fail(s, -ESTALE, "the result of round %lld was overwritten while we read it "
					  "(this worker fell two rounds behind)", (long long)v);
		if (rc)
			s->behind = true; /* our model missed this step */
		if (rc && rc != -ESTALE && rc != -EIO)
			return rc; /* the aggregator is gone */
		if (rc == 0 && out)
			memcpy(out, s->result, s->d * sizeof(float));
	}
	pn_job_msg ack = {.type = PN_MSG_RESULT_ACK, .round = v};
	int ack_rc = pn_sess_send(s, &ack);
	if (rc)
		return rc;
	if (ack_rc)
		return ack_rc;
	return m.skipped ? PN_SESSION_SKIPPED : 0;
}

/* Serving the model: the next ROUND's model is round v's result. */
static int wait_model(pn_session *s, float *out, double deadline)
{
	pn_job_msg m;
	for (;;) {
		int rc = next_round(s, &m, deadline, "next model");
		if (rc)
			return rc;
		rc = pn_sess_read_model(s, m.slot);
		if (rc == -EIO)
			continue;
		if (rc)
			return rc;
		break;
	}
	if (out)
		memcpy(out, s->model, s->d * sizeof(float));
	s->next = m;
	s->prefetched = true;
	return 0;
}

int pn_session_wait(pn_session *s, float *out, int timeout_ms)
{
	if (s->phase != PHASE_SUBMITTED)
		return pn_sess_fail(s, -EPROTO, "wait without a round submitted");
	double deadline = deadline_of(timeout_ms);
	int rc = s->serve == PN_SERVE_GRADIENT ? wait_gradient(s, out, deadline) : wait_model(s, out, deadline);
	if (rc != -ETIMEDOUT || s->gone)
		s->phase = PHASE_IDLE; /* a caller's timeout leaves the round waitable */
	return rc;
}

int pn_session_poll(pn_session *s)
{
	int rc = pn_sess_pump(s, 0);
	if (rc == 0 && s->gone && !s->stopped)
		rc = -ECONNRESET;
	return rc ? rc : s->stopped ? PN_SESSION_STOPPED : 0;
}

int pn_session_round_parts(const pn_session *s, int *parts, double *coefs, int max)
{
	if (!s->have_round)
		return -EPROTO;
	for (int k = 0; k < s->cur.nparts && k < max; k++) {
		if (parts)
			parts[k] = s->cur.parts[k];
		if (coefs)
			coefs[k] = s->comm_dim > 1 ? NAN : s->cur.coefs[k];
	}
	return coefs && s->comm_dim > 1 ? -ENOTSUP : s->cur.nparts;
}

int64_t pn_session_round_number(const pn_session *s)
{
	return s->have_round ? s->cur.round : -1;
}
