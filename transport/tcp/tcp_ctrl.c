/* tcp backend: control messages. TCP already gives reliable, ordered delivery per peer,
 * so a message is one CTRL frame on the peer's stream. */
#include "transport/tcp/tcp.h"

#include <errno.h>
#include <string.h>

int tcp_send_ctrl(pn_tp_peer *peer, const void *msg, size_t len)
{
	struct tcp_peer *p = tcp_peer_of(peer);
	struct tcp_ctx *c = tcp_peer_ctx(p);
	pthread_mutex_lock(&c->lock);
	if (p->down) {
		pthread_mutex_unlock(&c->lock);
		return pn_tp_fail(&c->base, ENOTCONN, "tcp: peer %u is down", p->base.id);
	}
	struct tcp_tx_item *it = tcp_txq_push(p);
	if (!it) {
		pthread_mutex_unlock(&c->lock);
		return pn_tp_fail(&c->base, EAGAIN, "tcp: send queue to peer %u is full", p->base.id);
	}
	it->h = (struct tcp_wire_hdr){ .type = TCP_CTRL, .len = (uint32_t)len };
	tcp_wire_encode(&it->h, it->hdr);
	memcpy(it->inline_data, msg, len);
	it->is_inline = true;
	it->data_len = (uint32_t)len;
	c->live.ctrl_sent++;
	tcp_peer_kick(p);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void tcp_on_ctrl(struct tcp_peer *p)
{
	struct tcp_ctx *c = tcp_peer_ctx(p);
	pn_tp_completion comp = { .event = PN_TP_CTRL_RECV, .peer = &p->base, .peer_id = p->base.id,
				  .len = p->rx.len };
	c->live.ctrl_recv++;
	tcp_cq_push(c, &comp, p->rx_ctrl);
}
