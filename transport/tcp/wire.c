/* Encode/decode of the TCP frame header and of the handshake messages (layout in wire.h). */
#include "transport/tcp/wire.h"

#include <endian.h>
#include <stdbool.h>
#include <string.h>

void tcp_wire_encode(const struct tcp_wire_hdr *h, uint8_t out[TCP_WIRE_HDR_SIZE])
{
	uint32_t u32;
	uint64_t u64;
	out[0] = h->type;
	out[1] = TCP_WIRE_VERSION;
	out[2] = out[3] = 0;
	u32 = htole32(h->key);
	memcpy(out + 4, &u32, 4);
	u64 = htole64(h->req_id);
	memcpy(out + 8, &u64, 8);
	u64 = htole64(h->offset);
	memcpy(out + 16, &u64, 8);
	u32 = htole32(h->len);
	memcpy(out + 24, &u32, 4);
	u32 = htole32((uint32_t)h->status);
	memcpy(out + 28, &u32, 4);
}

void tcp_wire_decode(const uint8_t in[TCP_WIRE_HDR_SIZE], struct tcp_wire_hdr *h)
{
	uint32_t u32;
	uint64_t u64;
	h->type = in[0];
	h->version = in[1];
	memcpy(&u32, in + 4, 4);
	h->key = le32toh(u32);
	memcpy(&u64, in + 8, 8);
	h->req_id = le64toh(u64);
	memcpy(&u64, in + 16, 8);
	h->offset = le64toh(u64);
	memcpy(&u32, in + 24, 4);
	h->len = le32toh(u32);
	memcpy(&u32, in + 28, 4);
	h->status = (int32_t)le32toh(u32);
}

static int hs_len_for(uint8_t type)
{
	switch (type) {
	case TCP_HELLO: return TCP_NONCE_LEN;
	case TCP_CHALLENGE: return TCP_NONCE_LEN + TCP_PROOF_LEN;
	case TCP_PROOF: return TCP_PROOF_LEN;
	case TCP_ABORT:
	case TCP_WELCOME:
	case TCP_REFUSED: return 0;
	default: return -1;
	}
}

int tcp_hs_payload_len(const uint8_t hdr[TCP_WIRE_HDR_SIZE])
{
	struct tcp_wire_hdr h;
	tcp_wire_decode(hdr, &h);
	int want = hs_len_for(h.type);
	if (want < 0 || h.version != TCP_WIRE_VERSION || hdr[2] || hdr[3] || h.req_id != 0 ||
	    h.offset != TCP_WIRE_MAGIC || h.status != 0 || h.len != (uint32_t)want)
		return -1;
	/* only HELLO and CHALLENGE name a node: the others are constant bytes */
	if (h.type != TCP_HELLO && h.type != TCP_CHALLENGE && h.key != 0)
		return -1;
	return want;
}

int tcp_hs_parse(const uint8_t *buf, size_t len, struct tcp_hs_msg *m)
{
	memset(m, 0, sizeof(*m));
	if (!buf || len < TCP_WIRE_HDR_SIZE)
		return -1;
	int pl = tcp_hs_payload_len(buf);
	if (pl < 0 || len != (size_t)TCP_WIRE_HDR_SIZE + (size_t)pl)
		return -1;
	struct tcp_wire_hdr h;
	tcp_wire_decode(buf, &h);
	m->type = h.type;
	m->node_id = h.key;
	const uint8_t *p = buf + TCP_WIRE_HDR_SIZE;
	if (h.type == TCP_HELLO || h.type == TCP_CHALLENGE) {
		memcpy(m->nonce, p, TCP_NONCE_LEN);
		p += TCP_NONCE_LEN;
	}
	if (h.type == TCP_CHALLENGE || h.type == TCP_PROOF)
		memcpy(m->proof, p, TCP_PROOF_LEN);
	return 0;
}

size_t tcp_hs_build(const struct tcp_hs_msg *m, uint8_t out[TCP_HS_MAX])
{
	int pl = hs_len_for(m->type);
	if (pl < 0)
		pl = 0;
	bool named = m->type == TCP_HELLO || m->type == TCP_CHALLENGE;
	struct tcp_wire_hdr h = { .type = m->type, .key = named ? m->node_id : 0,
				  .offset = TCP_WIRE_MAGIC, .len = (uint32_t)pl };
	tcp_wire_encode(&h, out);
	uint8_t *p = out + TCP_WIRE_HDR_SIZE;
	if (named) {
		memcpy(p, m->nonce, TCP_NONCE_LEN);
		p += TCP_NONCE_LEN;
	}
	if (m->type == TCP_CHALLENGE || m->type == TCP_PROOF)
		memcpy(p, m->proof, TCP_PROOF_LEN);
	return (size_t)TCP_WIRE_HDR_SIZE + (size_t)pl;
}
