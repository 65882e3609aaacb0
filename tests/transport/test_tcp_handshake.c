/* tcp backend handshake robustness: a raw socket speaks the handshake (or garbage) to a
 * real context. Garbage and wrong, replayed or reflected proofs are refused with the fixed
 * message and counted, and our side reveals no proof to a listener that cannot prove
 * itself. Wire-level request/frame tests are in test_tcp_wire.c. */
#include "tcp_wire_rig.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The refusal as the protocol defines it, written out byte by byte here (not with the
 * backend's encoder): type 9, version 2, zeros, the magic at 16, zeros. */
static void expected_refusal(uint8_t out[TCP_WIRE_HDR_SIZE])
{
	memset(out, 0, TCP_WIRE_HDR_SIZE);
	out[0] = 9;
	out[1] = 2;
	uint64_t magic = TCP_WIRE_MAGIC;
	for (int i = 0; i < 8; i++)
		out[16 + i] = (uint8_t)(magic >> (8 * i));
}

/* Send a PROOF on a connection that got its CHALLENGE; expect the fixed refusal, then
 * EOF, and no peer. */
static void expect_refused(struct rig *r, int fd, const uint8_t proof[TCP_PROOF_LEN])
{
	struct tcp_hs_msg m = { .type = TCP_PROOF };
	memcpy(m.proof, proof, TCP_PROOF_LEN);
	raw_send_hs(fd, &m);
	pn_tp_peer *p = NULL;
	cr_assert_lt(pn_tp_accept(r->ctx, &p, 300), 0);
	cr_assert_null(p, "a wrong proof became a peer");
	uint8_t got[256], want[TCP_WIRE_HDR_SIZE];
	size_t n = raw_recv(fd, got, sizeof(got)); /* everything until EOF */
	expected_refusal(want);
	cr_assert_eq(n, sizeof(want), "refusal of %zu bytes", n);
	cr_assert_eq(memcmp(got, want, sizeof(want)), 0, "the refusal is not the fixed message");
}

