/* tcp backend: per-peer queue of outgoing frames and the gathered write that drains it.
 * READ responses are written with sendmsg straight from the registered region (header
 * iovec + payload iovec): no user-space staging copy on the serving side. */
#include "transport/tcp/tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define TX_BATCH 64 /* frames gathered per sendmsg */

struct tcp_tx_item *tcp_txq_push(struct tcp_peer *p)
{
	struct tcp_tx_item *it = pn_ring_push(&p->txq);
	if (it)
		memset(it, 0, offsetof(struct tcp_tx_item, inline_data));
	return it;
}

static const uint8_t *item_payload(const struct tcp_tx_item *it)
{
	return it->is_inline ? it->inline_data : it->data;
}

static void item_done(struct tcp_peer *p, struct tcp_tx_item *it)
{
	struct tcp_ctx *c = tcp_peer_ctx(p);
	if (it->h.type == TCP_READ_RESP)
		c->live.bytes_served += it->data_len;
}

int tcp_flush(struct tcp_peer *p)
{
	struct pn_ring *q = &p->txq;
	while (pn_ring_count(q) > 0) {
		struct iovec iov[2 * TX_BATCH];
		int n = 0;
		for (uint32_t i = 0; i < pn_ring_count(q) && n < 2 * TX_BATCH; i++) {
			struct tcp_tx_item *it = pn_ring_at(q, i);
			uint32_t off = it->sent;
			if (off < TCP_WIRE_HDR_SIZE) {
				iov[n].iov_base = it->hdr + off;
				iov[n].iov_len = TCP_WIRE_HDR_SIZE - off;
				n++;
				off = 0;
			} else {
				off -= TCP_WIRE_HDR_SIZE;
			}
			if (it->data_len > off) {
				iov[n].iov_base = (void *)(item_payload(it) + off);
				iov[n].iov_len = it->data_len - off;
				n++;
			}
		}
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(p->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		size_t left = (size_t)w;
		while (left > 0 && pn_ring_count(q) > 0) {
			struct tcp_tx_item *it = pn_ring_front(q);
			size_t remain = TCP_WIRE_HDR_SIZE + (size_t)it->data_len - it->sent;
			if (left < remain) {
				it->sent += (uint32_t)left;
				left = 0;
				break;
			}
			left -= remain;
			item_done(p, it);
			pn_ring_pop(q);
		}
	}
	return 0;
}

void tcp_peer_kick(struct tcp_peer *p)
{
	if (p->down)
		return;
	struct tcp_ctx *c = tcp_peer_ctx(p);
	int rc = tcp_flush(p);
	if (rc < 0) {
		tcp_peer_down(p, rc, true);
		return;
	}
	bool want_out = pn_ring_count(&p->txq) > 0;
	if (want_out != p->epollout) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0),
					  .data.ptr = p };
		if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, p->fd, &ev) == 0)
			p->epollout = want_out;
	}
}
