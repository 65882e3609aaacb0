/* Responder: serves READs from registered memory. Only regions registered with
 * REMOTE_READ, only within bounds, only with the region's key; the session tag and the peer
 * were checked by the dispatcher. Anything else is dropped and counted; a known peer
 * also gets an ERROR so its read fails fast instead of timing out. */
#include "dp.h"

#include <errno.h>

static struct dp_mr *find_region(struct dp_ctx *c, uint32_t key)
{
	uint32_t slot = key & (DP_MAX_REGIONS - 1);
	struct dp_mr *mr = c->regions[slot];
	return mr && mr->key == key ? mr : NULL;
}

static void refuse(struct dp_ctx *c, struct dp_peer *p, const struct pn_dp_frame *f, int err)
{
	struct pn_dp_hdr h;
	dp_hdr_init(c, p, &h, PN_DP_ERROR);
	h.req_id = f->hdr.req_id;
	h.key = f->hdr.key;
	h.aux = (uint32_t)err;
	dp_send_hdr(c, p, &h, NULL, 0);
}

void dp_serve_read(struct dp_ctx *c, struct dp_peer *p, const struct pn_dp_frame *f)
{
	if (c->mute_responder)
		return; /* test hook: behave like a peer that stopped answering */
	struct dp_mr *mr = find_region(c, f->hdr.key);
	if (!mr) {
		c->base.stats.drop_bad_key++;
		refuse(c, p, f, ENOENT);
		return;
	}
	if (!(mr->base.access & PN_ACCESS_REMOTE_READ)) {
		c->base.stats.drop_no_access++;
		refuse(c, p, f, EACCES);
		return;
	}
	/* parse() guaranteed offset + length does not overflow */
	if (f->hdr.offset + f->hdr.length > mr->base.len) {
		c->base.stats.drop_out_of_bounds++;
		refuse(c, p, f, EFAULT);
		return;
	}
	uint32_t frame = f->hdr.aux;
	if (frame == 0 || frame > c->payload_max) {
		c->base.stats.drop_malformed++;
		refuse(c, p, f, EMSGSIZE);
		return;
	}
	uint64_t off = f->hdr.offset, end = off + f->hdr.length;
	while (off < end) {
		uint32_t n = end - off < frame ? (uint32_t)(end - off) : frame;
		struct pn_dp_hdr h;
		dp_hdr_init(c, p, &h, PN_DP_DATA);
		h.req_id = f->hdr.req_id;
		h.key = f->hdr.key;
		h.seq = f->hdr.seq; /* the requester's attempt number */
		if (dp_send_zero_copy(c, p, &h, mr, off, n))
			return; /* out of mbufs: the requester re-requests the rest */
		c->base.stats.bytes_served += n;
		off += n;
	}
}

/* Benchmark baseline: the same frames as DATA, sent back to back with no request,
 * window or acknowledgement. */
void dp_raw_blast(struct dp_ctx *c)
{
	struct dp_raw_job *j = &c->raw;
	uint64_t off = 0;
	for (int i = 0; i < DP_BURST && j->frames_left; i++) {
		if (off + j->payload > j->mr->base.len)
			off = 0;
		struct pn_dp_hdr h;
		dp_hdr_init(c, j->peer, &h, PN_DP_RAW);
		if (dp_send_zero_copy(c, j->peer, &h, j->mr, off, j->payload))
			return;
		off += j->payload;
		j->frames_left--;
	}
}