Test(tcp_wire, garbage_client_is_dropped_and_counted_and_a_good_peer_connects_after)
{
	struct rig r;
	rig_open(&r);
	int junk_fd = raw_connect(r.ctx);
	uint8_t junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	cr_assert_eq(send(junk_fd, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
	int silent_fd = raw_connect(r.ctx); /* connects, says nothing: must not hold the listener */
	pn_tp_peer *p = NULL;
	cr_assert_lt(pn_tp_accept(r.ctx, &p, 300), 0);
	cr_assert_null(p);
	pn_tp_stats st;
	pn_tp_get_stats(r.ctx, &st);
	cr_assert_eq(st.drop_malformed, 1);
	uint8_t b[64];
	cr_assert_eq(raw_recv(junk_fd, b, sizeof(b)), 0, "garbage client still connected or answered");
	rig_connect(&r);
	close(junk_fd);
	close(silent_fd);
	rig_close(&r);
}

Test(tcp_wire, wrong_secret_gets_the_fixed_refusal_and_no_peer)
{
	struct rig r;
	rig_open(&r);
	pn_tp_ctx *mallory = open_tcp(9, "mallory");
	r.raw = raw_connect(r.ctx);
	struct tcp_hs_msg ch;
	struct pn_auth_transcript t = raw_hello(&r, r.raw, NULL, &ch);
	cr_assert_not(pn_auth_check(mallory, PN_AUTH_LISTENER, &t, ch.proof),
		      "another secret verified the listener's proof");
	uint8_t proof[TCP_PROOF_LEN];
	cr_assert_eq(pn_auth_prove(mallory, PN_AUTH_REQUESTER, &t, proof), 0);
	expect_refused(&r, r.raw, proof);
	pn_tp_stats st;
	pn_tp_get_stats(r.ctx, &st);
	cr_assert_eq(st.drop_bad_token, 1);
	pn_tp_close(mallory);
	rig_close(&r);
}

Test(tcp_wire, replayed_or_reflected_proof_is_refused)
{
	struct rig r;
	rig_open(&r);
	uint8_t captured[TCP_PROOF_LEN], captured_nonce[PN_AUTH_NONCE_LEN];
	rig_connect_proof(&r, captured, captured_nonce); /* a good session, recorded by an eavesdropper */
	for (int i = 0; i < 3; i++) {
		int fd = raw_connect(r.ctx);
		struct tcp_hs_msg ch;
		/* 0: the captured proof with a new nonce of ours, 1: the whole captured conversation
		 * replayed (same nonce: the listener's fresh nonce defeats it), 2: the listener's
		 * own proof sent back as ours */
		raw_hello(&r, fd, i == 1 ? captured_nonce : NULL, &ch);
		expect_refused(&r, fd, i == 2 ? ch.proof : captured);
		close(fd);
	}
	pn_tp_stats st;
	pn_tp_get_stats(r.ctx, &st);
	cr_assert_eq(st.drop_bad_token, 3);
	rig_connect(&r); /* and the real thing still works */
	rig_close(&r);
}

/* A fake listener that does not know the secret answers our HELLO with a made-up proof:
 * connect fails with -EACCES, and what we send next is the fixed ABORT, not our proof. */
struct fake_listener {
	int lfd, port;
	uint8_t after[256];
	size_t after_len;
	bool saw_hello;
};

static void *fake_listener_main(void *arg)
{
	struct fake_listener *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	uint8_t b[TCP_HS_MAX];
	struct tcp_hs_msg m;
	size_t n = 0;
	while (n < TCP_WIRE_HDR_SIZE + TCP_NONCE_LEN) {
		ssize_t k = recv(fd, b + n, TCP_WIRE_HDR_SIZE + TCP_NONCE_LEN - n, 0);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	f->saw_hello = tcp_hs_parse(b, n, &m) == 0 && m.type == TCP_HELLO;
	struct tcp_hs_msg ch = { .type = TCP_CHALLENGE, .node_id = 1 };
	memset(ch.nonce, 0x11, sizeof(ch.nonce));
	memset(ch.proof, 0x22, sizeof(ch.proof));
	n = tcp_hs_build(&ch, b);
	if (send(fd, b, n, MSG_NOSIGNAL) == (ssize_t)n) {
		for (;;) { /* all it sends us until it closes */
			ssize_t k = recv(fd, f->after + f->after_len, sizeof(f->after) - f->after_len, 0);
			if (k <= 0)
				break;
			f->after_len += (size_t)k;
		}
	}
	close(fd);
	return NULL;
}

Test(tcp_wire, requester_reveals_no_proof_to_a_listener_that_cannot_prove_itself)
{
	struct fake_listener f = { 0 };
	f.lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(f.lfd, 1), 0);
	socklen_t sl = sizeof(sa);
	getsockname(f.lfd, (struct sockaddr *)&sa, &sl);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, fake_listener_main, &f), 0);
	pn_tp_ctx *ctx = open_tcp(9, SECRET);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	pn_tp_peer *p = NULL;
	cr_assert_eq(pn_tp_connect(ctx, addr, &p, 5000), -EACCES, "%s", pn_tp_errmsg(ctx));
	cr_assert_null(p);
	pn_tp_close(ctx); /* closes the socket: the fake listener's read ends */
	pthread_join(th, NULL);
	close(f.lfd);
	cr_assert(f.saw_hello);
	struct tcp_hs_msg m;
	cr_assert_eq(f.after_len, TCP_WIRE_HDR_SIZE, "sent %zu bytes after the bad challenge", f.after_len);
	cr_assert_eq(tcp_hs_parse(f.after, f.after_len, &m), 0);
	cr_assert_eq(m.type, TCP_ABORT);
}

Test(tcp_wire, handshake_parser_takes_only_exact_messages)
{
	struct tcp_hs_msg m = { .type = TCP_CHALLENGE, .node_id = 4 };
	memset(m.nonce, 1, sizeof(m.nonce));
	memset(m.proof, 2, sizeof(m.proof));
	uint8_t b[TCP_HS_MAX + 1];
	size_t n = tcp_hs_build(&m, b);
	cr_assert_eq(n, TCP_HS_MAX);
	struct tcp_hs_msg back;
	cr_assert_eq(tcp_hs_parse(b, n, &back), 0);
	cr_assert_eq(memcmp(&back, &m, sizeof(m)), 0);
	cr_assert_neq(tcp_hs_parse(b, n - 1, &back), 0, "truncated message accepted");
	cr_assert_neq(tcp_hs_parse(b, n + 1, &back), 0, "trailing byte accepted");
	for (size_t i = 0; i < TCP_WIRE_HDR_SIZE; i++) {
		if (i >= 4 && i < 8)
			continue; /* the node id: any value */
		uint8_t c[TCP_HS_MAX];
		memcpy(c, b, n);
		c[i] ^= 0x40;
		cr_assert_neq(tcp_hs_parse(c, n, &back), 0, "header byte %zu flipped and still accepted", i);
	}
	struct tcp_hs_msg w = { .type = TCP_WELCOME, .node_id = 7 }; /* constant bytes: no id */
	n = tcp_hs_build(&w, b);
	cr_assert_eq(tcp_hs_parse(b, n, &back), 0);
	cr_assert_eq(back.node_id, 0);
}
