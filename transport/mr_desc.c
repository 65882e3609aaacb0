/* Wire form of a region descriptor: 32 bytes, little-endian, fields in struct order. */
#include "pennant/transport.h"
#include "transport/wire_bytes.h"

void pn_mr_desc_pack(const pn_mr_desc *d, uint8_t out[PN_MR_DESC_WIRE_SIZE])
{
	pn_st_le64(out + 0, d->addr);
	pn_st_le64(out + 8, d->len);
	pn_st_le32(out + 16, d->key);
	pn_st_le32(out + 20, d->owner);
	pn_st_le32(out + 24, d->access);
	pn_st_le32(out + 28, d->reserved);
}

void pn_mr_desc_unpack(const uint8_t in[PN_MR_DESC_WIRE_SIZE], pn_mr_desc *d)
{
	d->addr = pn_ld_le64(in + 0);
	d->len = pn_ld_le64(in + 8);
	d->key = pn_ld_le32(in + 16);
	d->owner = pn_ld_le32(in + 20);
	d->access = pn_ld_le32(in + 24);
	d->reserved = pn_ld_le32(in + 28);
}
