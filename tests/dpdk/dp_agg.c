/* Aggregator helpers for the multi-process dpdk tests (see dp_agg.h). */
#include "dp_agg.h"
#include "dp_test_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define CTRL_TIMEOUT_MS 20000

static pid_t live[16];
static int nlive;

void dpt_spawn(struct dpt_worker *w, const char *prefix, const char *options)
{
	const char *peer = getenv("PN_DPT_PEER");
	cr_assert_not_null(peer, "PN_DPT_PEER (path of pn-dpdk-peer) is not set");
	char *argv[32];
	int n = 0;
	char pre[256] = "";
	if (prefix)
		snprintf(pre, sizeof pre, "%s", prefix);
	for (char *save = NULL, *t = strtok_r(pre, " ", &save); t && n < 16; t = strtok_r(NULL, " ", &save))
		argv[n++] = t;
	char node[16], size[32], seed[32];
	snprintf(node, sizeof node, "%u", w->node);
	snprintf(size, sizeof size, "%zu", w->size);
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)w->seed);
	argv[n++] = (char *)peer;
	argv[n++] = "--options"; argv[n++] = (char *)options;
	argv[n++] = "--listen"; argv[n++] = w->addr;
	argv[n++] = "--node"; argv[n++] = node;
	argv[n++] = "--size"; argv[n++] = size;
	argv[n++] = "--seed"; argv[n++] = seed;
	argv[n] = NULL;
	setenv("PN_DPT_SECRET", DPT_SECRET, 1);
	int rc = posix_spawnp(&w->pid, argv[0], NULL, NULL, argv, environ);
	cr_assert_eq(rc, 0, "cannot start %s: %s", argv[0], strerror(rc));
	live[nlive++] = w->pid;
}

size_t dpt_wait_ctrl(pn_tp_ctx *ctx, pn_tp_peer *p, void *buf, size_t cap)
{
	for (;;) {
		pn_tp_completion c;
		int k = pn_tp_poll(ctx, &c, 1, CTRL_TIMEOUT_MS);
		cr_assert_eq(k, 1, "no control message from peer %u within %d ms", pn_tp_peer_id(p), CTRL_TIMEOUT_MS);
		cr_assert_neq(c.event, PN_TP_PEER_DOWN, "peer %u went down", c.peer_id);
		if (c.event == PN_TP_CTRL_RECV && c.peer == p) {
			cr_assert_leq(c.len, cap);
			memcpy(buf, c.data, c.len);
			return c.len;
		}
	}
}

void dpt_connect_all(pn_tp_ctx *ctx, struct dpt_worker *w, int n)
{
	for (int i = 0; i < n; i++) {
		int rc = pn_tp_connect(ctx, w[i].addr, &w[i].peer, 20000);
		cr_assert_eq(rc, 0, "connect %s: %s", w[i].addr, pn_tp_errmsg(ctx));
		cr_assert_eq(pn_tp_peer_id(w[i].peer), w[i].node);
	}
	/* DESC messages arrive in any order */
	for (int got = 0; got < n;) {
		pn_tp_completion c;
		cr_assert_eq(pn_tp_poll(ctx, &c, 1, CTRL_TIMEOUT_MS), 1, "only %d of %d workers sent DESC", got, n);
		cr_assert_eq(c.event, PN_TP_CTRL_RECV, "unexpected event %d from %u", c.event, c.peer_id);
		int i = 0;
		while (i < n && w[i].peer != c.peer)
			i++;
		cr_assert_lt(i, n, "control message from an unknown peer");
		cr_assert_eq(w[i].have_desc, 0, "second DESC from worker %u", w[i].node);
		cr_assert_eq(c.len, 4 + PN_MR_DESC_WIRE_SIZE);
		cr_assert_eq(memcmp(c.data, "DESC", 4), 0);
		pn_mr_desc_unpack((const uint8_t *)c.data + 4, &w[i].desc);
		cr_assert_eq(w[i].desc.len, w[i].size);
		cr_assert_eq(w[i].desc.owner, w[i].node);
		w[i].have_desc = 1;
		got++;
	}
}

