/* The worker session's life: join (open, register, connect, HELLO until WELCOME), the
 * ctypes-friendly constructors, the accessors, and leave. */
#include "pennant/token.h"
#include "job/session_worker.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(double ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)fmod(ms * 1e6, 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* After HELLO: poll until WELCOME, the connection drops, or `until`. */
static int await_welcome(pn_session *s, double until, bool *lost)
{
	while (!*lost && !s->welcomed && pn_now_s() < until) {
		pn_tp_completion c[16];
		int n = pn_tp_poll(s->ctx, c, 16, 100);
		for (int k = 0; k < n; k++) {
			if (c[k].event == PN_TP_PEER_DOWN) {
				*lost = true;
			} else if (c[k].event == PN_TP_CTRL_RECV) {
				int rc = pn_sess_on_ctrl(s, &c[k]);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

/* Connect, say HELLO, wait for WELCOME; the aggregator may not be up yet, or may drop a
 * connection before it has taken our HELLO (seen under load): keep trying within the
 * timeout, but never past a refusal of our token. */
static int connect_until_welcome(pn_session *s)
{
	double limit = (s->connect_timeout_ms > 0 ? s->connect_timeout_ms : 30000) / 1e3;
	double t0 = pn_now_s();
	int rc = -ETIMEDOUT;
	for (int attempt = 1; pn_now_s() - t0 < limit; attempt++) {
		if (attempt > 1)
			sleep_ms(50.0 * (attempt < 10 ? attempt : 10));
		double left = limit - (pn_now_s() - t0);
		rc = pn_tp_connect(s->ctx, s->connect, &s->agg, left > 0.001 ? (int)(left * 1e3) : 1);
		if (rc == -EPERM || rc == -EACCES || rc == -ECONNREFUSED)
			return pn_sess_fail(s, rc, "%s refused us: %s", s->connect, pn_tp_errmsg(s->ctx));
		if (rc) {
			if (s->verbose)
				fprintf(stderr, "pennant-worker %d: connect %s: %s (retrying)\n", s->rank,
					s->connect, pn_tp_errmsg(s->ctx));
			continue;
		}
		pn_job_msg hello = {.type = PN_MSG_HELLO, .rank = (uint32_t)s->rank, .d = s->d,
				    .grad_dtype = (uint8_t)s->dtype};
		pn_tp_mr_get_desc(s->grad_mr, &hello.region);
		bool lost = pn_sess_send(s, &hello) != 0;
		if ((rc = await_welcome(s, pn_now_s() + fmin(10.0, limit), &lost)) != 0)
			return rc; /* e.g. a model of another size: retrying won't help */
		if (s->welcomed) {
			s->last_heard = pn_now_s();
			return 0;
		}
		fprintf(stderr, "pennant-worker %d: no WELCOME from %s (attempt %d), reconnecting\n", s->rank,
			s->connect, attempt);
		pn_tp_disconnect(s->agg);
		s->agg = NULL;
		rc = -ETIMEDOUT;
	}
	return pn_sess_fail(s, rc, "could not join %s within %.0f s", s->connect, limit);
}

static void destroy(pn_session *s)
{
	if (!s)
		return;
	if (s->ctx)
		pn_tp_close(s->ctx); /* frees registered memory */
	pn_sess_free_code(s);
	if (s->wire)
		free(s->grad); /* half gradients: the float32 slot is private memory */
	free(s->connect);
	free(s);
}

int pn_session_join(const pn_session_config *cfg, pn_session **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!cfg || !cfg->connect || cfg->rank < 0 || cfg->rank >= PN_JOB_MAX_WORKERS || cfg->d < 1 ||
	    cfg->d > ((size_t)1 << 40) || pn_dtype_size(cfg->grad_dtype) == 0) {
		pn_errf(err, errlen, "session: need an aggregator address, 0 <= rank < %d and d >= 1",
			PN_JOB_MAX_WORKERS);
		return -EINVAL;
	}
	pn_session *s = calloc(1, sizeof *s);
	if (!s || !(s->connect = strdup(cfg->connect))) {
		free(s);
		pn_errf(err, errlen, "session: out of memory");
		return -ENOMEM;
	}
	s->rank = cfg->rank;
	s->d = cfg->d;
	s->dtype = cfg->grad_dtype;
	s->verbose = cfg->verbose;
	s->connect_timeout_ms = cfg->connect_timeout_ms;
	s->silence_override_ms = cfg->silence_ms;
	s->comm_dim_wanted = cfg->comm_dim > 0 ? cfg->comm_dim : 0;
	s->comm_dim = 1;
	s->slot_len = s->d;
	s->cur.round = -1;
	s->waited = -1;
	s->ctx = pn_tp_open(&cfg->tp, err, errlen);
	if (!s->ctx) {
		fprintf(stderr, "pennant-worker %d: %s\n", s->rank, err);
		destroy(s);
		return -EIO;
	}
	void *g, *m, *r;
	size_t bytes = s->d * sizeof(float), esize = pn_dtype_size(s->dtype);
	int rc;
	/* m known: the transport moves only ceil(d/m) elements a round, so register no more */
	s->grad_cap = 2 * (s->comm_dim_wanted > 1 ? (s->d + (size_t)s->comm_dim_wanted - 1) /
							   (size_t)s->comm_dim_wanted : s->d);
	if ((rc = pn_tp_alloc(s->ctx, s->grad_cap * esize, PN_ACCESS_REMOTE_READ, &g, &s->grad_mr)) ||
	    (rc = pn_tp_alloc(s->ctx, bytes, PN_ACCESS_LOCAL_WRITE, &m, &s->model_mr)) ||
	    (rc = pn_tp_alloc(s->ctx, bytes, PN_ACCESS_LOCAL_WRITE, &r, &s->result_mr))) {
		pn_sess_fail(s, rc, "cannot allocate registered memory: %s", pn_tp_errmsg(s->ctx));
		pn_errf(err, errlen, "%s", s->err);
		destroy(s);
		return rc;
	}
	s->grad = g, s->model = m, s->result = r;
	memset(g, 0, s->grad_cap * esize);
	if (s->dtype != PN_DTYPE_F32) {
		s->wire = g;
		s->grad = calloc(s->grad_cap / 2, sizeof(float)); /* one slot's float32 message */
		if (!s->grad) {
			pn_errf(err, errlen, "session: out of memory");
			s->wire = NULL; /* nothing to free */
			destroy(s);
			return -ENOMEM;
		}
	}
	memset(s->model, 0, bytes);
	if ((rc = connect_until_welcome(s)) != 0) {
		pn_errf(err, errlen, "%s", s->err);
		destroy(s);
		return rc;
	}
	*out = s;
	return 0;
}

int pn_session_join_opts(const char *backend, const char *options, const char *connect, int rank,
			 size_t d, const char *token_file, int connect_timeout_ms, int silence_ms,
			 pn_session **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!backend || rank < 0 || rank >= PN_JOB_MAX_WORKERS) {
		pn_errf(err, errlen, "session: need a backend name and 0 <= rank < %d", PN_JOB_MAX_WORKERS);
		return -EINVAL;
	}
	uint8_t *tok = malloc(PN_JOB_TOKEN_MAX + 1);
	if (!tok) {
		pn_errf(err, errlen, "session: out of memory");
		return -ENOMEM;
	}
	size_t toklen = 0;
	int rc = pn_job_token_load(token_file, tok, &toklen, err, errlen);
	if (rc == 0)
		rc = pn_fail(err, errlen, -EINVAL, "no job token: set %s or give a token file",
			     PN_JOB_TOKEN_ENV);
	if (rc == 1) {
		pn_session_config cfg = {
			.tp = {.backend = backend, .node_id = (uint32_t)rank + 1, .secret = tok,
			       .secret_len = toklen, .options = options ? options : ""},
			.connect = connect, .rank = rank, .d = d, .connect_timeout_ms = connect_timeout_ms,
			.silence_ms = silence_ms,
		};
		rc = pn_session_join(&cfg, out, err, errlen);
	}
	explicit_bzero(tok, PN_JOB_TOKEN_MAX + 1);
	free(tok);
	return rc;
}

int pn_session_join_simple(const char *backend, const char *connect, int rank, size_t d,
			   const char *token_file, int connect_timeout_ms, pn_session **out, char *err,
			   size_t errlen)
{
	return pn_session_join_opts(backend, NULL, connect, rank, d, token_file, connect_timeout_ms, 0,
				    out, err, errlen);
}

size_t pn_session_dim(const pn_session *s) { return s->d; }
int pn_session_workers(const pn_session *s) { return s->n; }
int pn_session_rank(const pn_session *s) { return s->rank; }
pn_serve pn_session_serve(const pn_session *s) { return s->serve; }
int pn_session_heartbeat_ms(const pn_session *s) { return (int)lround(s->heartbeat_s * 1e3); }
int pn_session_silence_ms(const pn_session *s) { return (int)lround(s->silence_s * 1e3); }
const char *pn_session_error(const pn_session *s) { return s ? s->err : "no session"; }
const float *pn_session_model(const pn_session *s) { return s->model; }

void pn_session_leave(pn_session *s)
{
	if (!s)
		return;
	/* Leave after the aggregator: a DPDK memif server polling a client that vanished
	 * can crash, so give it a moment to close its side first. */
	if (s->stopped && !s->gone) {
		double t_end = pn_now_s() + 2.0;
		while (!s->gone && pn_now_s() < t_end) {
			pn_tp_completion c[16];
			int n = pn_tp_poll(s->ctx, c, 16, 50);
			for (int k = 0; k < n; k++)
				s->gone |= c[k].event == PN_TP_PEER_DOWN;
		}
	}
	destroy(s);
}
