/* Shared rig for the tcp wire-level tests: a real tcp context listening on loopback
 * and a raw socket that speaks the wire protocol to it by hand. Every helper asserts with
 * Criterion, so call them only from inside a test. */
#ifndef PENNANT_TESTS_TRANSPORT_TCP_WIRE_RIG_H
#define PENNANT_TESTS_TRANSPORT_TCP_WIRE_RIG_H

#include "pennant/transport.h"
#include "transport/auth.h"
#include "transport/tcp/wire.h"

#include <stddef.h>
#include <stdint.h>

#define SECRET "tcp-wire-secret"
#define SECRET_CFG .secret = SECRET, .secret_len = sizeof(SECRET) - 1
#define LISTENER_ID 0x5eed1234u

struct rig {
	pn_tp_ctx *ctx;
	int raw;
	pn_tp_peer *peer;
};

/* A raw TCP socket connected to ctx's listening address. */
int raw_connect(pn_tp_ctx *ctx);
void raw_send(int fd, const struct tcp_wire_hdr *h);
/* Read exactly len bytes within 5 s; returns bytes read (less on EOF). */
size_t raw_recv(int fd, void *buf, size_t len);
void raw_recv_hdr(int fd, struct tcp_wire_hdr *h);
void raw_send_hs(int fd, const struct tcp_hs_msg *m);
/* One handshake message; its raw bytes go to raw (if given) for inspection. */
void raw_recv_hs(int fd, struct tcp_hs_msg *m, uint8_t *raw, size_t *rawlen);

pn_tp_ctx *open_tcp(uint32_t node, const char *secret);
/* r->ctx: a tcp context as LISTENER_ID, listening on 127.0.0.1 (any port). */
void rig_open(struct rig *r);
/* The client half of the handshake, done by hand as node 9: HELLO, then the listener's
 * CHALLENGE. Returns the transcript (nonce_r: the requester nonce to use, or NULL for a
 * fresh one). */
struct pn_auth_transcript raw_hello(struct rig *r, int fd, const uint8_t *nonce_r, struct tcp_hs_msg *ch);
/* Raw client completes a valid handshake as node 9; proof_out/nonce_out (if given) get
 * the proof and the nonce it sent. */
void rig_connect_proof(struct rig *r, uint8_t *proof_out, uint8_t *nonce_out);
void rig_connect(struct rig *r);
/* The backend must drop the raw peer: PEER_DOWN, counted as malformed, socket closed. */
void expect_cut_off(struct rig *r);
void rig_close(struct rig *r);

#endif
