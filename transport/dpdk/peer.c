/* Peers: lookup, creation, failure. The handshake that creates them is in handshake.c. */
#include "dp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct dp_peer *dp_peer_lookup(struct dp_ctx *c, uint32_t id, bool frame_from_connector)
{
	/* A frame sent by the connecting side belongs to our accepted entry and vice versa. */
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *p = c->peers[i];
		if (p->base.id == id && p->connector != frame_from_connector && p->state == DP_PEER_UP)
			return p;
	}
	return NULL;
}

struct dp_peer *dp_peer_new(struct dp_ctx *c)
{
	if (c->npeers == DP_MAX_PEERS)
		return NULL;
	struct dp_peer *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->base.ctx = &c->base;
	p->cwnd = c->o.peer_window;
	p->rto_ns = (uint64_t)c->o.rto_init_us * 1000;
	p->rto_floor_ns = (uint64_t)c->o.rto_min_us * 1000;
	p->reo_rtts = 1.25;
	c->peers[c->npeers++] = p;
	return p;
}

/* Fail everything outstanding on the peer, then report it down (in that order, as the
 * API promises). */
void dp_peer_down(struct dp_ctx *c, struct dp_peer *p, int status)
{
	if (p->state == DP_PEER_DOWN)
		return;
	bool was_up = p->state == DP_PEER_UP;
	p->state = DP_PEER_DOWN;
	__atomic_store_n(&p->base.failed, 1, __ATOMIC_RELAXED);
	dp_fail_peer_ops(c, p, status);
	p->ctrl_acked = p->ctrl_sent = p->ctrl_next;
	if (was_up) {
		pn_tp_completion comp = { .event = PN_TP_PEER_DOWN, .status = status, .peer = &p->base,
					  .peer_id = p->base.id };
		dp_cq_push(c, &comp, NULL);
	}
	pthread_cond_broadcast(&c->cond);
}

/* On a lossless port (memif, ring) a missing frame is late, never lost: the peer or
 * this host was descheduled on a shared CPU, or the peer is gone (memif reports that as
 * link down, see service.c). Re-requesting early there only duplicates traffic, so the
 * timeout has a high floor; it still recovers frames a responder could not send (out of
 * mbufs, counted in its drop_no_buffer). Control messages use the same timeout. */
uint64_t dp_peer_rto(const struct dp_ctx *c, const struct dp_peer *p, unsigned retries)
{
	uint64_t cap = (uint64_t)c->o.rto_max_us * 1000;
	uint64_t base = p->rto_ns;
	uint64_t floor = (uint64_t)c->o.lossless_rto_us * 1000;
	if (c->port_lossless[p->port_idx] && base < floor)
		base = floor;
	if (cap < base)
		cap = base;
	uint64_t r = base << (retries < 16 ? retries : 16);
	return r < cap ? r : cap;
}
