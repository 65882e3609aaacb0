/* verbs backend: one-sided reads (RDMA READ).
 *
 * A read is split into pieces at the port's max message size (or max_msg=). Pieces go
 * on the peer's send queue as RDMA READ work requests while there is room; the rest
 * wait in the peer's issue queue and are posted as completions free the queue. Only
 * the last piece of a read, and every signal_every-th work request, is signalled: an
 * RC send queue completes in order, so one completion retires everything before it.
 * How many READs are on the wire at once is the QP's negotiated initiator depth (the
 * NIC enforces it; extra work requests wait on the send queue). */
#include "transport/verbs/verbs.h"
#include "transport/list.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- remote regions the peer announced ---- */

void verbs_remote_region_add(struct verbs_peer *p, uint64_t addr, uint64_t len, uint32_t rkey)
{
	for (uint32_t i = 0; i < p->nregions; i++)
		if (p->regions[i].rkey == rkey) {
			p->regions[i] = (struct verbs_remote_region){ addr, len, rkey };
			return;
		}
	if (p->nregions == p->regions_cap) {
		uint32_t ncap = p->regions_cap ? 2 * p->regions_cap : 8;
		void *n = realloc(p->regions, ncap * sizeof(*p->regions));
		if (!n) {
			verbs_peer_ctx(p)->base.stats.drop_no_buffer++;
			return;
		}
		p->regions = n;
		p->regions_cap = ncap;
	}
	p->regions[p->nregions++] = (struct verbs_remote_region){ addr, len, rkey };
}

void verbs_remote_region_del(struct verbs_peer *p, uint32_t rkey)
{
	for (uint32_t i = 0; i < p->nregions; i++)
		if (p->regions[i].rkey == rkey) {
			p->regions[i] = p->regions[--p->nregions];
			return;
		}
}

static const struct verbs_remote_region *find_region(const struct verbs_peer *p, uint32_t rkey)
{
	for (uint32_t i = 0; i < p->nregions; i++)
		if (p->regions[i].rkey == rkey)
			return &p->regions[i];
	return NULL;
}

/* 0 if [raddr, raddr+len) lies inside a region the peer announced under that key. */
static int check_remote(struct verbs_peer *p, uint32_t rkey, uint64_t raddr, size_t len)
{
	struct verbs_ctx *c = verbs_peer_ctx(p);
	const struct verbs_remote_region *r = find_region(p, rkey);
	if (!r) {
		/* The announcement may still sit in our CQ: take it in, then look again. */
		verbs_drain_cq(c);
		r = find_region(p, rkey);
	}
	if (!r) {
		c->base.stats.drop_bad_key++;
		return -EACCES;
	}
	if (raddr < r->addr || raddr - r->addr > r->len || len > r->len - (raddr - r->addr)) {
		c->base.stats.drop_out_of_bounds++;
		return -ERANGE;
	}
	return 0;
}

/* ---- ops ---- */

static void op_complete(struct verbs_peer *p, struct verbs_op *op, int status)
{
	struct verbs_ctx *c = verbs_peer_ctx(p);
	pn_tp_completion comp = { .event = PN_TP_READ_DONE, .status = status, .cookie = op->cookie,
				  .peer = &p->base, .peer_id = p->base.id, .len = status ? 0 : op->len };
	verbs_cqe_push(c, &comp, NULL, 0);
	verbs_trace(c, "read %llu from peer %u: status %d", (unsigned long long)op->cookie, p->base.id, status);
	if (status)
		c->base.stats.reads_failed++;
	else
		c->base.stats.reads_completed++;
	PN_LIST_UNLINK_TAIL(p->live_head, p->live_tail, op, live_prev, live_next);
	op->next = p->op_free;
	p->op_free = op;
	p->ops_live--;
}

void verbs_read_piece_done(struct verbs_peer *p, struct verbs_op *op, uint32_t len)
{
	verbs_peer_ctx(p)->base.stats.bytes_read += len;
	op->pieces_out--;
	if (op->pieces_out == 0 && op->issued == op->len)
		op_complete(p, op, op->status);
}

void verbs_fail_all_ops(struct verbs_peer *p, int err)
{
	p->issue_head = p->issue_tail = NULL;
	while (p->live_head)
		op_complete(p, p->live_head, err);
}

/* A read refused before it reaches the NIC: it fails alone, the QP stays up. */
static void refuse(struct verbs_peer *p, uint64_t cookie, int status)
{
	struct verbs_ctx *c = verbs_peer_ctx(p);
	pn_tp_completion comp = { .event = PN_TP_READ_DONE, .status = status, .cookie = cookie,
				  .peer = &p->base, .peer_id = p->base.id };
	verbs_cqe_push(c, &comp, NULL, 0);
	c->base.stats.reads_posted++;
	c->base.stats.reads_failed++;
	verbs_trace(c, "read %llu from peer %u refused: %d", (unsigned long long)cookie, p->base.id, status);
}

