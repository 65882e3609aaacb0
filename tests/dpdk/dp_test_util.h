/* Helpers shared by the dpdk tests and the peer program. */
#ifndef PN_DP_TEST_UTIL_H
#define PN_DP_TEST_UTIL_H

#include "pennant/transport.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Deterministic content: byte i of stream `seed` (splitmix64 of the 8-byte word index). */
static inline uint64_t dpt_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}
static inline uint8_t dpt_byte(uint64_t seed, uint64_t i)
{
	return (uint8_t)(dpt_mix(seed * 0x100000001b3ull + i / 8) >> (8 * (i % 8)));
}
static inline void dpt_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *b = buf;
	for (size_t i = 0; i < len; i++)
		b[i] = dpt_byte(seed, i);
}
/* Index of the first byte of buf[0..len) that differs from stream `seed` starting at
 * byte `from`, or -1 when all match. */
static inline long dpt_check(const void *buf, size_t len, uint64_t seed, uint64_t from)
{
	const uint8_t *b = buf;
	for (size_t i = 0; i < len; i++)
		if (b[i] != dpt_byte(seed, from + i))
			return (long)i;
	return -1;
}

/* Poll until a completion arrives or timeout_ms passes (0 on timeout). */
static inline int dpt_wait(pn_tp_ctx *ctx, pn_tp_completion *c, int timeout_ms)
{
	return pn_tp_poll(ctx, c, 1, timeout_ms);
}

#endif
