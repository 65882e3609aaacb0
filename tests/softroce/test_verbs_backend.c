/* Verbs-specific tests (the backend-independent ones are tests/transport's conformance
 * suite): options and device selection, access flag mapping, reads split into many
 * pieces through a tiny send queue, control credits with a tiny window, a real work
 * completion error taking one peer down while another keeps working, and teardown
 * with reads outstanding to a frozen peer; the handshake: 100 connections in a row each
 * deliver their first message to a listener polling accept with short timeouts (issue
 * 15 item 12), a client with garbage private data is rejected with nothing but a reason,
 * a client that sends a made-up proof is disconnected and never accepted.
 *
 * Runs where PN_RDMA_DEV / PN_RDMA_ADDR name a device (tests/softroce/run-in-guest).
 * Without them every test fails with that reason. Targets are forked before any
 * verbs context exists in this process. */
#include "transport/verbs/verbs.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECRET "pennant-verbs-test-secret"
#define WAIT_MS 60000

static const char *dev(void)
{
	const char *d = getenv("PN_RDMA_DEV");
	cr_assert(d && d[0], "PN_RDMA_DEV is not set: run through tests/softroce/run-in-guest");
	return d;
}

static const char *addr(void)
{
	const char *a = getenv("PN_RDMA_ADDR");
	cr_assert(a && a[0], "PN_RDMA_ADDR is not set: run through tests/softroce/run-in-guest");
	return a;
}

static pn_tp_ctx *open_ctx(uint32_t rank, const char *opts, uint32_t reads_in_flight, char *err, size_t errlen)
{
	pn_tp_config cfg = { .backend = "verbs", .node_id = rank, .secret = SECRET, .secret_len = sizeof SECRET - 1, .options = opts,
			     .max_reads_in_flight = reads_in_flight };
	return pn_tp_open(&cfg, err, errlen);
}

static uint8_t pattern(uint64_t off, uint32_t seed)
{
	uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ seed;
	return (uint8_t)(x >> 29);
}

/* ------------------------------------------------------------------ targets */

enum { MSG_DESC = 'D', MSG_QUIT = 'Q', MSG_ECHO = 'E', MSG_BREAK_MR = 'X', MSG_BROKEN = 'Y' };

struct target_args {
	const char *opts;
	size_t len;
};

#define CHILD_FAIL(...)                           \
	do {                                      \
		fprintf(stderr, "target: ");      \
		fprintf(stderr, __VA_ARGS__);     \
		fputc('\n', stderr);              \
		_exit(1);                         \
	} while (0)

