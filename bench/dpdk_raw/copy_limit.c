/* The one-copy limit: what a single core reaches copying frame-sized blocks into a
 * landing buffer, measured in the same run as the pull. A pull over a zero-copy medium
 * still copies every payload once (received frame -> landing buffer) on one core (the
 * service thread), so this bounds it from above.
 *
 * Sources rotate through a ring of frame buffers about the size of a receive ring's
 * worth of mbufs (so they are not all cache-resident, as received frames are not), and
 * land in order into a buffer of the same size as the pull's. */
#include "bench_dpdk_raw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SRC_FRAMES 1024   /* like a 1024-descriptor receive ring */
#define SRC_STRIDE 9216   /* jumbo mbuf data room */

struct copy_limit {
	uint8_t *src, *land;
	size_t size;
	uint32_t payload;
};

struct copy_limit *copy_limit_new(size_t size, uint32_t payload)
{
	struct copy_limit *c = calloc(1, sizeof *c);
	if (!c || payload == 0 || payload > SRC_STRIDE)
		goto fail;
	c->size = size;
	c->payload = payload;
	c->src = aligned_alloc(4096, (size_t)SRC_FRAMES * SRC_STRIDE);
	c->land = aligned_alloc(4096, (size + 4095) / 4096 * 4096);
	if (!c->src || !c->land)
		goto fail;
	memset(c->src, 0x5a, (size_t)SRC_FRAMES * SRC_STRIDE);
	memset(c->land, 0, size); /* fault the pages in: the pull's landing buffer is too */
	return c;
fail:
	copy_limit_free(c);
	return NULL;
}

void copy_limit_free(struct copy_limit *c)
{
	if (!c)
		return;
	free(c->src);
	free(c->land);
	free(c);
}

/* One pass over the landing buffer; returns Gbit/s of payload copied. */
double copy_limit_round(struct copy_limit *c)
{
	double t0 = bench_now_s();
	size_t off = 0;
	unsigned k = 0;
	while (off < c->size) {
		size_t n = c->size - off < c->payload ? c->size - off : c->payload;
		memcpy(c->land + off, c->src + (size_t)k * SRC_STRIDE + 128, n); /* 128: headroom */
		off += n;
		k = (k + 1) % SRC_FRAMES;
	}
	double dt = bench_now_s() - t0;
	/* keep the copies observable so they cannot be optimised away */
	volatile uint8_t sink = c->land[c->size / 2];
	(void)sink;
	return (double)c->size * 8 / dt / 1e9;
}
