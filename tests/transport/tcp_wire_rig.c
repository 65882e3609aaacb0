/* The raw-socket rig shared by the tcp wire-level tests (see tcp_wire_rig.h). */
#include "tcp_wire_rig.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int raw_connect(pn_tp_ctx *ctx)
{
	char addr[64];
	cr_assert_eq(pn_tp_local_addr(ctx, addr, sizeof(addr)), 0);
	int port = atoi(strrchr(addr, ':') + 1);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

void raw_send(int fd, const struct tcp_wire_hdr *h)
{
	uint8_t b[TCP_WIRE_HDR_SIZE];
	tcp_wire_encode(h, b);
	cr_assert_eq(send(fd, b, sizeof(b), MSG_NOSIGNAL), (ssize_t)sizeof(b));
}

/* Read exactly len bytes within 5 s; returns bytes read (less on EOF). */
size_t raw_recv(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		cr_assert_eq(poll(&p, 1, 5000), 1, "no reply from the backend");
		ssize_t n = recv(fd, (uint8_t *)buf + got, len - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

void raw_recv_hdr(int fd, struct tcp_wire_hdr *h)
{
	uint8_t b[TCP_WIRE_HDR_SIZE];
	cr_assert_eq(raw_recv(fd, b, sizeof(b)), sizeof(b));
	tcp_wire_decode(b, h);
}

void raw_send_hs(int fd, const struct tcp_hs_msg *m)
{
	uint8_t b[TCP_HS_MAX];
	size_t n = tcp_hs_build(m, b);
	cr_assert_eq(send(fd, b, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* One handshake message; its raw bytes go to raw (if given) for inspection. */
void raw_recv_hs(int fd, struct tcp_hs_msg *m, uint8_t *raw, size_t *rawlen)
{
	uint8_t b[TCP_HS_MAX];
	cr_assert_eq(raw_recv(fd, b, TCP_WIRE_HDR_SIZE), TCP_WIRE_HDR_SIZE);
	int pl = tcp_hs_payload_len(b);
	cr_assert_geq(pl, 0, "not a handshake message");
	cr_assert_eq(raw_recv(fd, b + TCP_WIRE_HDR_SIZE, (size_t)pl), (size_t)pl);
	cr_assert_eq(tcp_hs_parse(b, TCP_WIRE_HDR_SIZE + (size_t)pl, m), 0);
	if (raw) {
		memcpy(raw, b, TCP_WIRE_HDR_SIZE + (size_t)pl);
		*rawlen = TCP_WIRE_HDR_SIZE + (size_t)pl;
	}
}

pn_tp_ctx *open_tcp(uint32_t node, const char *secret)
{
	char err[256];
	pn_tp_config cfg = { .backend = "tcp", .node_id = node, .secret = secret, .secret_len = strlen(secret) };
	pn_tp_ctx *ctx = pn_tp_open(&cfg, err, sizeof(err));
	cr_assert_not_null(ctx, "%s", err);
	return ctx;
}

void rig_open(struct rig *r)
{
	r->ctx = open_tcp(LISTENER_ID, SECRET);
	cr_assert_eq(pn_tp_listen(r->ctx, "127.0.0.1:0"), 0);
}

/* The client half of the handshake, done by hand as node 9: HELLO, then the listener's
 * CHALLENGE (checked with a context that holds key_ctx's secret). Returns the transcript. */
struct pn_auth_transcript raw_hello(struct rig *r, int fd, const uint8_t *nonce_r, struct tcp_hs_msg *ch)
{
	struct pn_auth_transcript t = { .label = "tcp", .id_req = 9 };
	if (nonce_r)
		memcpy(t.nonce_req, nonce_r, PN_AUTH_NONCE_LEN);
	else
		cr_assert_eq(pn_auth_nonce(t.nonce_req), 0);
	struct tcp_hs_msg m = { .type = TCP_HELLO, .node_id = 9 };
	memcpy(m.nonce, t.nonce_req, TCP_NONCE_LEN);
	raw_send_hs(fd, &m);
	/* accept answers the HELLO, then waits for a proof we have not sent yet: it times out,
	 * and the handshake in progress survives into the next accept call */
	pn_tp_peer *p = NULL;
	cr_assert_eq(pn_tp_accept(r->ctx, &p, 200), -ETIMEDOUT);
	cr_assert_null(p);
	raw_recv_hs(fd, ch, NULL, NULL);
	cr_assert_eq(ch->type, TCP_CHALLENGE);
	cr_assert_eq(ch->node_id, LISTENER_ID);
	t.id_lis = ch->node_id;
	memcpy(t.nonce_lis, ch->nonce, TCP_NONCE_LEN);
	return t;
}

/* Raw client completes a valid handshake as node 9; proof_out/nonce_out get the proof and
 * the nonce it sent. */
void rig_connect_proof(struct rig *r, uint8_t *proof_out, uint8_t *nonce_out)
{
	r->raw = raw_connect(r->ctx);
	struct tcp_hs_msg ch;
	struct pn_auth_transcript t = raw_hello(r, r->raw, NULL, &ch);
	cr_assert(pn_auth_check(r->ctx, PN_AUTH_LISTENER, &t, ch.proof), "the listener's proof does not check");
	struct tcp_hs_msg m = { .type = TCP_PROOF };
	cr_assert_eq(pn_auth_prove(r->ctx, PN_AUTH_REQUESTER, &t, m.proof), 0);
	if (proof_out)
		memcpy(proof_out, m.proof, TCP_PROOF_LEN);
	if (nonce_out)
		memcpy(nonce_out, t.nonce_req, PN_AUTH_NONCE_LEN);
	raw_send_hs(r->raw, &m);
	cr_assert_eq(pn_tp_accept(r->ctx, &r->peer, 5000), 0, "%s", pn_tp_errmsg(r->ctx));
	cr_assert_eq(pn_tp_peer_id(r->peer), 9);
	raw_recv_hs(r->raw, &m, NULL, NULL);
	cr_assert_eq(m.type, TCP_WELCOME);
}

void rig_connect(struct rig *r)
{
	rig_connect_proof(r, NULL, NULL);
}

/* The backend must drop the raw peer: PEER_DOWN, counted as malformed, socket closed. */
void expect_cut_off(struct rig *r)
{
	pn_tp_completion c;
	cr_assert_eq(pn_tp_poll(r->ctx, &c, 1, 5000), 1, "no PEER_DOWN after a broken frame");
	cr_assert_eq(c.event, PN_TP_PEER_DOWN);
	cr_assert_eq(c.status, -EPROTO);
	pn_tp_stats st;
	pn_tp_get_stats(r->ctx, &st);
	cr_assert_eq(st.drop_malformed, 1);
	uint8_t b[64];
	cr_assert_eq(raw_recv(r->raw, b, sizeof(b)), 0, "connection still open");
}

void rig_close(struct rig *r)
{
	close(r->raw);
	pn_tp_close(r->ctx);
}
