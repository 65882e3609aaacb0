/* TCP backend wire format: every frame starts with a 32-byte little-endian header.
 *
 *   off size field
 *     0    1 type      enum tcp_frame
 *     1    1 version   TCP_WIRE_VERSION
 *     2    2 reserved  0
 *     4    4 key       region key (READ_REQ), node id (HELLO, CHALLENGE)
 *     8    8 req_id    request id (READ_*), 0 in handshake messages
 *    16    8 offset    offset in region (READ_REQ), TCP_WIRE_MAGIC (handshake)
 *    24    4 len       bytes requested (READ_REQ) or payload bytes that follow (RESP, CTRL,
 *                      handshake)
 *    28    4 status    0 or -errno (READ_RESP); 0 in handshake messages
 *
 * Handshake (transport/AUTH.md): HELLO(nonce) -> CHALLENGE(nonce, proof) -> PROOF(proof)
 * or ABORT -> WELCOME or REFUSED. Each has a fixed payload length; REFUSED, WELCOME and
 * ABORT are constant bytes. No job secret, key or token is ever sent.
 */
#ifndef PENNANT_TRANSPORT_TCP_WIRE_H
#define PENNANT_TRANSPORT_TCP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define TCP_WIRE_HDR_SIZE 32
#define TCP_WIRE_VERSION 2
#define TCP_WIRE_MAGIC 0x504e4e54544350ull /* "PNNTTCP" */

enum tcp_frame {
	TCP_HELLO = 1,     /* requester: node id, nonce */
	TCP_CHALLENGE = 2, /* listener: node id, nonce, proof */
	TCP_READ_REQ = 3,
	TCP_READ_RESP = 4,
	TCP_CTRL = 5,
	TCP_PROOF = 6,     /* requester: proof */
	TCP_ABORT = 7,     /* requester: the listener's proof did not verify */
	TCP_WELCOME = 8,   /* listener: proof accepted, the connection is a peer */
	TCP_REFUSED = 9,   /* listener: proof rejected (fixed bytes, nothing else) */
};

struct tcp_wire_hdr {
	uint8_t type, version;
	uint32_t key;
	uint64_t req_id;
	uint64_t offset;
	uint32_t len;
	int32_t status;
};

/* A handshake message, decoded. Fields not used by the type are zero. */
#define TCP_NONCE_LEN 16
#define TCP_PROOF_LEN 32
#define TCP_HS_MAX (TCP_WIRE_HDR_SIZE + TCP_NONCE_LEN + TCP_PROOF_LEN)
struct tcp_hs_msg {
	uint8_t type;
	uint32_t node_id;
	uint8_t nonce[TCP_NONCE_LEN];
	uint8_t proof[TCP_PROOF_LEN];
};
/* Payload bytes a handshake header announces if it is a valid handshake header (type,
 * version, magic, zero fields, exact length for its type); -1 otherwise. */
int tcp_hs_payload_len(const uint8_t hdr[TCP_WIRE_HDR_SIZE]);
/* Validate and decode a complete handshake message of len bytes: 0, or -1 if it is not
 * exactly one valid message. */
int tcp_hs_parse(const uint8_t *buf, size_t len, struct tcp_hs_msg *m);
/* Encode; returns the message length (<= TCP_HS_MAX). */
size_t tcp_hs_build(const struct tcp_hs_msg *m, uint8_t out[TCP_HS_MAX]);

void tcp_wire_encode(const struct tcp_wire_hdr *h, uint8_t out[TCP_WIRE_HDR_SIZE]);
void tcp_wire_decode(const uint8_t in[TCP_WIRE_HDR_SIZE], struct tcp_wire_hdr *h);

#endif
