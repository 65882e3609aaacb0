/* The verbs handshake: 100 connections in a row each deliver their first message to a
 * listener polling accept with short timeouts (issue 15 item 12), a client with garbage
 * private data is rejected with nothing but a reason, a client that sends a made-up
 * proof is disconnected and never accepted. */
#include "verbs_test.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

/* Seconds since t0 (the tests' hang guards). */
static long elapsed_s(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec - t0->tv_sec;
}

/* The child exited 0, and the listener counted these handshake drops. */
static void expect_clean_exit_and_drops(pid_t pid, pn_tp_ctx *ctx, uint64_t malformed, uint64_t bad_token)
{
	int st = reap(pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child exit status 0x%x", st);
	pn_tp_stats s;
	pn_tp_get_stats(ctx, &s);
	cr_assert_eq(s.drop_malformed, malformed);
	cr_assert_eq(s.drop_bad_token, bad_token);
}

/* Fork one child that runs fn(listen address), open rank 0 and tell the child where. */
static pid_t fork_child(child_fn fn, pn_tp_ctx **ctx_out)
{
	int wfd;
	pid_t pid = fork_with_address(fn, NULL, 400, &wfd);
	*ctx_out = open_listener("", 0, &wfd, 1);
	return pid;
}

enum { CONNECTS = 100 };

/* Connect, send one message at once, wait for its answer (no retry: a lost first
 * message fails the test), disconnect; CONNECTS times. */
static int connect_loop_main(const char *to, const void *arg)
{
	(void)arg;
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
	struct timespec t0;
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
		cr_assert_lt(elapsed_s(&t0), 360, "hang guard: %u of %d first messages", next, CONNECTS);
	}
	expect_clean_exit_and_drops(pid, ctx, 0, 0);
	pn_tp_close(ctx);
}

/* A client that speaks rdma_cm but not our protocol: CONNECT with random private data. */
static int garbage_connect_main(const char *to, const void *arg)
{
	(void)arg;
	struct ibv_qp_init_attr qa = { .cap = { .max_send_wr = 1, .max_recv_wr = 1, .max_send_sge = 1, .max_recv_sge = 1 },
				       .qp_type = IBV_QPT_RC };
	struct cm_client cm;
	int rc = cm_client_open(&cm, to, &qa);
	if (rc)
		return rc;
	uint8_t junk[56];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 73 + 11);
	struct rdma_conn_param cp = { .private_data = junk, .private_data_len = sizeof(junk),
				      .responder_resources = 1, .initiator_depth = 1, .retry_count = 7 };
	struct rdma_cm_event *ev;
	if (rdma_connect(cm.id, &cp) || rdma_get_cm_event(cm.ec, &ev))
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
	cm_client_close(&cm);
	return ok ? 0 : 7;
}

/* The garbage client, then (same process, new context) a good peer that must still get
 * through and be answered. */
static int garbage_then_good_main(const char *to, const void *arg)
{
	int rc = garbage_connect_main(to, arg);
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
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pn_tp_peer *p = NULL;
	for (;;) {
		int rc = pn_tp_accept(ctx, &p, 100);
		if (rc == 0)
			break;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			cr_assert_fail("the child exited (status 0x%x) before a good peer was accepted", st);
		cr_assert_lt(elapsed_s(&t0), 90, "hang guard");
	}
	cr_assert_eq(pn_tp_peer_id(p), 2, "accepted node %u: the garbage client got in?", pn_tp_peer_id(p));
	pn_tp_completion c = wait_one(ctx);
	cr_assert_eq(c.event, PN_TP_CTRL_RECV);
	cr_assert_eq(((const uint8_t *)c.data)[0], 'G');
	cr_assert_eq(send_retry(ctx, p, "g", 1), 0);
	expect_clean_exit_and_drops(pid, ctx, 1, 0);
	pn_tp_close(ctx);
}

/* A client that gets through rdma_cm with a well-formed hello, then sends a proof that
 * is not one (it does not know the secret): the listener must disconnect it, count it,
 * and never hand it out. */
static int bad_proof_main(const char *to, const void *arg)
{
	(void)arg;
	struct ibv_qp_init_attr qa = { .cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1 },
				       .qp_type = IBV_QPT_RC, .sq_sig_all = 1 };
	struct cm_client cm;
	int rc = cm_client_open(&cm, to, &qa);
	if (rc)
		return rc;
	struct rdma_cm_id *id = cm.id;
	struct rdma_event_channel *ec = cm.ec;
	struct rdma_cm_event *ev;
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
	rc = rdma_get_cm_event(ec, &ev);
	int disconnected = rc == 0 && ev->event == RDMA_CM_EVENT_DISCONNECTED;
	if (rc == 0)
		rdma_ack_cm_event(ev);
	if (!disconnected)
		fprintf(stderr, "child: expected DISCONNECTED, got %s\n", rc ? "nothing" : rdma_event_str(ev->event));
	rdma_disconnect(id);
	ibv_dereg_mr(mr);
	cm_client_close(&cm);
	return disconnected ? 0 : 10;
}

Test(verbs_auth, wrong_proof_is_disconnected_counted_and_never_accepted, .timeout = 120)
{
	pn_tp_ctx *ctx;
	pid_t pid = fork_child(bad_proof_main, &ctx);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int st = 0;
	for (;;) {
		pn_tp_peer *p = NULL;
		int rc = pn_tp_accept(ctx, &p, 100);
		cr_assert_lt(rc, 0, "a peer with a wrong proof was accepted (id %u)", pn_tp_peer_id(p));
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		cr_assert_lt(elapsed_s(&t0), 90, "hang guard");
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bad-proof client: status 0x%x", st);
	pn_tp_stats s;
	pn_tp_get_stats(ctx, &s);
	cr_assert_eq(s.drop_bad_token, 1);
	cr_assert_eq(s.ctrl_recv, 0);
	pn_tp_close(ctx);
}