void dpt_pull_all(pn_tp_ctx *ctx, struct dpt_worker *w, int n, int rounds)
{
	pn_tp_mr *land[DPT_MAX_WORKERS];
	void *buf[DPT_MAX_WORKERS];
	for (int i = 0; i < n; i++)
		cr_assert_eq(pn_tp_alloc(ctx, w[i].size, PN_ACCESS_LOCAL_WRITE, &buf[i], &land[i]), 0,
			     "%s", pn_tp_errmsg(ctx));
	const size_t chunk = 4 * pn_tp_preferred_chunk(ctx);
	for (int r = 0; r < rounds; r++) {
		size_t next[DPT_MAX_WORKERS] = {0};
		int outstanding = 0, more = 1;
		for (int i = 0; i < n; i++)
			memset(buf[i], 0, w[i].size);
		while (more || outstanding) {
			more = 0;
			/* interleave workers, at most 32 chunks outstanding */
			for (int i = 0; i < n; i++) {
				if (next[i] >= w[i].size || outstanding >= 32) {
					more |= next[i] < w[i].size;
					continue;
				}
				size_t len = w[i].size - next[i] < chunk ? w[i].size - next[i] : chunk;
				int rc = pn_tp_post_read(w[i].peer, land[i], next[i], &w[i].desc, next[i], len,
							 (uint64_t)i << 48 | next[i]);
				if (rc == -EAGAIN) {
					more = 1;
					continue;
				}
				cr_assert_eq(rc, 0, "post_read: %s", pn_tp_errmsg(ctx));
				next[i] += len;
				outstanding++;
				more |= next[i] < w[i].size;
			}
			pn_tp_completion c[16];
			int k = pn_tp_poll(ctx, c, 16, outstanding >= 32 || !more ? 30000 : 0);
			cr_assert(k > 0 || (more && outstanding < 32), "reads stalled (%d outstanding)", outstanding);
			for (int j = 0; j < k; j++) {
				cr_assert_neq(c[j].event, PN_TP_PEER_DOWN, "peer %u down during pull", c[j].peer_id);
				if (c[j].event != PN_TP_READ_DONE)
					continue;
				cr_assert_eq(c[j].status, 0, "read failed: %d", c[j].status);
				outstanding--;
			}
		}
		for (int i = 0; i < n; i++) {
			long bad = dpt_check(buf[i], w[i].size, w[i].seed, 0);
			cr_assert_eq(bad, -1, "round %d worker %u: byte %ld differs", r, w[i].node, bad);
		}
	}
	for (int i = 0; i < n; i++)
		cr_assert_eq(pn_tp_deregister(land[i]), 0);
}

void dpt_worker_stats(pn_tp_ctx *ctx, struct dpt_worker *w, pn_tp_stats *out)
{
	cr_assert_eq(pn_tp_send_ctrl(w->peer, "STATS", 5), 0);
	uint8_t m[PN_TP_CTRL_MAX];
	size_t len = dpt_wait_ctrl(ctx, w->peer, m, sizeof m);
	cr_assert_eq(len, 4 + sizeof *out);
	cr_assert_eq(memcmp(m, "STAT", 4), 0);
	memcpy(out, m + 4, sizeof *out);
}

void dpt_bye_all(pn_tp_ctx *ctx, struct dpt_worker *w, int n)
{
	for (int i = 0; i < n; i++)
		cr_assert_eq(pn_tp_send_ctrl(w[i].peer, "BYE", 3), 0);
	for (int got = 0; got < n;) {
		pn_tp_completion c;
		cr_assert_eq(pn_tp_poll(ctx, &c, 1, CTRL_TIMEOUT_MS), 1, "only %d of %d workers acknowledged BYE", got, n);
		cr_assert_neq(c.event, PN_TP_PEER_DOWN, "peer %u went down", c.peer_id);
		if (c.event != PN_TP_CTRL_RECV)
			continue;
		char m[PN_TP_CTRL_MAX + 1];
		memcpy(m, c.data, c.len);
		m[c.len] = 0;
		cr_assert_str_eq(m, "BYE-OK", "worker %u answered '%s'", c.peer_id, m);
		got++;
	}
}

int dpt_reap(struct dpt_worker *w, int timeout_ms)
{
	int status = 0;
	for (int t = 0; t < timeout_ms; t += 20) {
		pid_t r = waitpid(w->pid, &status, WNOHANG);
		if (r == w->pid) {
			for (int i = 0; i < nlive; i++)
				if (live[i] == w->pid)
					live[i] = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(20000);
	}
	kill(w->pid, SIGKILL);
	waitpid(w->pid, &status, 0);
	return -1;
}

void dpt_kill_all(void)
{
	for (int i = 0; i < nlive; i++)
		if (live[i] > 0) {
			kill(live[i], SIGKILL);
			waitpid(live[i], NULL, 0);
		}
	nlive = 0;
}
