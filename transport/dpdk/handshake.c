/* The authenticated connection handshake of the dpdk backend (transport/AUTH.md).
 *
 *   requester                                   listener
 *   HELLO(pair, nonce_r), broadcast, resent ->
 *                                           <-  ACCEPT(pair, nonce_l, proof_l)   [half-open]
 *   checks proof_l (wrong: ERROR abort, connect fails)
 *   CONFIRM(pair, proof_r, tag), resent     ->  checks proof_r (wrong: ERROR refusal)
 *                                           <-  READY(pair, tag)                 [peer created]
 *
 * pair is a random 64-bit id that matches the frames of one attempt. The listener keeps
 * what an unproven requester sent in a small half-open table (not a peer): it creates
 * the peer, queues it for pn_tp_accept and serves it only after proof_r checks. Lost
 * frames are covered by resending HELLO (until ACCEPT) and CONFIRM (until READY, else
 * back to HELLO after a few); the listener answers duplicates with the same
 * ACCEPT/READY. Every later frame carries the
 * session tag of its direction (auth.h); a wrong tag is dropped and counted in
 * drop_bad_token. Refusals carry nothing of the listener's state but the pair id the
 * requester chose. All of this runs on the service thread, under ctx->lock. */
#include "dp.h"

#include <errno.h>
#include <string.h>

static const char label[] = "dpdk";

#define DP_CONFIRM_TRIES 8 /* CONFIRMs without READY before the requester says HELLO again */

static void learn_route(struct dp_peer *p, uint16_t port_idx, const struct pn_dp_frame *f)
{
	p->port_idx = port_idx;
	memcpy(p->mac, f->addr.src_mac, 6);
	p->ip = f->addr.src_ip;
	p->udp_port = f->addr.src_port;
}

static void payload(const struct pn_dp_frame *f, const struct rte_mbuf *m, uint8_t *out, uint32_t len)
{
	if (f->payload)
		memcpy(out, f->payload, len);
	else
		dp_mbuf_copy(out, m, PN_DP_ALL_HDRS, len);
}

/* A frame to somewhere we have no peer record for (half-open entries, refusals). */
static void send_to(struct dp_ctx *c, const struct dp_half_open *h, bool as_connector, uint8_t type,
		    uint64_t pair, uint32_t aux, const void *data, uint32_t len)
{
	static __thread struct dp_peer tmp; /* large (control ring): not on the stack */
	memset(&tmp, 0, sizeof tmp);
	tmp.connector = as_connector;
	tmp.base.id = h->src_id;
	tmp.port_idx = h->port_idx;
	memcpy(tmp.mac, h->mac, 6);
	tmp.ip = h->ip;
	tmp.udp_port = h->udp_port;
	struct pn_dp_hdr hd;
	dp_hdr_init(c, &tmp, &hd, type);
	hd.req_id = pair;
	hd.aux = aux;
	hd.length = len;
	if (type == PN_DP_ERROR)
		hd.src_id = 0; /* a refusal names nothing of ours */
	dp_send_hdr(c, &tmp, &hd, data, len);
}

static void route_of(struct dp_half_open *h, uint16_t port_idx, const struct pn_dp_frame *f)
{
	h->port_idx = port_idx;
	memcpy(h->mac, f->addr.src_mac, 6);
	h->ip = f->addr.src_ip;
	h->udp_port = f->addr.src_port;
}

static void transcript(struct pn_auth_transcript *t, const uint8_t *nonce_r, const uint8_t *nonce_l,
		       uint32_t id_req, uint32_t id_lis)
{
	t->label = label;
	memcpy(t->nonce_req, nonce_r, PN_AUTH_NONCE_LEN);
	memcpy(t->nonce_lis, nonce_l, PN_AUTH_NONCE_LEN);
	t->id_req = id_req;
	t->id_lis = id_lis;
}

static bool for_us(const struct dp_ctx *c, const struct pn_dp_frame *f)
{
	return c->listening && f->addr.dst_ip == c->o.ip;
}

static struct dp_half_open *half_open_find(struct dp_ctx *c, uint32_t src_id, uint64_t pair)
{
	for (int i = 0; i < DP_MAX_HALF_OPEN; i++) {
		struct dp_half_open *h = &c->half_open[i];
		if (h->used && h->src_id == src_id && h->pair == pair)
			return h;
	}
	return NULL;
}

