/* tcp backend: the reading side. A posted read becomes one or more pieces (at most
 * ctx->piece bytes each). Pieces are requested round-robin across the peer's reads within
 * a window, so a small read is not stuck behind a large one and the target never queues
 * more than the window per requester. Responses land directly in the destination buffer
 * (see tcp_progress.c). */
#include "transport/tcp/tcp.h"
#include "transport/list.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void issue_push(struct tcp_peer *p, struct tcp_op *op)
{
	op->in_issue_queue = true;
	PN_FIFO_APPEND(p->issue_head, p->issue_tail, op, next_issue);
}

static struct tcp_op *issue_pop(struct tcp_peer *p)
{
	struct tcp_op *op = p->issue_head;
	if (!op)
		return NULL;
	p->issue_head = op->next_issue;
	if (!p->issue_head)
		p->issue_tail = NULL;
	op->in_issue_queue = false;
	return op;
}

static void issue_remove(struct tcp_peer *p, struct tcp_op *op)
{
	struct tcp_op *prev = NULL;
	for (struct tcp_op *o = p->issue_head; o; prev = o, o = o->next_issue) {
		if (o != op)
			continue;
		if (prev)
			prev->next_issue = o->next_issue;
		else
			p->issue_head = o->next_issue;
		if (p->issue_tail == o)
			p->issue_tail = prev;
		o->in_issue_queue = false;
		return;
	}
}

static void op_finish(struct tcp_peer *p, struct tcp_op *op)
{
	struct tcp_ctx *c = tcp_peer_ctx(p);
	pn_tp_completion comp = { .event = PN_TP_READ_DONE, .status = op->status,
				  .cookie = op->cookie, .peer = &p->base, .peer_id = p->base.id,
				  .len = op->status ? 0 : op->len };
	if (op->status)
		c->live.reads_failed++;
	else
		c->live.reads_completed++;
	tcp_cq_push(c, &comp, NULL);
	PN_LIST_UNLINK(p->ops, op, prev, next);
	p->ops_live--;
	free(op);
}

static int pend_push(struct tcp_peer *p, const struct tcp_piece *pc)
{
	struct tcp_piece *slot = pn_ring_push(&p->pend);
	if (!slot)
		return -ENOMEM;
	*slot = *pc;
	p->pend_bytes += pc->len;
	return 0;
}

void tcp_pump_requests(struct tcp_peer *p)
{
	struct tcp_ctx *c = tcp_peer_ctx(p);
	while (!p->down && p->issue_head && pn_ring_count(&p->pend) < c->window_pieces &&
	       (pn_ring_count(&p->pend) == 0 || p->pend_bytes < c->window_bytes)) {
		struct tcp_op *op = p->issue_head;
		uint32_t n = op->len - op->issued;
		if (n > c->piece)
			n = c->piece;
		struct tcp_tx_item *it = tcp_txq_push(p);
		if (!it)
			break; /* queue full: retried when responses drain it */
		struct tcp_piece pc = { .req_id = p->next_req_id++, .op = op,
					.dst = op->dst + op->issued, .len = n };
		if (pend_push(p, &pc) != 0) {
			pn_ring_unpush(&p->txq);
			break;
		}
		it->h = (struct tcp_wire_hdr){ .type = TCP_READ_REQ, .key = op->key, .req_id = pc.req_id,
					       .offset = op->remote_off + op->issued, .len = n };
		tcp_wire_encode(&it->h, it->hdr);
		op->issued += n;
		op->pieces_out++;
		issue_pop(p);
		if (op->issued < op->len)
			issue_push(p, op);
	}
}

int tcp_post_read(pn_tp_peer *peer, pn_tp_mr *local, size_t local_off,
		  const pn_mr_desc *remote, uint64_t remote_off, size_t len, uint64_t cookie)
{
	struct tcp_peer *p = tcp_peer_of(peer);
	struct tcp_ctx *c = tcp_peer_ctx(p);
	struct tcp_op *op = calloc(1, sizeof(*op));
	if (!op)
		return pn_tp_fail(&c->base, ENOMEM, "tcp: out of memory for a read");
	op->cookie = cookie;
	op->local = local;
	op->dst = (uint8_t *)local->addr + local_off;
	op->remote_off = remote_off;
	op->key = remote->key;
	op->len = (uint32_t)len;
	pthread_mutex_lock(&c->lock);
	if (p->down) {
		pthread_mutex_unlock(&c->lock);
		free(op);
		return pn_tp_fail(&c->base, ENOTCONN, "tcp: peer %u is down", p->base.id);
	}
	if (p->ops_live >= c->reads_in_flight) {
		pthread_mutex_unlock(&c->lock);
		free(op);
		return pn_tp_fail(&c->base, EAGAIN, "tcp: %u reads in flight to peer %u", p->ops_live,
				  p->base.id);
	}
	op->next = p->ops;
	if (p->ops)
		p->ops->prev = op;
	p->ops = op;
	p->ops_live++;
	c->live.reads_posted++;
	issue_push(p, op);
	tcp_pump_requests(p);
	tcp_peer_kick(p);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int tcp_on_read_resp(struct tcp_peer *p, const struct tcp_wire_hdr *h)
{
	struct tcp_ctx *c = tcp_peer_ctx(p);
	struct tcp_piece *pc = pn_ring_count(&p->pend) ? pn_ring_front(&p->pend) : NULL;
	if (!pc || pc->req_id != h->req_id) {
		c->live.drop_malformed++;
		return -EPROTO; /* responses must come back in request order */
	}
	if (h->status != 0) {
		if (h->len != 0) {
			c->live.drop_malformed++;
			return -EPROTO;
		}
		int st = h->status < 0 && h->status > -4096 ? h->status : -EIO;
		struct tcp_op *op = pc->op;
		if (!op->status)
			op->status = st;
		tcp_on_piece_landed(p);
		return 0;
	}
	if (h->len != pc->len) {
		c->live.drop_malformed++;
		return -EPROTO;
	}
	p->rx_dst = pc->dst;
	p->rx_mode = RX_LAND;
	return 0;
}

/* The head piece is finished (landed, or refused by the target). */
void tcp_on_piece_landed(struct tcp_peer *p)
{
	struct tcp_ctx *c = tcp_peer_ctx(p);
	struct tcp_piece pc = *(struct tcp_piece *)pn_ring_front(&p->pend);
	pn_ring_pop(&p->pend);
	p->pend_bytes -= pc.len;
	struct tcp_op *op = pc.op;
	op->pieces_out--;
	if (op->status == 0) {
		c->live.bytes_read += pc.len;
	} else if (op->issued < op->len) {
		/* Refused: do not ask for the rest. */
		if (op->in_issue_queue)
			issue_remove(p, op);
		op->issued = op->len;
	}
	if (op->issued == op->len && op->pieces_out == 0)
		op_finish(p, op);
}

void tcp_fail_all_ops(struct tcp_peer *p, int err)
{
	p->issue_head = p->issue_tail = NULL;
	pn_ring_clear(&p->pend);
	p->pend_bytes = 0;
	while (p->ops) {
		struct tcp_op *op = p->ops;
		if (!op->status)
			op->status = err;
		op_finish(p, op);
	}
}