int verbs_post_read(pn_tp_peer *peer, pn_tp_mr *local, size_t local_off,
		    const pn_mr_desc *remote, uint64_t remote_off, size_t len, uint64_t cookie)
{
	struct verbs_peer *p = verbs_peer_of(peer);
	struct verbs_ctx *c = verbs_peer_ctx(p);
	if (p->state == PEER_UP && !p->op_free)
		verbs_drain_cq(c); /* completions may be waiting to free an op */
	/* Check the key first: that may drain the CQ, which may take this peer down. */
	int bad = p->state == PEER_UP ? check_remote(p, remote->key, remote->addr + remote_off, len) : 0;
	if (p->state != PEER_UP)
		return pn_tp_fail(&c->base, ENOTCONN, "verbs: peer %u is not connected%s%s", p->base.id,
				  p->why[0] ? ": " : "", p->why);
	if (!p->op_free)
		return pn_tp_fail(&c->base, EAGAIN, "verbs: %u reads in flight to peer %u (poll, then retry)",
				  p->ops_live, p->base.id);
	if (bad) {
		refuse(p, cookie, bad);
		return 0;
	}
	struct verbs_op *op = p->op_free;
	p->op_free = op->next;
	p->ops_live++;
	*op = (struct verbs_op){
		.cookie = cookie,
		.dst = (uint8_t *)local->addr + local_off,
		.lkey = ((struct verbs_mr *)local)->mr->lkey,
		.rkey = remote->key,
		.raddr = remote->addr + remote_off,
		.len = (uint32_t)len,
		.live_prev = p->live_tail,
	};
	PN_FIFO_APPEND(p->live_head, p->live_tail, op, live_next);
	c->base.stats.reads_posted++;
	verbs_trace(c, "post read %llu: %zu bytes from peer %u", (unsigned long long)cookie, len, p->base.id);
	PN_FIFO_APPEND(p->issue_head, p->issue_tail, op, next);
	verbs_issue_reads(p);
	return 0;
}

#define POST_BATCH 16

void verbs_issue_reads(struct verbs_peer *p)
{
	struct verbs_ctx *c = verbs_peer_ctx(p);
	while (p->state == PEER_UP && p->issue_head) {
		struct ibv_send_wr wr[POST_BATCH];
		struct ibv_sge sge[POST_BATCH];
		int n = 0;
		/* Keep room for control sends (p->sbuf_count) on the send queue. */
		while (n < POST_BATCH && p->issue_head && p->sq_count < p->sq_cap - p->sbuf_count) {
			struct verbs_op *op = p->issue_head;
			uint32_t piece = op->len - op->issued;
			if (piece > c->max_msg)
				piece = c->max_msg;
			bool last = op->issued + piece == op->len;
			bool signal = last || p->sq_unsignalled + 1 >= p->signal_every;
			uint32_t slot = (p->sq_head + p->sq_count) % p->sq_cap;
			p->sq[slot] = (struct verbs_sq_entry){ .op = op, .len = piece, .kind = SQ_READ };
			sge[n] = (struct ibv_sge){ .addr = (uintptr_t)(op->dst + op->issued), .length = piece,
						   .lkey = op->lkey };
			wr[n] = (struct ibv_send_wr){
				.wr_id = verbs_wr_id(p->index, WR_SQ, slot),
				.sg_list = &sge[n],
				.num_sge = 1,
				.opcode = IBV_WR_RDMA_READ,
				.send_flags = signal ? IBV_SEND_SIGNALED : 0,
				.wr.rdma = { .remote_addr = op->raddr + op->issued, .rkey = op->rkey },
			};
			if (n > 0)
				wr[n - 1].next = &wr[n];
			p->sq_unsignalled = signal ? 0 : p->sq_unsignalled + 1;
			p->sq_count++;
			p->sq_reads++;
			op->issued += piece;
			op->pieces_out++;
			if (last) {
				p->issue_head = op->next;
				if (!p->issue_head)
					p->issue_tail = NULL;
			}
			n++;
		}
		if (n == 0)
			return;
		struct ibv_send_wr *bad_wr = NULL;
		int rc = ibv_post_send(p->qp, wr, &bad_wr);
		if (rc) {
			verbs_peer_down(p, -EIO, true, "ibv_post_send (RDMA READ): %s", strerror(rc));
			return;
		}
	}
}