static int send_retry(pn_tp_ctx *ctx, pn_tp_peer *p, const void *m, size_t len)
{
	int rc;
	for (int i = 0; (rc = pn_tp_send_ctrl(p, m, len)) == -EAGAIN && i < 100000; i++) {
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	(void)ctx;
	return rc;
}

/* Connect to rank 0, expose one REMOTE_READ region with the pattern, echo control
 * messages, break the region's NIC registration on request, exit on quit or when
 * rank 0 goes away. */
static void target_main(uint32_t rank, const char *to, const struct target_args *a)
{
	char err[512];
	pn_tp_ctx *ctx = open_ctx(rank, a->opts, 0, err, sizeof(err));
	if (!ctx)
		CHILD_FAIL("open: %s", err);
	pn_tp_peer *peer;
	if (pn_tp_connect(ctx, to, &peer, WAIT_MS) != 0)
		CHILD_FAIL("connect %s: %s", to, pn_tp_errmsg(ctx));
	void *buf;
	pn_tp_mr *mr;
	if (pn_tp_alloc(ctx, a->len, PN_ACCESS_REMOTE_READ, &buf, &mr) != 0)
		CHILD_FAIL("alloc: %s", pn_tp_errmsg(ctx));
	for (size_t i = 0; i < a->len; i++)
		((uint8_t *)buf)[i] = pattern(i, rank);
	uint8_t d[1 + PN_MR_DESC_WIRE_SIZE] = { MSG_DESC };
	pn_mr_desc desc;
	pn_tp_mr_get_desc(mr, &desc);
	pn_mr_desc_pack(&desc, d + 1);
	if (send_retry(ctx, peer, d, sizeof(d)) != 0)
		CHILD_FAIL("send desc: %s", pn_tp_errmsg(ctx));
	for (;;) {
		pn_tp_completion c[8];
		int n = pn_tp_poll(ctx, c, 8, 1000);
		if (n < 0)
			CHILD_FAIL("poll: %s", pn_tp_errmsg(ctx));
		for (int i = 0; i < n; i++) {
			if (c[i].event == PN_TP_PEER_DOWN)
				_exit(0); /* rank 0 closed or lost us: nothing left to serve */
			if (c[i].event != PN_TP_CTRL_RECV)
				CHILD_FAIL("unexpected event %d", c[i].event);
			const uint8_t *m = c[i].data;
			if (m[0] == MSG_QUIT) {
				pn_tp_deregister(mr);
				pn_tp_close(ctx);
				_exit(0);
			} else if (m[0] == MSG_ECHO) {
				if (send_retry(ctx, peer, m, c[i].len) != 0)
					CHILD_FAIL("echo: %s", pn_tp_errmsg(ctx));
			} else if (m[0] == MSG_BREAK_MR) {
				/* White box: drop the NIC registration behind the backend's back, so
				 * the rkey rank 0 was told about is still announced but now invalid:
				 * the next read of it fails in the NIC with a remote access error. */
				struct verbs_mr *vm = (struct verbs_mr *)mr;
				if (ibv_dereg_mr(vm->mr) != 0)
					CHILD_FAIL("ibv_dereg_mr");
				static uint8_t spare[64];
				vm->mr = ibv_reg_mr(((struct verbs_ctx *)ctx)->pd, spare, sizeof(spare), 0);
				if (!vm->mr)
					CHILD_FAIL("ibv_reg_mr spare");
				if (send_retry(ctx, peer, (uint8_t[]){ MSG_BROKEN }, 1) != 0)
					CHILD_FAIL("reply: %s", pn_tp_errmsg(ctx));
			}
		}
	}
}

struct job {
	int n;
	pid_t pid[4];
	int fd[4];
	pn_tp_ctx *ctx;
	pn_tp_peer *peer[4];
	pn_mr_desc desc[4];
};

/* Fork n targets, open rank 0 with opts, listen, accept them all, collect descriptors. */
static void start(struct job *j, int n, const char *opts, uint32_t reads_in_flight, const struct target_args *a)
{
	memset(j, 0, sizeof(*j));
	j->n = n;
	const char *listen_ip = addr();
	(void)dev();
	fflush(NULL);
	for (int r = 1; r <= n; r++) {
		int fds[2];
		cr_assert(pipe(fds) == 0);
		pid_t pid = fork();
		cr_assert(pid >= 0);
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			alarm(300);
			close(fds[1]);
			char to[128] = "";
			size_t got = 0;
			while (got + 1 < sizeof(to) && read(fds[0], to + got, 1) == 1 && to[got] != '\n')
				got++;
			to[got] = '\0';
			target_main((uint32_t)r, to, a);
		}
		close(fds[0]);
		j->pid[r] = pid;
		j->fd[r] = fds[1];
	}
	char err[512];
	j->ctx = open_ctx(0, opts, reads_in_flight, err, sizeof(err));
	cr_assert(j->ctx, "open: %s", err);
	char l[96], a0[128];
	snprintf(l, sizeof(l), "%s:0", listen_ip);
	cr_assert_eq(pn_tp_listen(j->ctx, l), 0, "%s", pn_tp_errmsg(j->ctx));
	cr_assert_eq(pn_tp_local_addr(j->ctx, a0, sizeof(a0)), 0);
	for (int r = 1; r <= n; r++) {
		dprintf(j->fd[r], "%s\n", a0);
		close(j->fd[r]);
	}
	for (int i = 0; i < n; i++) {
		pn_tp_peer *p;
		cr_assert_eq(pn_tp_accept(j->ctx, &p, WAIT_MS), 0, "accept: %s", pn_tp_errmsg(j->ctx));
		uint32_t id = pn_tp_peer_id(p);
		cr_assert(id >= 1 && id <= (uint32_t)n && !j->peer[id]);
		j->peer[id] = p;
	}
	for (int got = 0; got < n;) {
		pn_tp_completion c;
		cr_assert_eq(pn_tp_poll(j->ctx, &c, 1, WAIT_MS), 1, "no descriptor");
		cr_assert_eq(c.event, PN_TP_CTRL_RECV);
		cr_assert_eq(((const uint8_t *)c.data)[0], MSG_DESC);
		pn_mr_desc_unpack((const uint8_t *)c.data + 1, &j->desc[c.peer_id]);
		got++;
	}
}

static int reap(pid_t pid)
{
	int st = -1;
	for (int waited = 0; waited < WAIT_MS; waited += 10) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	cr_expect(0, "target %d did not exit", (int)pid);
	return st;
}

static void finish(struct job *j)
{
	for (int r = 1; r <= j->n; r++)
		if (j->peer[r] && !j->peer[r]->failed)
			pn_tp_send_ctrl(j->peer[r], (uint8_t[]){ MSG_QUIT }, 1);
	for (int r = 1; r <= j->n; r++) {
		int st = reap(j->pid[r]);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "target %d exit status 0x%x", r, st);
	}
	pn_tp_close(j->ctx);
}

static pn_tp_completion wait_one(pn_tp_ctx *ctx)
{
	pn_tp_completion c;
	int n = pn_tp_poll(ctx, &c, 1, WAIT_MS);
	cr_assert_eq(n, 1, "no completion within %d ms (%s)", WAIT_MS, pn_tp_errmsg(ctx));
	return c;
}

/* ------------------------------------------------------------------ tests */

