/* Conformance: counters move exactly with the traffic, on both sides. (The target's
 * drop counters are checked in test_access.c, one refusal per test.) */
#include "harness.h"

#include <criterion/criterion.h>

#include <string.h>

Test(stats, counters_follow_traffic, .timeout = 60)
{
	struct conf_target_spec spec = { .len = 1024 * 1024 };
	struct conf_job job;
	pn_tp_mr *lmr;
	conf_start_reader(&job, 1, &spec, spec.len, &lmr);
	pn_tp_stats b, a, tb, ta;
	pn_tp_get_stats(job.ctx, &b);
	conf_target_stats(&job, 1, &tb);
	uint64_t sum = 0;
	for (uint64_t i = 1; i <= 10; i++) {
		size_t len = 1000 * i + 1;
		cr_assert_eq(pn_tp_post_read(job.peer[1], lmr, 0, &job.desc[1][0], 7 * i, len, i), 0);
		cr_assert_eq(conf_wait_read(job.ctx, i), 0);
		sum += len;
	}
	for (int i = 0; i < 3; i++) {
		uint8_t m[8] = { MSG_ECHO, (uint8_t)i };
		conf_send(job.peer[1], m, sizeof(m));
		pn_tp_completion c;
		conf_poll_one(job.ctx, &c);
		cr_assert_eq(c.event, PN_TP_CTRL_RECV);
	}
	conf_target_stats(&job, 1, &ta);
	/* The refused read comes last: on some backends (verbs RC) it costs the connection. */
	pn_mr_desc bad = job.desc[1][0];
	bad.key += 1;
	cr_assert_eq(pn_tp_post_read(job.peer[1], lmr, 0, &bad, 0, 100, 11), 0);
	cr_assert_lt(conf_wait_read(job.ctx, 11), 0);
	pn_tp_get_stats(job.ctx, &a);

	cr_assert_eq(a.reads_posted - b.reads_posted, 11);
	cr_assert_eq(a.reads_completed - b.reads_completed, 10);
	cr_assert_eq(a.reads_failed - b.reads_failed, 1);
	cr_assert_eq(a.bytes_read - b.bytes_read, sum);
	cr_assert_eq(a.ctrl_sent - b.ctrl_sent, 3 + 2, "3 echoes + 2 stats requests");
	cr_assert_eq(a.ctrl_recv - b.ctrl_recv, 3 + 2, "3 echoes + 2 stats replies");
	/* Target: snapshots are taken before each stats reply is sent. */
	cr_assert_eq(ta.ctrl_recv - tb.ctrl_recv, 3 + 1);
	cr_assert_eq(ta.ctrl_sent - tb.ctrl_sent, 3 + 1);
	cr_assert_eq(ta.reads_posted - tb.reads_posted, 0);
	if (conf_responder_is_cpu()) {
		cr_assert_eq(ta.bytes_served - tb.bytes_served, sum);
	} else {
		cr_assert_eq(ta.bytes_served, 0, "a NIC responder leaves bytes_served at 0");
	}
	pn_tp_deregister(lmr);
	conf_finish(&job);
}