/* A free slot, else an expired one, else the oldest (a flood of HELLOs can only delay a
 * requester: it resends). */
static struct dp_half_open *half_open_slot(struct dp_ctx *c, uint64_t now)
{
	struct dp_half_open *oldest = &c->half_open[0];
	for (int i = 0; i < DP_MAX_HALF_OPEN; i++) {
		struct dp_half_open *h = &c->half_open[i];
		if (!h->used || h->expires_ns <= now)
			return h;
		if (h->expires_ns < oldest->expires_ns)
			oldest = h;
	}
	dp_nobuf(c, PN_DP_WHY_NO_SLOT, 1);
	return oldest;
}

void dp_on_hello(struct dp_ctx *c, uint16_t port_idx, const struct pn_dp_frame *f, const struct rte_mbuf *m)
{
	if (!for_us(c, f) || !(f->hdr.flags & DP_FLAG_FROM_CONNECTOR)) {
		c->base.stats.drop_unknown_peer++;
		return;
	}
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *q = c->peers[i];
		if (!q->connector && q->base.id == f->hdr.src_id && q->nonce == f->hdr.req_id &&
		    q->state == DP_PEER_UP) {
			dp_dup(c, PN_DP_WHY_DUP_HANDSHAKE); /* stale copy of a finished handshake */
			return;
		}
	}
	uint8_t nonce_r[PN_DP_NONCE_LEN];
	payload(f, m, nonce_r, sizeof nonce_r);
	struct dp_half_open *h = half_open_find(c, f->hdr.src_id, f->hdr.req_id);
	uint64_t now = dp_now_ns();
	if (h && !memcmp(h->nonce_r, nonce_r, sizeof nonce_r)) {
		dp_dup(c, PN_DP_WHY_DUP_HANDSHAKE); /* our ACCEPT was lost: the same answer again */
	} else {
		if (!h)
			h = half_open_slot(c, now);
		memset(h, 0, sizeof *h);
		h->src_id = f->hdr.src_id;
		h->pair = f->hdr.req_id;
		memcpy(h->nonce_r, nonce_r, sizeof nonce_r);
		struct pn_auth_transcript t;
		if (pn_auth_nonce(h->nonce_l))
			return;
		transcript(&t, h->nonce_r, h->nonce_l, h->src_id, c->base.cfg.node_id);
		if (pn_auth_prove(&c->base, PN_AUTH_LISTENER, &t, h->proof_l))
			return;
		h->used = true;
	}
	route_of(h, port_idx, f);
	h->expires_ns = now + DP_HALF_OPEN_NS;
	uint8_t acc[PN_DP_ACCEPT_LEN];
	memcpy(acc, h->nonce_l, PN_DP_NONCE_LEN);
	memcpy(acc + PN_DP_NONCE_LEN, h->proof_l, PN_DP_PROOF_LEN);
	send_to(c, h, false, PN_DP_ACCEPT, h->pair, 0, acc, sizeof acc);
}

static void send_ready(struct dp_ctx *c, struct dp_peer *p)
{
	struct pn_dp_hdr h;
	dp_hdr_init(c, p, &h, PN_DP_READY);
	h.req_id = p->nonce;
	dp_send_hdr(c, p, &h, NULL, 0);
}