Test(verbs_options, device_by_name_or_address_and_errors, .timeout = 60)
{
	char err[512], opts[256];
	snprintf(opts, sizeof(opts), "dev=%s;port=1", dev());
	pn_tp_ctx *ctx = open_ctx(0, opts, 0, err, sizeof(err));
	cr_assert(ctx, "dev=%s: %s", dev(), err);
	cr_assert_str_eq(pn_tp_backend_name(ctx), "verbs");
	cr_assert_str_eq(verbs_device_name((struct verbs_ctx *)ctx), dev());
	pn_tp_close(ctx);

	snprintf(opts, sizeof(opts), "addr=%s", addr());
	ctx = open_ctx(0, opts, 0, err, sizeof(err));
	cr_assert(ctx, "addr=%s: %s", addr(), err);
	cr_assert_str_eq(verbs_device_name((struct verbs_ctx *)ctx), dev(), "addr= chose another device");
	pn_tp_close(ctx);

	static const struct {
		const char *opts, *says;
	} bad[] = {
		{ "dev=no_such_dev0", "no RDMA device named" },
		{ "bogus=1", "unknown option" },
		{ "port=0", "port" },
		{ "ctrl_depth=1", "ctrl_depth" },
		{ "poll=sometimes", "poll" },
		{ "addr=not-an-ip", "not a numeric IP" },
		{ "addr=198.51.100.77", "cannot bind" }, /* TEST-NET-2: not ours, never contacted */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_null(open_ctx(0, bad[i].opts, 0, err, sizeof(err)), "'%s' was accepted", bad[i].opts);
		cr_assert(strstr(err, bad[i].says), "'%s': message '%s' lacks '%s'", bad[i].opts, err, bad[i].says);
	}
	snprintf(opts, sizeof(opts), "dev=%s;gid_index=60000", dev());
	cr_assert_null(open_ctx(0, opts, 0, err, sizeof(err)));
	cr_assert(strstr(err, "GID index"), "%s", err);
}

Test(verbs_options, preferred_chunk_is_capped_by_the_split_size, .timeout = 30)
{
	char err[512], opts[256];
	snprintf(opts, sizeof(opts), "dev=%s", dev());
	pn_tp_ctx *ctx = open_ctx(0, opts, 0, err, sizeof(err));
	cr_assert(ctx, "%s", err);
	cr_assert_eq(pn_tp_preferred_chunk(ctx), VERBS_CHUNK_DEFAULT);
	pn_tp_close(ctx);
	snprintf(opts, sizeof(opts), "dev=%s;max_msg=64K;chunk=4M", dev());
	ctx = open_ctx(0, opts, 0, err, sizeof(err));
	cr_assert(ctx, "%s", err);
	cr_assert_eq(pn_tp_preferred_chunk(ctx), 65536u);
	pn_tp_close(ctx);
}

Test(verbs_mr, access_flags_map_exactly_and_alloc_is_page_aligned, .timeout = 30)
{
	cr_assert_eq(verbs_access_flags(0), 0);
	cr_assert_eq(verbs_access_flags(PN_ACCESS_LOCAL_WRITE), IBV_ACCESS_LOCAL_WRITE);
	cr_assert_eq(verbs_access_flags(PN_ACCESS_REMOTE_READ), IBV_ACCESS_REMOTE_READ,
		     "a gradient buffer must be remote-READ only");
	cr_assert_eq(verbs_access_flags(PN_ACCESS_REMOTE_READ | PN_ACCESS_LOCAL_WRITE),
		     IBV_ACCESS_REMOTE_READ | IBV_ACCESS_LOCAL_WRITE);
	cr_assert_eq(verbs_access_flags(PN_ACCESS_REMOTE_WRITE), IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_LOCAL_WRITE);

	char err[512], opts[256];
	snprintf(opts, sizeof(opts), "dev=%s", dev());
	pn_tp_ctx *ctx = open_ctx(0, opts, 0, err, sizeof(err));
	cr_assert(ctx, "%s", err);
	long page = sysconf(_SC_PAGESIZE);
	size_t sizes[] = { 1, 100, 4097, 1 << 20 };
	for (size_t i = 0; i < 4; i++) {
		void *p;
		pn_tp_mr *mr;
		cr_assert_eq(pn_tp_alloc(ctx, sizes[i], PN_ACCESS_REMOTE_READ, &p, &mr), 0, "%s", pn_tp_errmsg(ctx));
		cr_assert_eq((uintptr_t)p % (uintptr_t)page, 0, "alloc(%zu) not page-aligned", sizes[i]);
		pn_mr_desc d;
		pn_tp_mr_get_desc(mr, &d);
		cr_assert_eq(d.addr, (uint64_t)(uintptr_t)p, "verbs descriptors carry the virtual address");
		cr_assert_eq(d.key, ((struct verbs_mr *)mr)->mr->rkey);
		cr_assert_eq(pn_tp_deregister(mr), 0);
	}
	pn_tp_close(ctx);
}

