/* Control messages: reliable and in order per peer. Go-back-N: the receiver accepts only
 * the next sequence number and acknowledges cumulatively; the sender resends everything
 * unacknowledged after the peer's retransmission timeout. */
#include "dp.h"

#include <errno.h>
#include <string.h>

static bool seq_before(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

static void send_ack(struct dp_ctx *c, struct dp_peer *p)
{
	struct pn_dp_hdr h;
	dp_hdr_init(c, p, &h, PN_DP_CTRL_ACK);
	h.aux = p->ctrl_rx_next;
	dp_send_hdr(c, p, &h, NULL, 0);
}

void dp_on_ctrl(struct dp_ctx *c, struct dp_peer *p, const struct pn_dp_frame *f, const struct rte_mbuf *m)
{
	if (f->hdr.seq != p->ctrl_rx_next) {
		/* a duplicate, or a gap (an earlier message was lost): the sender resends */
		dp_dup(c, PN_DP_WHY_DUP_CTRL);
		send_ack(c, p);
		return;
	}
	uint8_t data[PN_DP_CTRL_MAX];
	dp_mbuf_copy(data, m, PN_DP_ALL_HDRS, f->payload_len);
	pn_tp_completion comp = { .event = PN_TP_CTRL_RECV, .peer = &p->base, .peer_id = p->base.id,
				  .len = f->payload_len };
	if (dp_cq_push(c, &comp, data) != 0)
		return; /* not acknowledged: the sender resends it */
	p->ctrl_rx_next++;
	c->base.stats.ctrl_recv++;
	send_ack(c, p);
	pthread_cond_broadcast(&c->cond);
}

void dp_on_ctrl_ack(struct dp_ctx *c, struct dp_peer *p, const struct pn_dp_frame *f)
{
	uint32_t ack = f->hdr.aux;
	if (seq_before(p->ctrl_next, ack) || !seq_before(p->ctrl_acked, ack)) {
		dp_dup(c, PN_DP_WHY_DUP_ACK); /* stale, or acknowledges what we never sent */
		return;
	}
	p->ctrl_acked = ack;
	if (seq_before(p->ctrl_sent, ack))
		p->ctrl_sent = ack;
	p->ctrl_tries = 0;
	p->ctrl_deadline_ns = dp_now_ns() + dp_peer_rto(c, p, 0);
	pthread_cond_broadcast(&c->cond);
}

static void send_range(struct dp_ctx *c, struct dp_peer *p, uint32_t from, uint32_t to)
{
	for (uint32_t s = from; s != to; s++) {
		struct dp_ctrl_msg *msg = &p->ctrl_q[s % DP_CTRL_WINDOW];
		struct pn_dp_hdr h;
		dp_hdr_init(c, p, &h, PN_DP_CTRL);
		h.seq = msg->seq;
		dp_send_hdr(c, p, &h, msg->data, msg->len);
	}
}

void dp_ctrl_progress(struct dp_ctx *c, uint64_t now)
{
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *p = c->peers[i];
		if (p->state != DP_PEER_UP)
			continue;
		if (p->ctrl_sent != p->ctrl_next) { /* new messages */
			if (p->ctrl_sent == p->ctrl_acked)
				p->ctrl_deadline_ns = now + dp_peer_rto(c, p, 0);
			send_range(c, p, p->ctrl_sent, p->ctrl_next);
			c->base.stats.ctrl_sent += p->ctrl_next - p->ctrl_sent;
			p->ctrl_sent = p->ctrl_next;
		}
		if (p->ctrl_acked != p->ctrl_sent && now >= p->ctrl_deadline_ns) {
			if (++p->ctrl_tries > c->o.retries) {
				dp_peer_down(c, p, -ETIMEDOUT);
				continue;
			}
			send_range(c, p, p->ctrl_acked, p->ctrl_sent);
			dp_rexmit(c, PN_DP_WHY_REXMIT_CTRL, p->ctrl_sent - p->ctrl_acked);
			p->ctrl_deadline_ns = now + dp_peer_rto(c, p, p->ctrl_tries);
		}
	}
}

/* Queued for the service thread (dp_ctrl_progress); the core has checked the length. */
int dp_send_ctrl(pn_tp_peer *peer, const void *msg, size_t len)
{
	struct dp_peer *p = (struct dp_peer *)peer;
	struct dp_ctx *c = dp_ctx(peer->ctx);
	pthread_mutex_lock(&c->lock);
	int rc = 0;
	if (p->state != DP_PEER_UP)
		rc = pn_tp_fail(&c->base, ENOTCONN, "dpdk: peer %u is down", p->base.id);
	else if (p->ctrl_next - p->ctrl_acked >= DP_CTRL_WINDOW)
		rc = pn_tp_fail(&c->base, EAGAIN, "dpdk: %d control messages unacknowledged", DP_CTRL_WINDOW);
	else {
		struct dp_ctrl_msg *m = &p->ctrl_q[p->ctrl_next % DP_CTRL_WINDOW];
		m->seq = p->ctrl_next++;
		m->len = (uint16_t)len;
		memcpy(m->data, msg, len);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}
