/* Conformance: failures. A peer killed mid-read fails its reads then reports PEER_DOWN,
 * without a hang and without disturbing other peers; disconnect cancels reads; a wrong
 * job token never becomes a peer. */
#include "harness.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define MiB (1024u * 1024u)

/* Freeze a target so nothing it would serve can be served: reads posted now are
 * outstanding for sure. */
static void freeze(struct conf_job *job, uint32_t rank)
{
	cr_assert_eq(kill(job->pid[rank], SIGSTOP), 0);
	int st;
	cr_assert_eq(waitpid(job->pid[rank], &st, WUNTRACED), job->pid[rank]);
	cr_assert(WIFSTOPPED(st));
}

Test(faults, killed_peer_fails_reads_then_goes_down, .timeout = 120)
{
	enum { DEAD_READS = 8, LIVE_READS = 4 };
	const size_t region = 16 * MiB;
	struct conf_target_spec spec = { .len = region };
	struct conf_job job;
	pn_tp_mr *lmr;
	void *land = conf_start_reader(&job, 2, &spec, 2 * region, &lmr);
	freeze(&job, 1);
	for (int i = 0; i < DEAD_READS; i++) /* all land on the same area: only errors matter */
		cr_assert_eq(pn_tp_post_read(job.peer[1], lmr, 0, &job.desc[1][0], 0, region, 100 + (uint64_t)i), 0);
	for (int i = 0; i < LIVE_READS; i++)
		cr_assert_eq(pn_tp_post_read(job.peer[2], lmr, region + (size_t)i * (region / LIVE_READS),
					     &job.desc[2][0], (uint64_t)i * (region / LIVE_READS),
					     region / LIVE_READS, 200 + (uint64_t)i), 0);
	cr_assert_eq(kill(job.pid[1], SIGKILL), 0);
	/* A CPU responder is frozen: none of its reads can succeed. A NIC responder (verbs)
	 * keeps serving the frozen process's registered memory until the kernel tears the
	 * QP down after the kill (~1 s on rxe), so some of those reads legitimately land
	 * with real data: one-sided semantics. Either way every read completes, then exactly
	 * one PEER_DOWN, and nothing after it. */
	const bool cpu = conf_responder_is_cpu();
	int dead_done = 0, dead_ok = 0, live_done = 0, down = 0;
	while (dead_done < DEAD_READS || live_done < LIVE_READS || !down) {
		pn_tp_completion c;
		conf_poll_one(job.ctx, &c);
		if (c.event == PN_TP_PEER_DOWN) {
			cr_assert_eq(c.peer_id, 1, "peer %u went down too", c.peer_id);
			cr_assert_eq(dead_done, DEAD_READS, "PEER_DOWN before all its reads completed");
			cr_assert_lt(c.status, 0);
			down++;
			continue;
		}
		cr_assert_eq(c.event, PN_TP_READ_DONE, "event %d", c.event);
		if (c.cookie >= 200) {
			cr_assert_eq(c.peer_id, 2);
			cr_assert_eq(c.status, 0, "read from the live peer failed: %d", c.status);
			live_done++;
		} else {
			cr_assert(c.cookie >= 100 && c.cookie < 100 + DEAD_READS);
			cr_assert_eq(c.peer_id, 1);
			if (cpu)
				cr_assert_lt(c.status, 0, "read %llu from a frozen, killed peer succeeded",
					     (unsigned long long)c.cookie);
			else
				cr_assert_leq(c.status, 0);
			cr_assert_eq(down, 0, "read completion after PEER_DOWN");
			dead_ok += c.status == 0;
			dead_done++;
		}
	}
	cr_assert_eq(down, 1);
	cr_assert_eq(pattern_check((uint8_t *)land + region, region, 2, 0), SIZE_MAX);
	if (dead_ok) /* what the NIC served before the teardown is the peer's real data */
		cr_assert_eq(pattern_check(land, region, 1, 0), SIZE_MAX,
			     "a read served from the killed peer is not its data");
	cr_assert_lt(pn_tp_post_read(job.peer[1], lmr, 0, &job.desc[1][0], 0, 8, 999), 0);
	cr_assert_lt(pn_tp_send_ctrl(job.peer[1], "Q", 1), 0);
	int st = conf_reap(&job, 1);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* The survivor still serves. */
	cr_assert_eq(pn_tp_post_read(job.peer[2], lmr, 0, &job.desc[2][0], 0, region, 300), 0);
	cr_assert_eq(conf_wait_read(job.ctx, 300), 0);
	cr_assert_eq(pattern_check(land, region, 2, 0), SIZE_MAX);
	pn_tp_stats s;
	pn_tp_get_stats(job.ctx, &s);
	cr_assert_eq(s.reads_failed, (uint64_t)(DEAD_READS - dead_ok));
	cr_assert_eq(s.reads_completed, (uint64_t)(LIVE_READS + 1 + dead_ok));
	pn_tp_deregister(lmr);
	conf_finish(&job);
}