/* 4 KiB pieces through an 8-slot send queue: a 1 MiB read is 256 pieces, most of them
 * unsignalled, issued as earlier ones retire; many reads queue in software. */
Test(verbs_reads, split_into_many_pieces_through_a_tiny_send_queue, .timeout = 120)
{
	static char opts[256];
	snprintf(opts, sizeof(opts), "dev=%s;max_msg=4K;sq_reads=8;ctrl_depth=4", dev());
	const size_t len = 1 << 20;
	struct target_args a = { .opts = opts, .len = len };
	struct job j;
	start(&j, 1, opts, 8, &a);
	void *land;
	pn_tp_mr *lmr;
	cr_assert_eq(pn_tp_alloc(j.ctx, 2 * len, PN_ACCESS_LOCAL_WRITE, &land, &lmr), 0);
	uint8_t *l = land;
	/* one whole-region read, then odd sizes at odd offsets, 8 in flight, refilled */
	struct { size_t loff, roff, n; } rd[40];
	rd[0].loff = 0, rd[0].roff = 0, rd[0].n = len;
	size_t at = len;
	for (int i = 1; i < 40; i++) {
		rd[i].n = 1 + (size_t)i * 7919 % 20000;
		rd[i].roff = (size_t)i * 104729 % (len - rd[i].n);
		rd[i].loff = at;
		at += rd[i].n;
	}
	cr_assert_leq(at, 2 * len);
	memset(l, 0xee, 2 * len);
	int posted = 0, done = 0, eagain = 0;
	while (done < 40) {
		while (posted < 40) {
			int rc = pn_tp_post_read(j.peer[1], lmr, rd[posted].loff, &j.desc[1], rd[posted].roff,
						 rd[posted].n, (uint64_t)posted);
			if (rc == -EAGAIN) {
				eagain++;
				break;
			}
			cr_assert_eq(rc, 0, "%s", pn_tp_errmsg(j.ctx));
			posted++;
		}
		pn_tp_completion c = wait_one(j.ctx);
		cr_assert_eq(c.event, PN_TP_READ_DONE);
		cr_assert_eq(c.status, 0, "read %llu: %d (%s)", (unsigned long long)c.cookie, c.status,
			     pn_tp_errmsg(j.ctx));
		cr_assert_eq(c.len, rd[c.cookie].n);
		done++;
	}
	cr_assert_gt(eagain, 0, "8 reads in flight were never exceeded");
	for (int i = 0; i < 40; i++)
		for (size_t k = 0; k < rd[i].n; k++)
			cr_assert_eq(l[rd[i].loff + k], pattern(rd[i].roff + k, 1), "read %d byte %zu", i, k);
	pn_tp_stats s;
	pn_tp_get_stats(j.ctx, &s);
	size_t total = 0;
	for (int i = 0; i < 40; i++)
		total += rd[i].n;
	cr_assert_eq(s.reads_completed, 40);
	cr_assert_eq(s.bytes_read, total);
	pn_tp_deregister(lmr);
	finish(&j);
}

/* Four receive buffers per side: 600 messages queued at once in each direction must
 * all arrive, in order, without RNR errors or -EAGAIN. */
Test(verbs_ctrl, credits_with_a_window_of_four, .timeout = 120)
{
	static char opts[256];
	snprintf(opts, sizeof(opts), "dev=%s;ctrl_depth=4", dev());
	struct target_args a = { .opts = opts, .len = 4096 };
	struct job j;
	start(&j, 1, opts, 0, &a);
	enum { N = 600 };
	for (uint32_t i = 0; i < N; i++) {
		uint8_t m[PN_TP_CTRL_MAX] = { MSG_ECHO };
		size_t len = 5 + i % (PN_TP_CTRL_MAX - 4);
		memcpy(m + 1, &i, 4);
		memset(m + 5, (int)(i & 0xff), len - 5);
		cr_assert_eq(pn_tp_send_ctrl(j.peer[1], m, len), 0, "message %u: %s", i, pn_tp_errmsg(j.ctx));
	}
	for (uint32_t i = 0; i < N; i++) {
		pn_tp_completion c = wait_one(j.ctx);
		cr_assert_eq(c.event, PN_TP_CTRL_RECV, "event %d status %d", c.event, c.status);
		const uint8_t *m = c.data;
		uint32_t seq;
		memcpy(&seq, m + 1, 4);
		cr_assert_eq(seq, i, "echo out of order");
		cr_assert_eq(c.len, 5 + i % (PN_TP_CTRL_MAX - 4));
		for (size_t k = 5; k < c.len; k++)
			cr_assert_eq(m[k], (uint8_t)(i & 0xff));
	}
	pn_tp_stats s;
	pn_tp_get_stats(j.ctx, &s);
	cr_assert_eq(s.ctrl_sent, N);
	cr_assert_eq(s.ctrl_recv, N + 1, "echoes + the descriptor");
	finish(&j);
}

