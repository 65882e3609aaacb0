/* The worker role: expose a double-buffered gradient region (remote-READ only), pull
 * each round's model from the aggregator, compute the coded gradient, say READY.
 * Reads of the gradient are served by the transport (the NIC for verbs, the backend's
 * responder for dpdk/tcp) while this thread computes the next round. */
#include "job/faults.h"
#include "job/parity.h"
#include "job/proto.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct worker {
	const pn_worker_config *cfg;
	const pn_grad_source *src;
	pn_tp_ctx *ctx;
	pn_tp_peer *agg;
	pn_tp_mr *grad_mr, *model_mr;
	float *grad, *model;     /* grad: 2 slots of d floats */
	size_t d;
	pn_mr_desc model_desc;
	bool welcomed;
	int n;                   /* workers in the job (from WELCOME) */
	pn_job_msg pending;      /* ROUND whose model read is in flight */
	bool reading;
	pn_fault_state fst;
	/* liveness: the aggregator's heartbeat and silence limit (from WELCOME) */
	double heartbeat_s, silence_s, last_heard, last_sent;
} worker;

static void sleep_ms(double ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int send_msg(worker *w, const pn_job_msg *m)
{
	uint8_t buf[PN_TP_CTRL_MAX];
	size_t len = pn_job_msg_pack(m, buf);
	w->last_sent = pn_now_s();
	return pn_tp_send_ctrl(w->agg, buf, len);
}

/* Our side of the heartbeat: PING when we have said nothing for a heartbeat period. */
static void keep_alive(worker *w)
{
	if (w->welcomed && pn_now_s() - w->last_sent >= w->heartbeat_s) {
		pn_job_msg ping = {.type = PN_MSG_PING};
		send_msg(w, &ping);
	}
}

/* A fault-injection delay, keeping our heartbeat going (it stands for a slow
 * computation, not for a dead worker). */
static void delay_ms(worker *w, double ms)
{
	double until = pn_now_s() + ms / 1e3;
	for (double left = ms / 1e3; left > 0; left = until - pn_now_s()) {
		sleep_ms(1e3 * fmin(left, w->heartbeat_s / 2));
		keep_alive(w);
	}
}

static int start_round(worker *w, const pn_job_msg *m)
{
	if (w->cfg->faults.exit_at_round >= 0 && m->round >= w->cfg->faults.exit_at_round) {
		fprintf(stderr, "pennant-worker %d: exiting abruptly at round %lld (fault injection)\n",
			w->cfg->rank, (long long)m->round);
		_exit(3);
	}
	w->pending = *m;
	w->reading = true;
	int rc;
	while ((rc = pn_tp_post_read(w->agg, w->model_mr, 0, &w->model_desc,
				     (uint64_t)m->slot * w->d * sizeof(float), w->d * sizeof(float),
				     (uint64_t)m->round)) == -EAGAIN) {
		pn_tp_completion c[4];
		pn_tp_poll(w->ctx, c, 4, 1); /* let the send queue drain; nothing else is expected */
	}
	return rc;
}

/* The model landed: compute into the round's slot, corrupt if Byzantine, say READY. */
static int finish_round(worker *w)
{
	const pn_job_msg *m = &w->pending;
	w->reading = false;
	uint32_t slot = pn_job_slot(m->round);
	float *out = w->grad + (size_t)slot * w->d;
	double t0 = pn_now_s(), loss = 0;
	int st = w->src->compute(w->src->ctx, (uint64_t)m->round, w->model, m->parts, m->coefs,
				 m->nparts, out, &loss);
	if (st == 0) {
		/* colluding attacks (ALIE, IPM, mimic) compute the honest gradients themselves */
		const pn_faults *f = &w->cfg->faults;
		st = pn_faults_corrupt_job(f, &w->fst, out, w->d, w->src, (uint64_t)m->round, w->model,
					   m->coefs, m->nparts, w->n, f->colluders > 0 ? f->colluders : 1);
	}
	delay_ms(w, pn_faults_delay_ms(&w->cfg->faults, &w->fst));
	pn_job_msg r = {.type = PN_MSG_READY, .round = m->round, .slot = slot, .status = st,
			.loss = loss, .compute_s = pn_now_s() - t0};
	return send_msg(w, &r);
}

static int handle_ctrl(worker *w, const pn_tp_completion *c, bool *stop)
{
	pn_job_msg m;
	if (pn_job_msg_unpack(c->data, c->len, &m) != 0) {
		fprintf(stderr, "pennant-worker %d: dropped a malformed control message\n", w->cfg->rank);
		return 0;
	}
	switch (m.type) {
	case PN_MSG_WELCOME:
		if (m.d != w->d) {
			fprintf(stderr, "pennant-worker %d: aggregator's model has %llu parameters, ours %zu\n",
				w->cfg->rank, (unsigned long long)m.d, w->d);
			return -EINVAL;
		}
		w->model_desc = m.region;
		w->welcomed = true;
		w->n = (int)m.n;
		w->heartbeat_s = m.heartbeat_ms / 1e3;
		w->silence_s = (w->cfg->silence_ms > 0 ? (uint32_t)w->cfg->silence_ms : m.silence_ms) / 1e3;
		return 0;
	case PN_MSG_ROUND:
		if (!w->welcomed || w->reading)
			return 0; /* protocol slip: the aggregator resends next round */
		return start_round(w, &m);
	case PN_MSG_STOP:
		*stop = true;
		return 0;
	default: /* PING: hearing it is the point */
		return 0;
	}
}

/* Connect, say HELLO, wait for WELCOME. */
static int join(worker *w)
{
	const pn_worker_config *cfg = w->cfg;
	double limit = (cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 30000) / 1e3;
	double t0 = pn_now_s();
	int rc = -ETIMEDOUT;
	for (int attempt = 1; pn_now_s() - t0 < limit; attempt++) {
		if (attempt > 1)
			sleep_ms(50.0 * (attempt < 10 ? attempt : 10));
		double left = limit - (pn_now_s() - t0);
		rc = pn_tp_connect(w->ctx, cfg->connect, &w->agg, left > 0.001 ? (int)(left * 1e3) : 1);
		if (rc == -EPERM || rc == -EACCES || rc == -ECONNREFUSED) {
			fprintf(stderr, "pennant-worker %d: %s refused us: %s\n", cfg->rank, cfg->connect,
				pn_tp_errmsg(w->ctx));
			return rc;
		}
		if (rc) {
			if (cfg->verbose)
				fprintf(stderr, "pennant-worker %d: connect %s: %s (retrying)\n", cfg->rank,
					cfg->connect, pn_tp_errmsg(w->ctx));
			continue;
		}
		pn_job_msg hello = {.type = PN_MSG_HELLO, .rank = (uint32_t)cfg->rank, .d = w->d};
		pn_tp_mr_get_desc(w->grad_mr, &hello.region);
		rc = send_msg(w, &hello);
		double until = pn_now_s() + fmin(10.0, limit);
		bool lost = rc != 0;
		while (!lost && !w->welcomed && pn_now_s() < until) {
			pn_tp_completion c[16];
			int n = pn_tp_poll(w->ctx, c, 16, 100);
			for (int k = 0; k < n; k++) {
				if (c[k].event == PN_TP_PEER_DOWN) {
					lost = true;
				} else if (c[k].event == PN_TP_CTRL_RECV) {
					bool stop = false;
					if ((rc = handle_ctrl(w, &c[k], &stop)) != 0)
						return rc; /* e.g. a model of another size: retrying won't help */
				}
			}
		}
		if (w->welcomed)
			return 0;
		fprintf(stderr, "pennant-worker %d: no WELCOME from %s (attempt %d), reconnecting\n",
			cfg->rank, cfg->connect, attempt);
		pn_tp_disconnect(w->agg);
		w->agg = NULL;
		rc = -ETIMEDOUT;
	}
	fprintf(stderr, "pennant-worker %d: could not join %s within %.0f s\n", cfg->rank, cfg->connect,
		limit);
	return rc;
}

int pn_worker_run(const pn_worker_config *cfg, const pn_grad_source *src)
{
	worker w = {.cfg = cfg, .src = src, .d = src->d};
	char err[512];
	int rc = 0;
	pn_faults_init_state(&w.fst, &cfg->faults);
	w.ctx = pn_tp_open(&cfg->tp, err, sizeof err);
	if (!w.ctx) {
		fprintf(stderr, "pennant-worker %d: %s\n", cfg->rank, err);
		return -EIO;
	}
	void *gbuf, *mbuf;
	if ((rc = pn_tp_alloc(w.ctx, 2 * w.d * sizeof(float), PN_ACCESS_REMOTE_READ, &gbuf, &w.grad_mr)) ||
	    (rc = pn_tp_alloc(w.ctx, w.d * sizeof(float), PN_ACCESS_LOCAL_WRITE, &mbuf, &w.model_mr))) {
		fprintf(stderr, "pennant-worker %d: cannot allocate registered memory: %s\n", cfg->rank,
			pn_tp_errmsg(w.ctx));
		goto out;
	}
	w.grad = gbuf;
	w.model = mbuf;
	memset(w.grad, 0, 2 * w.d * sizeof(float));
	/* The aggregator may not be up yet, or may drop a connection before it has taken
	 * our HELLO (seen under load): keep trying until WELCOME, within the timeout, but
	 * never past a refusal of our token. */
	if ((rc = join(&w)) != 0)
		goto out;
	bool stop = false;
	w.last_heard = pn_now_s();
	while (!stop) {
		pn_tp_completion c[16];
		int n = pn_tp_poll(w.ctx, c, 16, (int)fmin(200, w.heartbeat_s * 500));
		double now = pn_now_s();
		if (n > 0)
			w.last_heard = now; /* every completion here comes from the aggregator */
		if (n < 16 && now - w.last_heard >= w.silence_s) {
			/* (n < 16: nothing queued behind, so the silence is real) */
			fprintf(stderr,
				"pennant-worker %d: nothing from the aggregator for %.1f s (limit %.1f s): "
				"it is gone, exiting\n", cfg->rank, now - w.last_heard, w.silence_s);
			rc = -ETIMEDOUT;
			break;
		}
		keep_alive(&w);
		if (n < 0) {
			rc = n;
			fprintf(stderr, "pennant-worker %d: poll: %s\n", cfg->rank, pn_tp_errmsg(w.ctx));
			break;
		}
		for (int k = 0; k < n && !stop && rc == 0; k++) {
			switch (c[k].event) {
			case PN_TP_CTRL_RECV:
				rc = handle_ctrl(&w, &c[k], &stop);
				break;
			case PN_TP_READ_DONE:
				if (c[k].status != 0) {
					fprintf(stderr, "pennant-worker %d: model read failed: %d\n", cfg->rank,
						c[k].status);
					w.reading = false; /* wait for the next ROUND */
				} else if (w.reading && c[k].cookie == (uint64_t)w.pending.round) {
					rc = finish_round(&w);
				}
				break;
			case PN_TP_PEER_DOWN:
				fprintf(stderr, "pennant-worker %d: aggregator went away without STOP\n", cfg->rank);
				rc = -ECONNRESET;
				stop = true;
				break;
			}
		}
		if (rc)
			break;
	}
	/* Leave after the aggregator: a DPDK memif server polling a client that vanished
	 * can crash, so give it a moment to close its side first. */
	if (stop && rc == 0) {
		double t_end = pn_now_s() + 2.0;
		bool down = false;
		while (!down && pn_now_s() < t_end) {
			pn_tp_completion c[16];
			int n = pn_tp_poll(w.ctx, c, 16, 50);
			for (int k = 0; k < n; k++)
				down |= c[k].event == PN_TP_PEER_DOWN;
		}
	}
out:
	if (rc && cfg->verbose)
		fprintf(stderr, "pennant-worker %d: stopping: %s\n", cfg->rank, strerror(-rc));
	pn_tp_close(w.ctx); /* frees registered memory */
	return rc;
}
