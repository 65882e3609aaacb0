/* Peers: lookup, bootstrap by HELLO/ACCEPT (IP:port + job token), failure. */
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
		struct dp_cqe *e = dp_cq_push(c);
		if (e) {
			e->c.event = PN_TP_PEER_DOWN;
			e->c.status = status;
			e->c.peer = &p->base;
			e->c.peer_id = p->base.id;
		}
	}
	pthread_cond_broadcast(&c->cond);
}

static void learn_route(struct dp_peer *p, uint16_t port_idx, const struct pn_dp_frame *f)
{
	p->port_idx = port_idx;
	memcpy(p->mac, f->addr.src_mac, 6);
	p->ip = f->addr.src_ip;
	p->udp_port = f->addr.src_port;
}

void dp_on_hello(struct dp_ctx *c, uint16_t port_idx, const struct pn_dp_frame *f)
{
	if (!c->listening || f->addr.dst_ip != c->o.ip) {
		c->base.stats.drop_unknown_peer++;
		return;
	}
	struct dp_peer *p = NULL;
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *q = c->peers[i];
		if (!q->connector && q->base.id == f->hdr.src_id && q->state == DP_PEER_UP) {
			if (q->nonce == f->hdr.req_id)
				p = q; /* our ACCEPT was lost: answer again */
			else
				dp_peer_down(c, q, -ECONNRESET); /* the peer restarted */
		}
	}
	if (!p) {
		p = dp_peer_new(c);
		if (!p) {
			c->base.stats.drop_no_buffer++;
			return;
		}
		p->base.id = f->hdr.src_id;
		p->nonce = f->hdr.req_id;
		p->state = DP_PEER_UP;
		learn_route(p, port_idx, f);
		if (c->accept_len < DP_MAX_PEERS)
			c->accept_q[c->accept_len++] = p;
		pthread_cond_broadcast(&c->cond);
	} else {
		c->base.stats.drop_duplicate++;
	}
	struct pn_dp_hdr h;
	dp_hdr_init(c, p, &h, PN_DP_ACCEPT);
	h.req_id = p->nonce;
	dp_send_hdr(c, p, &h, NULL, 0);
}

void dp_on_accept(struct dp_ctx *c, uint16_t port_idx, const struct pn_dp_frame *f)
{
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *p = c->peers[i];
		if (p->connector && p->nonce == f->hdr.req_id && f->hdr.dst_id == c->base.cfg.node_id &&
		    (f->hdr.flags & DP_FLAG_FROM_CONNECTOR) == 0) {
			if (p->state != DP_PEER_CONNECTING) {
				c->base.stats.drop_duplicate++;
				return;
			}
			p->base.id = f->hdr.src_id;
			learn_route(p, port_idx, f);
			p->state = DP_PEER_UP;
			pthread_cond_broadcast(&c->cond);
			return;
		}
	}
	c->base.stats.drop_unknown_peer++;
}

/* HELLO goes to the broadcast MAC on every port (we do not know which port leads to the
 * peer, e.g. an aggregator with one memif port per worker); only the owner of the
 * destination IP answers. */
void dp_hello_timers(struct dp_ctx *c, uint64_t now)
{
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *p = c->peers[i];
		if (p->state != DP_PEER_CONNECTING || now < p->hello_next_ns)
			continue;
		if (now >= p->hello_deadline_ns) {
			p->state = DP_PEER_DOWN;
			__atomic_store_n(&p->base.failed, 1, __ATOMIC_RELAXED);
			pthread_cond_broadcast(&c->cond);
			continue;
		}
		struct pn_dp_hdr h;
		dp_hdr_init(c, p, &h, PN_DP_HELLO);
		h.dst_id = UINT32_MAX;
		h.req_id = p->nonce;
		for (uint16_t port = 0; port < c->nports; port++) {
			p->port_idx = port;
			memset(p->mac, 0xff, 6);
			dp_send_hdr(c, p, &h, NULL, 0);
		}
		p->hello_next_ns = now + (uint64_t)c->o.connect_retry_ms * 1000000;
	}
}

/* A HELLO with another job token: tell the caller no (echoing its own token so it accepts
 * the answer) instead of letting it retry until its timeout. Nothing else is revealed. */
void dp_reject_hello(struct dp_ctx *c, uint16_t port_idx, const struct pn_dp_frame *f)
{
	if (!c->listening || f->addr.dst_ip != c->o.ip || f->addr.dst_port != c->o.udp_port)
		return;
	struct dp_peer tmp;
	memset(&tmp, 0, sizeof tmp);
	tmp.base.id = f->hdr.src_id;
	learn_route(&tmp, port_idx, f);
	struct pn_dp_hdr h;
	dp_hdr_init(c, &tmp, &h, PN_DP_ERROR);
	h.token = f->hdr.token;
	h.req_id = f->hdr.req_id;
	h.aux = ECONNREFUSED;
	dp_send_hdr(c, &tmp, &h, NULL, 0);
}

bool dp_on_connect_refused(struct dp_ctx *c, const struct pn_dp_frame *f)
{
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *p = c->peers[i];
		if (p->connector && p->state == DP_PEER_CONNECTING && p->nonce == f->hdr.req_id &&
		    f->hdr.dst_id == c->base.cfg.node_id) {
			p->refused = true;
			p->state = DP_PEER_DOWN;
			__atomic_store_n(&p->base.failed, 1, __ATOMIC_RELAXED);
			pthread_cond_broadcast(&c->cond);
			return true;
		}
	}
	return false;
}