/* A read the NIC refuses (the rkey was announced, then invalidated behind the
 * backend's back) puts that QP in the error state: its reads fail, the peer goes down
 * with the work completion's status text, and the other peer keeps serving. */
Test(verbs_faults, work_completion_error_downs_one_peer_only, .timeout = 120)
{
	static char opts[256];
	snprintf(opts, sizeof(opts), "dev=%s", dev());
	const size_t len = 256 * 1024;
	struct target_args a = { .opts = opts, .len = len };
	struct job j;
	start(&j, 2, opts, 0, &a);
	void *land;
	pn_tp_mr *lmr;
	cr_assert_eq(pn_tp_alloc(j.ctx, len, PN_ACCESS_LOCAL_WRITE, &land, &lmr), 0);
	cr_assert_eq(pn_tp_send_ctrl(j.peer[1], (uint8_t[]){ MSG_BREAK_MR }, 1), 0);
	pn_tp_completion c = wait_one(j.ctx);
	cr_assert(c.event == PN_TP_CTRL_RECV && ((const uint8_t *)c.data)[0] == MSG_BROKEN);

	cr_assert_eq(pn_tp_post_read(j.peer[1], lmr, 0, &j.desc[1], 0, len, 1), 0, "%s", pn_tp_errmsg(j.ctx));
	c = wait_one(j.ctx);
	cr_assert_eq(c.event, PN_TP_READ_DONE);
	cr_assert_eq(c.cookie, 1);
	cr_assert_lt(c.status, 0, "a read of an invalidated rkey succeeded");
	c = wait_one(j.ctx);
	cr_assert_eq(c.event, PN_TP_PEER_DOWN);
	cr_assert_eq(c.peer_id, 1);
	cr_assert_eq(c.status, -EACCES, "status %d", c.status);
	cr_assert(strstr(pn_tp_errmsg(j.ctx), ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR)),
		  "message '%s' lacks the work completion status", pn_tp_errmsg(j.ctx));
	cr_assert_lt(pn_tp_post_read(j.peer[1], lmr, 0, &j.desc[1], 0, 8, 2), 0);

	cr_assert_eq(pn_tp_post_read(j.peer[2], lmr, 0, &j.desc[2], 0, len, 3), 0, "%s", pn_tp_errmsg(j.ctx));
	c = wait_one(j.ctx);
	cr_assert(c.event == PN_TP_READ_DONE && c.cookie == 3 && c.status == 0, "survivor: event %d status %d",
		  c.event, c.status);
	for (size_t k = 0; k < len; k++)
		cr_assert_eq(((uint8_t *)land)[k], pattern(k, 2));
	pn_tp_stats s;
	pn_tp_get_stats(j.ctx, &s);
	cr_assert_eq(s.reads_failed, 1);
	cr_assert_eq(s.reads_completed, 1);
	pn_tp_deregister(lmr);
	finish(&j);
}

/* Close with reads outstanding to a frozen target and control messages queued: the
 * context must come back (the QP is destroyed, not drained). Their landing region
 * cannot be deregistered meanwhile. */
Test(verbs_faults, close_with_reads_outstanding_to_a_frozen_peer, .timeout = 120)
{
	static char opts[256];
	snprintf(opts, sizeof(opts), "dev=%s;ctrl_depth=4", dev());
	const size_t len = 8 << 20;
	struct target_args a = { .opts = opts, .len = len };
	struct job j;
	start(&j, 1, opts, 0, &a);
	void *land;
	pn_tp_mr *lmr;
	cr_assert_eq(pn_tp_alloc(j.ctx, len, PN_ACCESS_LOCAL_WRITE, &land, &lmr), 0);
	cr_assert_eq(kill(j.pid[1], SIGSTOP), 0);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(pn_tp_post_read(j.peer[1], lmr, 0, &j.desc[1], 0, len, (uint64_t)i), 0);
	for (int i = 0; i < 32; i++)
		cr_assert_eq(pn_tp_send_ctrl(j.peer[1], (uint8_t[]){ MSG_ECHO, 1, 2, 3, 4 }, 5), 0,
			     "%s", pn_tp_errmsg(j.ctx));
	cr_assert_eq(pn_tp_deregister(lmr), -EBUSY, "deregistered a region reads are landing in");
	pn_tp_close(j.ctx); /* must return; the test's timeout is the hang guard */
	kill(j.pid[1], SIGKILL);
	int st = reap(j.pid[1]);
	cr_assert(WIFSIGNALED(st));
}

/* ------------------------------------------------------------------ authentication */

/* Fork one child that runs fn(listen address) and exits with its status; open rank 0,
 * listen, then tell the child where. */
typedef int (*child_fn)(const char *to);