void dp_on_confirm(struct dp_ctx *c, uint16_t port_idx, const struct pn_dp_frame *f, const struct rte_mbuf *m)
{
	if (!for_us(c, f) || !(f->hdr.flags & DP_FLAG_FROM_CONNECTOR) || f->hdr.dst_id != c->base.cfg.node_id) {
		c->base.stats.drop_unknown_peer++;
		return;
	}
	uint8_t proof[PN_DP_PROOF_LEN];
	payload(f, m, proof, sizeof proof);
	struct pn_auth_transcript t;
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *q = c->peers[i];
		if (q->connector || q->state != DP_PEER_UP || q->base.id != f->hdr.src_id || q->nonce != f->hdr.req_id)
			continue;
		/* our READY was lost: answer again, but only to the real requester */
		transcript(&t, q->nonce_r, q->nonce_l, q->base.id, c->base.cfg.node_id);
		if (f->hdr.tag == q->rx_tag && pn_auth_check(&c->base, PN_AUTH_REQUESTER, &t, proof)) {
			dp_dup(c, PN_DP_WHY_DUP_HANDSHAKE);
			send_ready(c, q);
		} else {
			c->base.stats.drop_bad_token++;
		}
		return;
	}
	struct dp_half_open *h = half_open_find(c, f->hdr.src_id, f->hdr.req_id);
	if (!h) {
		c->base.stats.drop_unknown_peer++;
		return;
	}
	transcript(&t, h->nonce_r, h->nonce_l, h->src_id, c->base.cfg.node_id);
	struct pn_auth_tags tags;
	if (!pn_auth_check(&c->base, PN_AUTH_REQUESTER, &t, proof) ||
	    pn_auth_session_tags(&c->base, &t, &tags) || f->hdr.tag != tags.from_req) {
		c->base.stats.drop_bad_token++;
		route_of(h, port_idx, f);
		send_to(c, h, false, PN_DP_ERROR, h->pair, ECONNREFUSED, NULL, 0);
		memset(h, 0, sizeof *h);
		return;
	}
	/* Proven. A node that comes back (it restarted) replaces its old connection. */
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *q = c->peers[i];
		if (!q->connector && q->base.id == h->src_id && q->state == DP_PEER_UP)
			dp_peer_down(c, q, -ECONNRESET);
	}
	struct dp_peer *p = dp_peer_new(c);
	if (!p) {
		dp_nobuf(c, PN_DP_WHY_NO_SLOT, 1);
		return; /* it resends CONFIRM; a slot may free up */
	}
	p->base.id = h->src_id;
	p->nonce = h->pair;
	memcpy(p->nonce_r, h->nonce_r, PN_DP_NONCE_LEN);
	memcpy(p->nonce_l, h->nonce_l, PN_DP_NONCE_LEN);
	p->tx_tag = tags.from_lis;
	p->rx_tag = tags.from_req;
	p->state = DP_PEER_UP;
	learn_route(p, port_idx, f);
	memset(h, 0, sizeof *h);
	if (c->accept_len < DP_MAX_PEERS)
		c->accept_q[c->accept_len++] = p;
	pthread_cond_broadcast(&c->cond);
	send_ready(c, p);
}

static struct dp_peer *connecting(struct dp_ctx *c, const struct pn_dp_frame *f, uint8_t stage)
{
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *p = c->peers[i];
		if (p->connector && p->state == DP_PEER_CONNECTING && p->hs_stage == stage &&
		    p->nonce == f->hdr.req_id && f->hdr.dst_id == c->base.cfg.node_id &&
		    !(f->hdr.flags & DP_FLAG_FROM_CONNECTOR))
			return p;
	}
	return NULL;
}

static void give_up(struct dp_ctx *c, struct dp_peer *p)
{
	p->refused = true;
	p->state = DP_PEER_DOWN;
	__atomic_store_n(&p->base.failed, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&c->cond);
}

void dp_on_accept(struct dp_ctx *c, uint16_t port_idx, const struct pn_dp_frame *f, const struct rte_mbuf *m)
{
	struct dp_peer *p = connecting(c, f, 0);
	if (!p) {
		if (connecting(c, f, 1))
			dp_dup(c, PN_DP_WHY_DUP_HANDSHAKE);
		else
			c->base.stats.drop_unknown_peer++;
		return;
	}
	uint8_t acc[PN_DP_ACCEPT_LEN];
	payload(f, m, acc, sizeof acc);
	struct pn_auth_transcript t;
	transcript(&t, p->nonce_r, acc, c->base.cfg.node_id, f->hdr.src_id);
	learn_route(p, port_idx, f);
	p->base.id = f->hdr.src_id;
	struct pn_auth_tags tags;
	if (!pn_auth_check(&c->base, PN_AUTH_LISTENER, &t, acc + PN_DP_NONCE_LEN) ||
	    pn_auth_session_tags(&c->base, &t, &tags) || pn_auth_prove(&c->base, PN_AUTH_REQUESTER, &t, p->proof_r)) {
		c->base.stats.drop_bad_token++;
		p->auth_failed = true;
		struct pn_dp_hdr h; /* tell it we leave (no proof of ours goes out) */
		dp_hdr_init(c, p, &h, PN_DP_ERROR);
		h.req_id = p->nonce;
		h.aux = EACCES;
		dp_send_hdr(c, p, &h, NULL, 0);
		give_up(c, p);
		return;
	}
	memcpy(p->nonce_l, acc, PN_DP_NONCE_LEN);
	p->tx_tag = tags.from_req;
	p->rx_tag = tags.from_lis;
	p->hs_stage = 1;
	p->hs_tries = 0;
	p->hello_next_ns = 0; /* CONFIRM at the next timer tick */
}

