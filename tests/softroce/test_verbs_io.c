/* Verbs reads, credits and faults against forked targets (verbs_test_job.c): reads
 * split into many pieces through a tiny send queue, control credits with a tiny
 * window, a real work completion error taking one peer down while another keeps
 * working, and teardown with reads outstanding to a frozen peer. */
#include "verbs_test.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

/* 4 KiB pieces through an 8-slot send queue: a 1 MiB read is 256 pieces, most of them
 * unsignalled, issued as earlier ones retire; many reads queue in software. */
Test(verbs_reads, split_into_many_pieces_through_a_tiny_send_queue, .timeout = 120)
{
	const size_t len = 1 << 20;
	struct job j;
	start(&j, 1, ";max_msg=4K;sq_reads=8;ctrl_depth=4", 8, len);
	void *land;
	pn_tp_mr *lmr = landing(&j, 2 * len, &land);
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
	struct job j;
	start(&j, 1, ";ctrl_depth=4", 0, 4096);
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
	const size_t len = 256 * 1024;
	struct job j;
	start(&j, 2, "", 0, len);
	void *land;
	pn_tp_mr *lmr = landing(&j, len, &land);
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
	const size_t len = 8 << 20;
	struct job j;
	start(&j, 1, ";ctrl_depth=4", 0, len);
	void *land;
	pn_tp_mr *lmr = landing(&j, len, &land);
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