static pid_t fork_child(child_fn fn, pn_tp_ctx **ctx_out)
{
	int fds[2];
	cr_assert(pipe(fds) == 0);
	(void)dev();
	fflush(NULL);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(400);
		close(fds[1]);
		char to[128] = "";
		size_t got = 0;
		while (got + 1 < sizeof(to) && read(fds[0], to + got, 1) == 1 && to[got] != '\n')
			got++;
		to[got] = '\0';
		int rc = fn(to);
		fflush(NULL);
		_exit(rc);
	}
	close(fds[0]);
	char err[512], l[96], a0[128];
	*ctx_out = open_ctx(0, "", 0, err, sizeof(err));
	cr_assert(*ctx_out, "open: %s", err);
	snprintf(l, sizeof(l), "%s:0", addr());
	cr_assert_eq(pn_tp_listen(*ctx_out, l), 0, "%s", pn_tp_errmsg(*ctx_out));
	cr_assert_eq(pn_tp_local_addr(*ctx_out, a0, sizeof(a0)), 0);
	dprintf(fds[1], "%s\n", a0);
	close(fds[1]);
	return pid;
}

enum { CONNECTS = 100 };

/* Connect, send one message at once, wait for its answer (no retry: a lost first
 * message fails the test), disconnect; CONNECTS times. */
static int connect_loop_main(const char *to)
{
	char err[512];
	pn_tp_ctx *ctx = open_ctx(1, "", 0, err, sizeof(err));
	if (!ctx) {
		fprintf(stderr, "child: open: %s\n", err);
		return 2;
	}
	for (uint32_t i = 0; i < CONNECTS; i++) {
		pn_tp_peer *p;
		if (pn_tp_connect(ctx, to, &p, WAIT_MS) != 0) {
			fprintf(stderr, "child: connect %u: %s\n", i, pn_tp_errmsg(ctx));
			return 1;
		}
		uint8_t m[5] = { 'F' };
		memcpy(m + 1, &i, 4);
		if (pn_tp_send_ctrl(p, m, sizeof(m)) != 0) {
			fprintf(stderr, "child: send %u: %s\n", i, pn_tp_errmsg(ctx));
			return 1;
		}
		bool answered = false;
		for (int waited = 0; !answered && waited < 30000; waited += 100) {
			pn_tp_completion c;
			int n = pn_tp_poll(ctx, &c, 1, 100);
			if (n < 0 || (n == 1 && c.event == PN_TP_PEER_DOWN && c.peer == p)) {
				fprintf(stderr, "child: connection %u lost before the answer\n", i);
				return 1;
			}
			answered = n == 1 && c.event == PN_TP_CTRL_RECV && c.peer == p && c.len == 5 &&
				   ((const uint8_t *)c.data)[0] == 'A' && !memcmp((const uint8_t *)c.data + 1, &i, 4);
		}
		if (!answered) {
			fprintf(stderr, "child: the first message of connection %u was never answered\n", i);
			return 1;
		}
		pn_tp_disconnect(p);
	}
	pn_tp_close(ctx);
	return 0;
}

/* Issue 15 item 12: every connection delivers its first control message, even to a
 * listener that polls accept with a short timeout (as the job's aggregator does) while a
 * connection is still being established. The message is also the one right behind the
 * requester's proof, so the handshake itself is exercised CONNECTS times. */
