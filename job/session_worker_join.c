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

/* After HELLO to shard k: poll until its WELCOME, its connection drops, or `until`.
 * Shards joined before may already announce a round: that is queued. */
static int await_welcome(pn_session *s, int k, double until, bool *lost)
{
	while (!*lost && !s->sh[k].welcomed && pn_now_s() < until) {
		pn_tp_completion c[16];
		int n = pn_sess_poll(s, c, 16, 100);
		for (int e = 0; e < n; e++) {
			int from = pn_sess_shard_of(s, c[e].peer);
			if (c[e].event == PN_TP_PEER_DOWN && from == k) {
				*lost = true;
			} else if (c[e].event == PN_TP_PEER_DOWN && from >= 0) {
				char who[320];
				return pn_sess_fail(s, -ECONNRESET, "%s went away while we joined the others",
						    pn_sess_who(s, from, who, sizeof who));
			} else if (c[e].event == PN_TP_CTRL_RECV) {
				int rc = pn_sess_on_ctrl(s, &c[e]);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

/* Connect to shard k, say HELLO, wait for WELCOME; the aggregator may not be up yet, or
 * may drop a connection before it has taken our HELLO (seen under load): keep trying
 * within the timeout, but never past a refusal of our token. */
int pn_sess_connect_shard(pn_session *s, int k, double t0)
{
	double limit = (s->connect_timeout_ms > 0 ? s->connect_timeout_ms : 30000) / 1e3;
	pn_sess_shard *sh = &s->sh[k];
	int rc = -ETIMEDOUT;
	for (int attempt = 1; pn_now_s() - t0 < limit; attempt++) {
		if (attempt > 1)
			sleep_ms(50.0 * (attempt < 10 ? attempt : 10));
		double left = limit - (pn_now_s() - t0);
		rc = pn_tp_connect(s->ctx, sh->addr, &sh->peer, left > 0.001 ? (int)(left * 1e3) : 1);
		if (rc == -EPERM || rc == -EACCES || rc == -ECONNREFUSED)
			return pn_sess_fail(s, rc, "%s refused us: %s", sh->addr, pn_tp_errmsg(s->ctx));
		if (rc) {
			sh->peer = NULL;
			if (s->verbose)
				fprintf(stderr, "pennant-worker %d: connect %s: %s (retrying)\n", s->rank,
					sh->addr, pn_tp_errmsg(s->ctx));
			continue;
		}
		pn_job_msg hello = {.type = PN_MSG_HELLO, .rank = (uint32_t)s->hello_rank, .d = s->d,
				    .grad_dtype = (uint8_t)s->dtype};
		pn_tp_mr_get_desc(s->grad_mr, &hello.region);
		uint8_t buf[PN_TP_CTRL_MAX];
		bool lost = pn_tp_send_ctrl(sh->peer, buf, pn_job_msg_pack(&hello, buf)) != 0;
		sh->last_sent = pn_now_s();
		if ((rc = await_welcome(s, k, pn_now_s() + fmin(10.0, limit), &lost)) != 0)
			return rc; /* e.g. a model of another size: retrying won't help */
		if (sh->welcomed)
			return 0;
		fprintf(stderr, "pennant-worker %d: no WELCOME from %s (attempt %d), reconnecting\n", s->rank,
			sh->addr, attempt);
		pn_tp_disconnect(sh->peer);
		sh->peer = NULL;
		rc = -ETIMEDOUT;
	}
	return pn_sess_fail(s, rc, "could not join %s within %.0f s", sh->addr, limit);
}

/* Every shard in order (shard k's WELCOME is checked against shard k-1's range). */
static int join_shards(pn_session *s)
{
	double t0 = pn_now_s();
	for (int k = 0; k < s->nshards; k++) {
		int rc = pn_sess_connect_shard(s, k, t0);
		if (rc)
			return rc;
	}
	for (int k = 0; k < s->nshards; k++)
		s->sh[k].last_heard = pn_now_s();
	return 0;
}

/* "a" or "a0,a1,...": one aggregator address per shard, in shard order. */
static int split_addresses(pn_session *s, char *err, size_t errlen)
{
	const char *p = s->connect;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0 || s->nshards == PN_SHARD_MAX)
			return pn_fail(err, errlen, -EINVAL, "session: '%s' is not 1 to %d aggregator "
				       "addresses separated by commas", s->connect, PN_SHARD_MAX);
		if (!(s->sh[s->nshards++].addr = strndup(p, len)))
			return pn_fail(err, errlen, -ENOMEM, "session: out of memory");
		if (!end)
			return 0;
		p = end + 1;
	}
}

static void destroy(pn_session *s)
{
	if (!s)
		return;
	if (s->ctx && !s->ctx_shared) {
		pn_tp_close(s->ctx); /* frees registered memory */
	} else if (s->ctx) { /* the caller's context stays open: give back our memory */
		pn_tp_mr *mr[] = {s->grad_mr, s->model_mr, s->result_mr};
		for (size_t k = 0; k < sizeof mr / sizeof mr[0]; k++)
			if (mr[k])
				pn_tp_deregister(mr[k]);
	}
	for (int k = 0; k < s->nshards; k++)
		free(s->sh[k].addr);
	pn_sess_free_code(s);
	if (s->wire)
		free(s->grad); /* half gradients: the float32 slot is private memory */
	free(s->connect);
	free(s->fallback);
	free(s);
}

int pn_session_join(const pn_session_config *cfg, pn_session **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!cfg || !cfg->connect || cfg->rank < 0 || cfg->rank >= PN_JOB_MAX_WORKERS || cfg->d < 1 ||
	    (cfg->fallback && (cfg->fallback_rank < 0 || cfg->fallback_rank >= PN_JOB_MAX_WORKERS)) ||
	    cfg->d > ((size_t)1 << 40) || pn_dtype_size(cfg->grad_dtype) == 0) {
		pn_errf(err, errlen, "session: need an aggregator address, 0 <= rank < %d and d >= 1",
			PN_JOB_MAX_WORKERS);
		return -EINVAL;
	}
	pn_session *s = calloc(1, sizeof *s);
	if (!s || !(s->connect = strdup(cfg->connect)) || (cfg->fallback && !(s->fallback = strdup(cfg->fallback)))) {
		if (s)
			free(s->connect);
		free(s);
		pn_errf(err, errlen, "session: out of memory");
		return -ENOMEM;
	}
	s->rank = s->hello_rank = cfg->rank;
	s->fallback_rank = cfg->fallback_rank;
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
	int rc = split_addresses(s, err, errlen);
	if (rc) {
		destroy(s);
		return rc;
	}
	s->ctx_shared = cfg->ctx != NULL;
	s->foreign = cfg->foreign;
	s->foreign_arg = cfg->foreign_arg;
	s->ctx = cfg->ctx ? cfg->ctx : pn_tp_open(&cfg->tp, err, errlen);
	if (!s->ctx) {
		fprintf(stderr, "pennant-worker %d: %s\n", s->rank, err);
		destroy(s);
		return -EIO;
	}
	void *g, *m, *r;
	size_t bytes = s->d * sizeof(float), esize = pn_dtype_size(s->dtype);
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
	if ((rc = join_shards(s)) != 0) {
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
	/* Leave after the aggregator (every shard): a DPDK memif server polling a client that
	 * vanished can crash, so give it a moment to close its side first. */
	if (s->stopped) {
		int open = 0;
		for (int k = 0; k < s->nshards; k++)
			open += s->sh[k].peer != NULL;
		double t_end = pn_now_s() + 2.0;
		while (open > 0 && pn_now_s() < t_end) {
			pn_tp_completion c[16];
			int n = pn_sess_poll(s, c, 16, 50);
			for (int e = 0; e < n; e++) {
				int k = c[e].event == PN_TP_PEER_DOWN ? pn_sess_shard_of(s, c[e].peer) : -1;
				if (k >= 0) {
					s->sh[k].peer = NULL;
					open--;
				}
			}
		}
	}
	destroy(s);
}