void dp_on_ready(struct dp_ctx *c, const struct pn_dp_frame *f)
{
	struct dp_peer *p = connecting(c, f, 1);
	if (!p || f->hdr.src_id != p->base.id) {
		c->base.stats.drop_unknown_peer++;
		return;
	}
	if (f->hdr.tag != p->rx_tag) {
		c->base.stats.drop_bad_token++;
		return;
	}
	p->state = DP_PEER_UP;
	pthread_cond_broadcast(&c->cond);
}

/* HELLO goes to the broadcast MAC on every port whose link is up (we do not know which
 * port leads to the peer, e.g. an aggregator with one memif port per worker); only the owner of the
 * destination IP answers. CONFIRM goes where ACCEPT came from. */
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
		if (p->hs_stage == 0) {
			dp_hdr_init(c, p, &h, PN_DP_HELLO);
			h.dst_id = UINT32_MAX;
			h.req_id = p->nonce;
			h.length = PN_DP_HELLO_LEN;
			int sent = 0;
			for (uint16_t port = 0; port < c->nports; port++) {
				/* a memif port whose peer has not connected yet cannot carry it (its
				 * ring would only fill up), nor one whose peer does not poll yet:
				 * try again at the next tick */
				if (c->port_watch_link[port] && !c->port_link_up[port])
					continue;
				p->port_idx = port;
				memset(p->mac, 0xff, 6);
				if (!c->port_watch_link[port])
					sent += dp_send_hdr(c, p, &h, p->nonce_r, PN_DP_HELLO_LEN) == 0;
				else
					sent += dp_send_hdr_probe(c, p, &h, p->nonce_r, PN_DP_HELLO_LEN) == 0;
			}
			if (!sent)
				continue;
		} else if (++p->hs_tries > DP_CONFIRM_TRIES) {
			/* The listener may have lost our half-open entry (evicted by a flood of
			 * HELLOs): start over with HELLO; it answers with a fresh ACCEPT. */
			p->hs_stage = 0;
			p->hs_tries = 0;
			p->tx_tag = p->rx_tag = 0;
			continue;
		} else {
			dp_hdr_init(c, p, &h, PN_DP_CONFIRM);
			h.req_id = p->nonce;
			h.length = PN_DP_CONFIRM_LEN;
			dp_send_hdr(c, p, &h, p->proof_r, PN_DP_CONFIRM_LEN);
		}
		p->hello_next_ns = now + (uint64_t)c->o.connect_retry_ms * 1000000;
	}
}

/* An untagged ERROR in the handshake: the listener refused our proof, or (on the
 * listener) a requester gave up because our proof did not check. */
bool dp_on_handshake_error(struct dp_ctx *c, const struct pn_dp_frame *f)
{
	if (f->hdr.tag)
		return false; /* tagged: a peer refusing one of our reads */
	if (f->hdr.flags & DP_FLAG_FROM_CONNECTOR) {
		struct dp_half_open *h = for_us(c, f) ? half_open_find(c, f->hdr.src_id, f->hdr.req_id) : NULL;
		if (!h)
			return false;
		c->base.stats.drop_bad_token++;
		memset(h, 0, sizeof *h);
		return true;
	}
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *p = c->peers[i];
		if (p->connector && p->state == DP_PEER_CONNECTING && p->nonce == f->hdr.req_id &&
		    f->hdr.dst_id == c->base.cfg.node_id) {
			give_up(c, p);
			return true;
		}
	}
	return false;
}