Test(verbs_auth, hundred_connects_all_deliver_their_first_message, .timeout = 400)
{
	pn_tp_ctx *ctx;
	pid_t pid = fork_child(connect_loop_main, &ctx);
	uint32_t next = 0;
	int accepted = 0;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (next < CONNECTS) {
		pn_tp_peer *p = NULL;
		int rc = pn_tp_accept(ctx, &p, 20);
		cr_assert(rc == 0 || rc == -ETIMEDOUT, "accept: %s", pn_tp_errmsg(ctx));
		accepted += rc == 0;
		pn_tp_completion c[8];
		int n = pn_tp_poll(ctx, c, 8, 0);
		cr_assert_geq(n, 0, "poll: %s", pn_tp_errmsg(ctx));
		for (int k = 0; k < n; k++) {
			if (c[k].event != PN_TP_CTRL_RECV)
				continue;
			const uint8_t *m = c[k].data;
			uint32_t i;
			cr_assert_eq(c[k].len, 5);
			cr_assert_eq(m[0], 'F');
			memcpy(&i, m + 1, 4);
			cr_assert_eq(i, next, "first message %u, expected %u", i, next);
			uint8_t a[5] = { 'A' };
			memcpy(a + 1, &i, 4);
			cr_assert_eq(send_retry(ctx, c[k].peer, a, sizeof(a)), 0, "%s", pn_tp_errmsg(ctx));
			next++;
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			cr_assert_fail("the connecting child exited (status 0x%x) after %u messages", st, next);
		clock_gettime(CLOCK_MONOTONIC, &t);
		cr_assert_lt(t.tv_sec - t0.tv_sec, 360, "hang guard: %u of %d first messages", next, CONNECTS);
	}
	int st = reap(pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child exit status 0x%x", st);
	pn_tp_stats s;
	pn_tp_get_stats(ctx, &s);
	cr_assert_eq(s.drop_bad_token, 0);
	cr_assert_eq(s.drop_malformed, 0);
	pn_tp_close(ctx);
}

/* A client that speaks rdma_cm but not our protocol: CONNECT with random private data. */
static int garbage_connect_main(const char *to)
{
	char host[96], port[16];
	if (pn_addr_split(to, host, sizeof(host), port, sizeof(port)) != 0)
		return 2;
	struct rdma_event_channel *ec = rdma_create_event_channel();
	struct rdma_cm_id *id;
	struct addrinfo *ai;
	if (!ec || rdma_create_id(ec, &id, NULL, RDMA_PS_TCP) || getaddrinfo(host, port, NULL, &ai))
		return 2;
	struct rdma_cm_event *ev;
	int rc = rdma_resolve_addr(id, NULL, ai->ai_addr, 5000);
	if (rc || rdma_get_cm_event(ec, &ev) || ev->event != RDMA_CM_EVENT_ADDR_RESOLVED)
		return 3;
	rdma_ack_cm_event(ev);
	if (rdma_resolve_route(id, 5000) || rdma_get_cm_event(ec, &ev) || ev->event != RDMA_CM_EVENT_ROUTE_RESOLVED)
		return 4;
	rdma_ack_cm_event(ev);
	struct ibv_qp_init_attr qa = { .cap = { .max_send_wr = 1, .max_recv_wr = 1, .max_send_sge = 1, .max_recv_sge = 1 },
				       .qp_type = IBV_QPT_RC };
	if (rdma_create_qp(id, NULL, &qa))
		return 5;
	uint8_t junk[56];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 73 + 11);
	struct rdma_conn_param cp = { .private_data = junk, .private_data_len = sizeof(junk),
				      .responder_resources = 1, .initiator_depth = 1, .retry_count = 7 };
	if (rdma_connect(id, &cp) || rdma_get_cm_event(ec, &ev))
		return 6;
	/* refused, with a reason and nothing else: magic, version, "malformed", zeros */
	int ok = ev->event == RDMA_CM_EVENT_REJECTED;
	const uint8_t *pd = ev->param.conn.private_data;
	uint8_t want[VERBS_HELLO_SIZE] = { 0x50, 0x4e, 0x52, 0x50, VERBS_HELLO_VERSION, 0, 0, 0, 0, 0, 0, 0,
					   VERBS_REJ_MALFORMED };
	if (ok && (!pd || ev->param.conn.private_data_len < VERBS_HELLO_SIZE || memcmp(pd, want, sizeof(want)))) {
		fprintf(stderr, "child: the rejection carries more than the reason\n");
		ok = 0;
	}
	rdma_ack_cm_event(ev);
	rdma_destroy_qp(id);
	rdma_destroy_id(id);
	rdma_destroy_event_channel(ec);
	freeaddrinfo(ai);
	return ok ? 0 : 7;
}

/* The garbage client, then (same process, new context) a good peer that must still get
 * through and be answered. */
static int garbage_then_good_main(const char *to)
{
	int rc = garbage_connect_main(to);
	if (rc)
		return rc;
	char err[512];
	pn_tp_ctx *ctx = open_ctx(2, "", 0, err, sizeof(err));
	pn_tp_peer *p;
	if (!ctx || pn_tp_connect(ctx, to, &p, WAIT_MS) != 0 || send_retry(ctx, p, "G", 1) != 0) {
		fprintf(stderr, "child: good peer: %s\n", ctx ? pn_tp_errmsg(ctx) : err);
		return 8;
	}
	for (int waited = 0; waited < WAIT_MS; waited += 100) {
		pn_tp_completion c;
		if (pn_tp_poll(ctx, &c, 1, 100) == 1 && c.event == PN_TP_CTRL_RECV && c.len == 1 &&
		    ((const uint8_t *)c.data)[0] == 'g') {
			pn_tp_close(ctx);
			return 0;
		}
	}
	return 9;
}

Test(verbs_auth, garbage_connect_is_rejected_and_counted_then_a_good_peer_connects, .timeout = 120)
{
	pn_tp_ctx *ctx;
	pid_t pid = fork_child(garbage_then_good_main, &ctx);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pn_tp_peer *p = NULL;
	for (;;) {
		int rc = pn_tp_accept(ctx, &p, 100);
		if (rc == 0)
			break;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			cr_assert_fail("the child exited (status 0x%x) before a good peer was accepted", st);
		clock_gettime(CLOCK_MONOTONIC, &t);
		cr_assert_lt(t.tv_sec - t0.tv_sec, 90, "hang guard");
	}
	cr_assert_eq(pn_tp_peer_id(p), 2, "accepted node %u: the garbage client got in?", pn_tp_peer_id(p));
	pn_tp_completion c = wait_one(ctx);
	cr_assert_eq(c.event, PN_TP_CTRL_RECV);
	cr_assert_eq(((const uint8_t *)c.data)[0], 'G');
	cr_assert_eq(send_retry(ctx, p, "g", 1), 0);
	int st = reap(pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status 0x%x", st);
	pn_tp_stats s;
	pn_tp_get_stats(ctx, &s);
	cr_assert_eq(s.drop_malformed, 1);
	cr_assert_eq(s.drop_bad_token, 0);
	pn_tp_close(ctx);
}

/* A client that gets through rdma_cm with a well-formed hello, then sends a proof that
 * is not one (it does not know the secret): the listener must disconnect it, count it,
 * and never hand it out. */
static int bad_proof_main(const char *to)
{
	char host[96], port[16];
	if (pn_addr_split(to, host, sizeof(host), port, sizeof(port)) != 0)
		return 2;
	struct rdma_event_channel *ec = rdma_create_event_channel();
	struct rdma_cm_id *id;
	struct addrinfo *ai;
	if (!ec || rdma_create_id(ec, &id, NULL, RDMA_PS_TCP) || getaddrinfo(host, port, NULL, &ai))
		return 2;
	struct rdma_cm_event *ev;
	if (rdma_resolve_addr(id, NULL, ai->ai_addr, 5000) || rdma_get_cm_event(ec, &ev) ||
	    ev->event != RDMA_CM_EVENT_ADDR_RESOLVED)
		return 3;
	rdma_ack_cm_event(ev);
	if (rdma_resolve_route(id, 5000) || rdma_get_cm_event(ec, &ev) || ev->event != RDMA_CM_EVENT_ROUTE_RESOLVED)
		return 4;
	rdma_ack_cm_event(ev);
	struct ibv_qp_init_attr qa = { .cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1 },
				       .qp_type = IBV_QPT_RC, .sq_sig_all = 1 };
	if (rdma_create_qp(id, NULL, &qa))
		return 5;
	struct verbs_hello h = { .magic = VERBS_HELLO_MAGIC, .version = VERBS_HELLO_VERSION, .ctrl_depth = 4,
				 .node_id = 7 };
	memset(h.nonce, 0x33, sizeof(h.nonce));
	uint8_t pd[VERBS_ACCEPT_SIZE];
	verbs_hello_pack(&h, false, pd);
	struct rdma_conn_param cp = { .private_data = pd, .private_data_len = VERBS_HELLO_SIZE,
				      .responder_resources = 1, .initiator_depth = 1, .retry_count = 7,
				      .rnr_retry_count = 7 };
	if (rdma_connect(id, &cp) || rdma_get_cm_event(ec, &ev))
		return 6;
	int est = ev->event == RDMA_CM_EVENT_ESTABLISHED;
	rdma_ack_cm_event(ev);
	if (!est)
		return 7;
	/* the proof message: type AUTH, 32 bytes, no credits; the bytes are made up */
	static uint8_t msg[VERBS_CTRL_HDR + VERBS_PROOF_LEN];
	msg[0] = VERBS_MSG_AUTH;
	msg[2] = VERBS_PROOF_LEN;
	memset(msg + VERBS_CTRL_HDR, 0x44, VERBS_PROOF_LEN);
	struct ibv_mr *mr = ibv_reg_mr(id->pd, msg, sizeof(msg), IBV_ACCESS_LOCAL_WRITE);
	if (!mr)
		return 8;
	struct ibv_sge sge = { .addr = (uintptr_t)msg, .length = sizeof(msg), .lkey = mr->lkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;
	if (ibv_post_send(id->qp, &wr, &bad))
		return 9;
	/* the listener must hang up on us */
	int rc = rdma_get_cm_event(ec, &ev);
	int disconnected = rc == 0 && ev->event == RDMA_CM_EVENT_DISCONNECTED;
	if (rc == 0)
		rdma_ack_cm_event(ev);
	if (!disconnected)
		fprintf(stderr, "child: expected DISCONNECTED, got %s\n", rc ? "nothing" : rdma_event_str(ev->event));
	rdma_disconnect(id);
	rdma_destroy_qp(id);
	ibv_dereg_mr(mr);
	rdma_destroy_id(id);
	rdma_destroy_event_channel(ec);
	freeaddrinfo(ai);
	return disconnected ? 0 : 10;
}

Test(verbs_auth, wrong_proof_is_disconnected_counted_and_never_accepted, .timeout = 120)
{
	pn_tp_ctx *ctx;
	pid_t pid = fork_child(bad_proof_main, &ctx);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int st = 0;
	for (;;) {
		pn_tp_peer *p = NULL;
		int rc = pn_tp_accept(ctx, &p, 100);
		cr_assert_lt(rc, 0, "a peer with a wrong proof was accepted (id %u)", pn_tp_peer_id(p));
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		cr_assert_lt(t.tv_sec - t0.tv_sec, 90, "hang guard");
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bad-proof client: status 0x%x", st);
	pn_tp_stats s;
	pn_tp_get_stats(ctx, &s);
	cr_assert_eq(s.drop_bad_token, 1);
	cr_assert_eq(s.ctrl_recv, 0);
	pn_tp_close(ctx);
}
