/* Conformance harness (see harness.h and README.md). */
#include "harness.h"
#include "rank_template.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && v[0] ? v : def;
}

const char *conf_backend(void)
{
	return env_or("PN_CONF_BACKEND", "tcp");
}

int conf_deadline_ms(void)
{
	return atoi(env_or("PN_CONF_DEADLINE_MS", "20000"));
}

bool conf_responder_is_cpu(void)
{
	return strcmp(env_or("PN_CONF_RESPONDER", "cpu"), "nic") != 0;
}

uint64_t conf_seed(void)
{
	return strtoull(env_or("PN_CONF_SEED", "20261121"), NULL, 0);
}

void conf_listen_addr(char *out, size_t len, uint32_t rank)
{
	bench_expand_rank(out, len, env_or("PN_CONF_LISTEN", "127.0.0.1:0"), rank);
}

pn_tp_ctx *conf_open(uint32_t rank, const char *secret)
{
	char opts[1024], err[512];
	bench_expand_rank(opts, sizeof(opts), env_or("PN_CONF_OPTIONS", ""), rank);
	pn_tp_config cfg = { .backend = conf_backend(), .node_id = rank, .secret = secret,
			     .secret_len = strlen(secret),
			     .options = opts };
	pn_tp_ctx *ctx = pn_tp_open(&cfg, err, sizeof(err));
	if (!ctx)
		fprintf(stderr, "rank %u: pn_tp_open(%s, \"%s\"): %s\n", rank, cfg.backend, opts, err);
	return ctx;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t pattern_word(uint64_t seed, uint64_t word)
{
	return mix64(word ^ (seed * 0xd6e8feb86659fd93ull));
}

void pattern_fill(void *buf, size_t len, uint64_t seed, uint64_t off0)
{
	uint8_t *b = buf;
	size_t i = 0;
	while (i < len) {
		uint64_t off = off0 + i;
		uint64_t w = pattern_word(seed, off >> 3);
		if ((off & 7) == 0 && len - i >= 8) {
			for (int k = 0; k < 8; k++)
				b[i + (size_t)k] = (uint8_t)(w >> (8 * k));
			i += 8;
		} else {
			b[i++] = (uint8_t)(w >> (8 * (off & 7)));
		}
	}
}

size_t pattern_check(const void *buf, size_t len, uint64_t seed, uint64_t off0)
{
	const uint8_t *b = buf;
	for (size_t i = 0; i < len;) {
		uint64_t off = off0 + i;
		uint64_t w = pattern_word(seed, off >> 3);
		size_t k = off & 7;
		for (; k < 8 && i < len; k++, i++)
			if (b[i] != (uint8_t)(w >> (8 * k)))
				return i;
	}
	return SIZE_MAX;
}

uint64_t conf_rand(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ull;
	return mix64(*state);
}

/* ---------- the standard target (child side: no Criterion here) ---------- */

#define CHILD_FAIL(...)                                                 \
	do {                                                            \
		fprintf(stderr, "rank %u: ", rank);                     \
		fprintf(stderr, __VA_ARGS__);                           \
		fputc('\n', stderr);                                    \
		return 1;                                               \
	} while (0)

static int child_send(pn_tp_ctx *ctx, pn_tp_peer *peer, const void *msg, size_t len)
{
	for (int tries = 0; tries < 100000; tries++) {
		int rc = pn_tp_send_ctrl(peer, msg, len);
		if (rc != -EAGAIN)
			return rc;
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	(void)ctx;
	return -EAGAIN;
}

static int send_desc(pn_tp_ctx *ctx, pn_tp_peer *peer, uint8_t idx, const pn_tp_mr *mr)
{
	uint8_t msg[2 + PN_MR_DESC_WIRE_SIZE] = { MSG_DESC, idx };
	pn_mr_desc d;
	pn_tp_mr_get_desc(mr, &d);
	pn_mr_desc_pack(&d, msg + 2);
	return child_send(ctx, peer, msg, sizeof(msg));
}

/* Read all of a rank-0 region into local memory and check its pattern (seed 0). */
static int read_back(pn_tp_ctx *ctx, pn_tp_peer *peer, const uint8_t *packed, int32_t *status, uint8_t *ok)
{
	pn_mr_desc d;
	pn_mr_desc_unpack(packed, &d);
	void *buf;
	pn_tp_mr *mr;
	int rc = pn_tp_alloc(ctx, d.len, PN_ACCESS_LOCAL_WRITE, &buf, &mr);
	if (rc)
		return rc;
	*status = pn_tp_post_read(peer, mr, 0, &d, 0, d.len, 77);
	*ok = 0;
	if (*status == 0) {
		pn_tp_completion c;
		int n;
		/* Wait for our read; control messages meanwhile are not expected. */
		do
			n = pn_tp_poll(ctx, &c, 1, 1000);
		while (n == 0);
		if (n < 0 || c.event != PN_TP_READ_DONE || c.cookie != 77)
			*status = -EPROTO;
		else
			*status = c.status;
		*ok = *status == 0 && pattern_check(buf, d.len, 0, 0) == SIZE_MAX;
	}
	pn_tp_deregister(mr);
	return 0;
}

int conf_target_main(uint32_t rank, const char *addr, const void *arg)
{
	const struct conf_target_spec *spec = arg;
	pn_tp_ctx *ctx = conf_open(rank, CONF_SECRET);
	if (!ctx)
		return 2;
	pn_tp_peer *peer;
	int rc = pn_tp_connect(ctx, addr, &peer, conf_deadline_ms());
	if (rc)
		CHILD_FAIL("connect %s: %s", addr, pn_tp_errmsg(ctx));
	void *buf, *nbuf;
	pn_tp_mr *mr, *nmr = NULL;
	if (pn_tp_alloc(ctx, spec->len, PN_ACCESS_REMOTE_READ, &buf, &mr))
		CHILD_FAIL("alloc: %s", pn_tp_errmsg(ctx));
	pattern_fill(buf, spec->len, rank, 0);
	if (send_desc(ctx, peer, 0, mr))
		CHILD_FAIL("send desc: %s", pn_tp_errmsg(ctx));
	if (spec->no_access_len) {
		if (pn_tp_alloc(ctx, spec->no_access_len, PN_ACCESS_LOCAL_WRITE, &nbuf, &nmr))
			CHILD_FAIL("alloc: %s", pn_tp_errmsg(ctx));
		pattern_fill(nbuf, spec->no_access_len, rank + 100, 0);
		if (send_desc(ctx, peer, 1, nmr))
			CHILD_FAIL("send desc: %s", pn_tp_errmsg(ctx));
	}
	for (;;) {
		pn_tp_completion comp[16];
		int n = pn_tp_poll(ctx, comp, 16, 1000);
		if (n < 0)
			CHILD_FAIL("poll: %s", pn_tp_errmsg(ctx));
		for (int i = 0; i < n; i++) {
			const pn_tp_completion *c = &comp[i];
			if (c->event == PN_TP_PEER_DOWN)
				CHILD_FAIL("rank 0 went down before saying quit");
			if (c->event != PN_TP_CTRL_RECV)
				CHILD_FAIL("unexpected event %d", c->event);
			const uint8_t *m = c->data;
			switch (m[0]) {
			case MSG_QUIT:
				if (nmr)
					pn_tp_deregister(nmr);
				pn_tp_deregister(mr);
				pn_tp_close(ctx);
				return 0;
			case MSG_STATS_REQ: {
				uint8_t out[1 + sizeof(pn_tp_stats)] = { MSG_STATS };
				pn_tp_stats st;
				pn_tp_get_stats(ctx, &st);
				memcpy(out + 1, &st, sizeof(st));
				rc = child_send(ctx, peer, out, sizeof(out));
				break;
			}
			case MSG_ECHO:
				rc = child_send(ctx, peer, m, c->len);
				break;
			case MSG_GEN: {
				uint32_t count;
				memcpy(&count, m + 1, 4);
				for (uint32_t s = 0; s < count && rc == 0; s++) {
					uint8_t out[PN_TP_CTRL_MAX];
					size_t len = 5 + s % (PN_TP_CTRL_MAX - 4);
					out[0] = MSG_SEQ;
					memcpy(out + 1, &s, 4);
					pattern_fill(out + 5, len - 5, s, 0);
					rc = child_send(ctx, peer, out, len);
				}
				break;
			}
			case MSG_READ_BACK: {
				uint8_t out[6] = { MSG_READ_RESULT };
				int32_t st = 0;
				uint8_t ok = 0;
				rc = read_back(ctx, peer, m + 1, &st, &ok);
				memcpy(out + 1, &st, 4);
				out[5] = ok;
				if (rc == 0)
					rc = child_send(ctx, peer, out, sizeof(out));
				break;
			}
			default:
				CHILD_FAIL("unknown message type %d", m[0]);
			}
			if (rc)
				CHILD_FAIL("reply: %s", pn_tp_errmsg(ctx));
		}
	}
}

/* ---------- rank 0 side ---------- */

static void child_entry(uint32_t rank, int rfd, conf_child_fn fn, const void *arg)
{
	/* Never outlive the test, whatever happens to it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm((unsigned)(conf_deadline_ms() / 1000) * 3 + 10);
	char addr[256];
	size_t got = 0;
	while (got + 1 < sizeof(addr)) {
		ssize_t n = read(rfd, addr + got, 1);
		if (n <= 0)
			_exit(3); /* rank 0 never told us where to go */
		if (addr[got] == '\n')
			break;
		got++;
	}
	addr[got] = '\0';
	close(rfd);
	int rc = fn(rank, addr, arg);
	fflush(NULL);
	_exit(rc);
}

void conf_spawn(struct conf_job *job, int nchildren, conf_child_fn fn, const void *arg)
{
	conf_child_fn fns[CONF_MAX_RANKS];
	const void *args[CONF_MAX_RANKS];
	for (int i = 0; i < nchildren && i < CONF_MAX_RANKS; i++) {
		fns[i] = fn;
		args[i] = arg;
	}
	conf_spawn_roles(job, nchildren, fns, args);
}

void conf_spawn_roles(struct conf_job *job, int nchildren, const conf_child_fn *fns,
		      const void *const *args)
{
	cr_assert(nchildren >= 0 && nchildren < CONF_MAX_RANKS);
	memset(job, 0, sizeof(*job));
	job->nchildren = nchildren;
	fflush(NULL);
	for (int r = 1; r <= nchildren; r++) {
		int fds[2];
		cr_assert(pipe(fds) == 0);
		pid_t pid = fork();
		cr_assert(pid >= 0, "fork: %s", strerror(errno));
		if (pid == 0) {
			close(fds[1]);
			for (int k = 1; k < r; k++)
				close(job->addr_fd[k]);
			child_entry((uint32_t)r, fds[0], fns[r - 1], args[r - 1]);
		}
		close(fds[0]);
		job->pid[r] = pid;
		job->addr_fd[r] = fds[1];
	}
	/* Only now: a DPDK EAL must not be initialised before fork. */
	job->ctx = conf_open(0, CONF_SECRET);
	cr_assert(job->ctx, "rank 0 could not open backend %s", conf_backend());
	char listen[256];
	conf_listen_addr(listen, sizeof(listen), 0);
	cr_assert(pn_tp_listen(job->ctx, listen) == 0, "listen %s: %s", listen, pn_tp_errmsg(job->ctx));
	cr_assert(pn_tp_local_addr(job->ctx, job->addr, sizeof(job->addr)) == 0, "local_addr: %s",
		  pn_tp_errmsg(job->ctx));
}

void conf_tell_rank(struct conf_job *job, uint32_t rank)
{
	if (job->addr_fd[rank] <= 0)
		return;
	dprintf(job->addr_fd[rank], "%s\n", job->addr);
	close(job->addr_fd[rank]);
	job->addr_fd[rank] = -1;
}

void conf_tell_address(struct conf_job *job)
{
	for (int r = 1; r <= job->nchildren; r++)
		conf_tell_rank(job, (uint32_t)r);
}

void conf_poll_one(pn_tp_ctx *ctx, pn_tp_completion *out)
{
	int n = pn_tp_poll(ctx, out, 1, conf_deadline_ms());
	cr_assert(n >= 0, "poll: %s", pn_tp_errmsg(ctx));
	cr_assert(n == 1, "no completion within %d ms (hang guard)", conf_deadline_ms());
}

void conf_accept_all(struct conf_job *job, int descs_per_child)
{
	for (int i = 0; i < job->nchildren; i++) {
		pn_tp_peer *p;
		int rc = pn_tp_accept(job->ctx, &p, conf_deadline_ms());
		cr_assert(rc == 0, "accept: %s", pn_tp_errmsg(job->ctx));
		uint32_t id = pn_tp_peer_id(p);
		cr_assert(id >= 1 && id <= (uint32_t)job->nchildren && !job->peer[id],
			  "unexpected peer id %u", id);
		job->peer[id] = p;
	}
	int want = descs_per_child * job->nchildren, got = 0;
	while (got < want) {
		pn_tp_completion c;
		conf_poll_one(job->ctx, &c);
		cr_assert(c.event == PN_TP_CTRL_RECV, "expected a descriptor, got event %d (status %d)",
			  c.event, c.status);
		const uint8_t *m = c.data;
		cr_assert(c.len == 2 + PN_MR_DESC_WIRE_SIZE && m[0] == MSG_DESC && m[1] < CONF_MAX_DESCS);
		pn_mr_desc_unpack(m + 2, &job->desc[c.peer_id][m[1]]);
		job->ndesc[c.peer_id]++;
		got++;
	}
}

void conf_start_targets(struct conf_job *job, int nchildren, const struct conf_target_spec *spec)
{
	conf_spawn(job, nchildren, conf_target_main, spec);
	conf_tell_address(job);
	conf_accept_all(job, spec->no_access_len ? 2 : 1);
}

void *conf_start_reader(struct conf_job *job, int nchildren, const struct conf_target_spec *spec,
			size_t land_len, pn_tp_mr **lmr)
{
	conf_start_targets(job, nchildren, spec);
	void *land = NULL;
	cr_assert_eq(pn_tp_alloc(job->ctx, land_len, PN_ACCESS_LOCAL_WRITE, &land, lmr), 0, "%s",
		     pn_tp_errmsg(job->ctx));
	return land;
}

int conf_reap(struct conf_job *job, uint32_t rank)
{
	int status = 0;
	for (int waited = 0;; waited += 10) {
		pid_t w = waitpid(job->pid[rank], &status, WNOHANG);
		if (w == job->pid[rank])
			break;
		if (w < 0) {
			status = -1;
			break;
		}
		if (waited >= conf_deadline_ms()) {
			kill(job->pid[rank], SIGKILL);
			waitpid(job->pid[rank], &status, 0);
			job->pid[rank] = 0;
			cr_expect(0, "rank %u did not exit within %d ms", rank, conf_deadline_ms());
			return status;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	job->pid[rank] = 0;
	return status;
}

void conf_send(pn_tp_peer *peer, const void *msg, size_t len)
{
	int rc;
	for (int tries = 0; (rc = pn_tp_send_ctrl(peer, msg, len)) == -EAGAIN && tries < 100000; tries++) {
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	cr_assert(rc == 0, "send_ctrl to %u: %d", pn_tp_peer_id(peer), rc);
}

void conf_finish(struct conf_job *job)
{
	for (int r = 1; r <= job->nchildren; r++) {
		if (!job->pid[r])
			continue;
		if (job->peer[r] && pn_tp_send_ctrl(job->peer[r], (uint8_t[]){ MSG_QUIT }, 1) != 0) {
			kill(job->pid[r], SIGKILL);
		}
	}
	for (int r = 1; r <= job->nchildren; r++) {
		if (!job->pid[r])
			continue;
		int st = conf_reap(job, (uint32_t)r);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "rank %d exited with status 0x%x", r, st);
	}
	pn_tp_close(job->ctx);
	job->ctx = NULL;
}

int conf_wait_read(pn_tp_ctx *ctx, uint64_t cookie)
{
	pn_tp_completion c;
	conf_poll_one(ctx, &c);
	cr_assert(c.event == PN_TP_READ_DONE, "expected READ_DONE, got event %d (status %d)", c.event,
		  c.status);
	cr_assert(c.cookie == cookie, "expected cookie %llu, got %llu", (unsigned long long)cookie,
		  (unsigned long long)c.cookie);
	return c.status;
}

void conf_target_stats(struct conf_job *job, uint32_t rank, pn_tp_stats *out)
{
	conf_send(job->peer[rank], (uint8_t[]){ MSG_STATS_REQ }, 1);
	pn_tp_completion c;
	conf_poll_one(job->ctx, &c);
	cr_assert(c.event == PN_TP_CTRL_RECV && c.peer_id == rank && c.len == 1 + sizeof(*out) &&
			  ((const uint8_t *)c.data)[0] == MSG_STATS,
		  "expected stats from rank %u (event %d, len %u)", rank, c.event, c.len);
	memcpy(out, (const uint8_t *)c.data + 1, sizeof(*out));
}
