/* Connection private data of the verbs backend: a fixed 24-byte little-endian record
 * carried by rdma_cm CONNECT, ACCEPT and REJECT (RDMA_PS_TCP allows 56 bytes). */
#include "transport/verbs/verbs.h"

#include <errno.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}
static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void verbs_hello_pack(const struct verbs_hello *h, uint8_t out[VERBS_HELLO_SIZE])
{
	put32(out, h->magic);
	put16(out + 4, h->version);
	put16(out + 6, h->ctrl_depth);
	put64(out + 8, h->token);
	put32(out + 16, h->node_id);
	put32(out + 20, h->reject);
}

int verbs_hello_unpack(const void *in, size_t len, struct verbs_hello *h)
{
	const uint8_t *p = in;
	memset(h, 0, sizeof(*h));
	if (!p || len < VERBS_HELLO_SIZE)
		return -EPROTO;
	h->magic = get32(p);
	h->version = get16(p + 4);
	h->ctrl_depth = get16(p + 6);
	h->token = get64(p + 8);
	h->node_id = get32(p + 16);
	h->reject = get32(p + 20);
	if (h->magic != VERBS_HELLO_MAGIC || h->version != VERBS_HELLO_VERSION)
		return -EPROTO;
	return 0;
}
