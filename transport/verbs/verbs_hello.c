/* Connection private data of the verbs backend: a fixed little-endian record carried by
 * rdma_cm CONNECT (32 bytes), ACCEPT (64, with the listener's proof) and REJECT (32;
 * RDMA_PS_TCP allows 56 bytes in a CONNECT). Layout in verbs.h. */
#include "transport/verbs/verbs.h"

#include <errno.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void verbs_hello_pack(const struct verbs_hello *h, bool with_proof, uint8_t out[VERBS_ACCEPT_SIZE])
{
	put32(out, h->magic);
	put16(out + 4, h->version);
	put16(out + 6, h->ctrl_depth);
	put32(out + 8, h->node_id);
	put32(out + 12, h->reject);
	memcpy(out + 16, h->nonce, VERBS_NONCE_LEN);
	if (with_proof)
		memcpy(out + 32, h->proof, VERBS_PROOF_LEN);
}

int verbs_hello_unpack(const void *in, size_t len, bool with_proof, struct verbs_hello *h)
{
	const uint8_t *p = in;
	memset(h, 0, sizeof(*h));
	if (!p || len < (with_proof ? VERBS_ACCEPT_SIZE : VERBS_HELLO_SIZE))
		return -EPROTO;
	h->magic = get32(p);
	h->version = get16(p + 4);
	h->ctrl_depth = get16(p + 6);
	h->node_id = get32(p + 8);
	h->reject = get32(p + 12);
	memcpy(h->nonce, p + 16, VERBS_NONCE_LEN);
	if (with_proof)
		memcpy(h->proof, p + 32, VERBS_PROOF_LEN);
	if (h->magic != VERBS_HELLO_MAGIC || h->version != VERBS_HELLO_VERSION)
		return -EPROTO;
	return 0;
}
