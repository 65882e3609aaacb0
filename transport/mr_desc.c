/* Wire form of a region descriptor: 32 bytes, little-endian, fields in struct order. */
#include "pennant/transport.h"

#include <endian.h>
#include <string.h>

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

void pn_mr_desc_pack(const pn_mr_desc *d, uint8_t out[PN_MR_DESC_WIRE_SIZE])
{
	put64(out + 0, d->addr);
	put64(out + 8, d->len);
	put32(out + 16, d->key);
	put32(out + 20, d->owner);
	put32(out + 24, d->access);
	put32(out + 28, d->reserved);
}

void pn_mr_desc_unpack(const uint8_t in[PN_MR_DESC_WIRE_SIZE], pn_mr_desc *d)
{
	d->addr = get64(in + 0);
	d->len = get64(in + 8);
	d->key = get32(in + 16);
	d->owner = get32(in + 20);
	d->access = get32(in + 24);
	d->reserved = get32(in + 28);
}
