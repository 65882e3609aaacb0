/* Fixed-width integers to and from wire bytes, one byte at a time: no alignment needed,
 * the same result on any host. Shared by every parser and builder of peer bytes. */
#ifndef PN_TRANSPORT_WIRE_BYTES_H
#define PN_TRANSPORT_WIRE_BYTES_H

#include <stdint.h>

static inline uint16_t pn_ld_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t pn_ld_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t pn_ld_le64(const uint8_t *p)
{
	return (uint64_t)pn_ld_le32(p) | (uint64_t)pn_ld_le32(p + 4) << 32;
}
static inline void pn_st_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void pn_st_le32(uint8_t *p, uint32_t v)
{
	pn_st_le16(p, (uint16_t)v);
	pn_st_le16(p + 2, (uint16_t)(v >> 16));
}
static inline void pn_st_le64(uint8_t *p, uint64_t v)
{
	pn_st_le32(p, (uint32_t)v);
	pn_st_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t pn_ld_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t pn_ld_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void pn_st_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void pn_st_be32(uint8_t *p, uint32_t v)
{
	pn_st_be16(p, (uint16_t)(v >> 16));
	pn_st_be16(p + 2, (uint16_t)v);
}

#endif