Test(faults, disconnect_cancels_outstanding_reads, .timeout = 60)
{
	struct conf_target_spec spec = { .len = 4 * MiB };
	struct conf_job job;
	pn_tp_mr *lmr;
	conf_start_reader(&job, 1, &spec, spec.len, &lmr);
	freeze(&job, 1);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pn_tp_post_read(job.peer[1], lmr, 0, &job.desc[1][0], 0, spec.len, (uint64_t)i), 0);
	cr_assert_eq(pn_tp_disconnect(job.peer[1]), 0);
	for (int i = 0; i < 4; i++) {
		pn_tp_completion c;
		conf_poll_one(job.ctx, &c);
		cr_assert_eq(c.event, PN_TP_READ_DONE);
		cr_assert_eq(c.status, -ECANCELED, "read %llu: status %d", (unsigned long long)c.cookie, c.status);
	}
	cr_assert_lt(pn_tp_post_read(job.peer[1], lmr, 0, &job.desc[1][0], 0, 8, 9), 0);
	kill(job.pid[1], SIGKILL);
	conf_reap(&job, 1);
	pn_tp_deregister(lmr);
	conf_finish(&job);
}

static int wrong_token_main(uint32_t rank, const char *addr, const void *arg)
{
	(void)arg;
	pn_tp_ctx *ctx = conf_open(rank, "another job's secret");
	if (!ctx)
		return 2;
	pn_tp_peer *peer = NULL;
	int rc = pn_tp_connect(ctx, addr, &peer, conf_deadline_ms());
	pn_tp_close(ctx);
	return rc < 0 && peer == NULL ? 0 : 1; /* 0: we were turned away, as we should be */
}

Test(faults, wrong_job_token_is_rejected, .timeout = 60)
{
	static const struct conf_target_spec spec = { .len = 4096 };
	conf_child_fn fns[2] = { wrong_token_main, conf_target_main };
	const void *args[2] = { NULL, &spec };
	struct conf_job job;
	conf_spawn_roles(&job, 2, fns, args);
	conf_tell_rank(&job, 1);
	/* Keep accepting while the impostor tries; nothing may come out of accept. */
	int st = 0;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pn_tp_peer *p = NULL;
		int rc = pn_tp_accept(job.ctx, &p, 200);
		cr_assert_lt(rc, 0, "a peer with the wrong job token was accepted (id %u)", pn_tp_peer_id(p));
		cr_assert_null(p);
		if (waitpid(job.pid[1], &st, WNOHANG) == job.pid[1])
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		cr_assert_lt((t.tv_sec - t0.tv_sec) * 1000, conf_deadline_ms(), "impostor never finished (hang guard)");
	}
	job.pid[1] = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "impostor was not turned away (status 0x%x)", st);
	pn_tp_stats s;
	pn_tp_get_stats(job.ctx, &s);
	cr_assert_eq(s.drop_bad_token, 1);
	/* The listener still works for a legitimate peer. */
	conf_tell_rank(&job, 2);
	pn_tp_peer *p;
	cr_assert_eq(pn_tp_accept(job.ctx, &p, conf_deadline_ms()), 0, "%s", pn_tp_errmsg(job.ctx));
	cr_assert_eq(pn_tp_peer_id(p), 2);
	job.peer[2] = p;
	pn_tp_completion c;
	conf_poll_one(job.ctx, &c); /* its descriptor */
	cr_assert_eq(c.event, PN_TP_CTRL_RECV);
	cr_assert_eq(c.peer_id, 2);
	conf_finish(&job);
}
