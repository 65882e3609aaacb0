/* The target job of the verbs tests: n forked targets, each exposing one REMOTE_READ
 * region filled with pattern(off, rank), and rank 0 holding their descriptors. */
#include "verbs_test.h"

#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_FAIL(...)                           \
	do {                                      \
		fprintf(stderr, "target: ");      \
		fprintf(stderr, __VA_ARGS__);     \
		fputc('\n', stderr);              \
		_exit(1);                         \
	} while (0)

struct target_start {
	uint32_t rank;
	const struct target_args *a;
};

/* Up to max completions within a second; a failed poll ends the target. */
static int target_poll(pn_tp_ctx *ctx, pn_tp_completion *c, int max)
{
	int n = pn_tp_poll(ctx, c, max, 1000);
	if (n < 0)
		CHILD_FAIL("poll: %s", pn_tp_errmsg(ctx));
	return n;
}

/* Connect to rank 0, expose one REMOTE_READ region with the pattern, echo control
 * messages, break the region's NIC registration on request, exit on quit or when
 * rank 0 goes away. */
static int target_main(const char *to, const void *arg)
{
	const struct target_start *ts = arg;
	uint32_t rank = ts->rank;
	const struct target_args *a = ts->a;
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
		int n = target_poll(ctx, c, 8);
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

void start(struct job *j, int n, const char *more_opts, uint32_t reads_in_flight, size_t len)
{
	memset(j, 0, sizeof(*j));
	j->n = n;
	snprintf(j->opts, sizeof(j->opts), "dev=%s%s", dev(), more_opts);
	(void)addr();
	j->a = (struct target_args){ .opts = j->opts, .len = len };
	const struct target_args *a = &j->a;
	const char *opts = j->opts;
	int wfd[4];
	for (int r = 1; r <= n; r++) {
		struct target_start ts = { .rank = (uint32_t)r, .a = a };
		j->pid[r] = fork_with_address(target_main, &ts, 300, &wfd[r - 1]);
	}
	j->ctx = open_listener(opts, reads_in_flight, wfd, n);
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

pn_tp_mr *landing(struct job *j, size_t len, void **buf)
{
	pn_tp_mr *mr;
	cr_assert_eq(pn_tp_alloc(j->ctx, len, PN_ACCESS_LOCAL_WRITE, buf, &mr), 0, "%s", pn_tp_errmsg(j->ctx));
	return mr;
}

void finish(struct job *j)
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
