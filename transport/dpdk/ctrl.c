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
		c->base.stats.drop_duplicate++;
		send_ack(c, p);
		return;
	}
	struct dp_cqe *e = dp_cq_push(c);
	if (!e) {
		c->base.stats.drop_no_buffer++;
		return;
	}
	e->c.event = PN_TP_CTRL_RECV;
	e->c.peer = &p->base;
	e->c.peer_id = p->base.id;
	e->c.len = f->payload_len;
	dp_mbuf_copy(e->data, m, PN_DP_ALL_HDRS, f->payload_len);
	p->ctrl_rx_next++;
	c->base.stats.ctrl_recv++;
	send_ack(c, p);
	pthread_cond_broadcast(&c->cond);
}

void dp_on_ctrl_ack(struct dp_ctx *c, struct dp_peer *p, const struct pn_dp_frame *f)
{
	uint32_t ack = f->hdr.aux;
	if (seq_before(p->ctrl_next, ack) || !seq_before(p->ctrl_acked, ack)) {
		c->base.stats.drop_duplicate++; /* stale, or acknowledges what we never sent */
		return;
	}
	p->ctrl_acked = ack;
	if (seq_before(p->ctrl_sent, ack))
		p->ctrl_sent = ack;
	p->ctrl_tries = 0;
	p->ctrl_deadline_ns = dp_now_ns() + p->rto_ns;
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
				p->ctrl_deadline_ns = now + p->rto_ns;
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
			c->base.stats.retransmits += p->ctrl_sent - p->ctrl_acked;
			uint64_t backoff = p->rto_ns << (p->ctrl_tries < 10 ? p->ctrl_tries : 10);
			uint64_t cap = (uint64_t)c->o.rto_max_us * 1000;
			p->ctrl_deadline_ns = now + (backoff < cap ? backoff : cap);
		}
	}
}
