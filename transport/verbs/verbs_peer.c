/* verbs backend: one peer's QP, control buffers and op pool; taking a peer down. */
#include "transport/verbs/verbs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct verbs_peer *verbs_peer_new(struct verbs_ctx *c, struct rdma_cm_id *id)
{
	if (c->npeers == c->peers_cap) {
		uint32_t ncap = c->peers_cap ? 2 * c->peers_cap : 16;
		struct verbs_peer **n = realloc(c->peers, ncap * sizeof(*n));
		if (!n)
			return NULL;
		c->peers = n;
		c->peers_cap = ncap;
	}
	struct verbs_peer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->base.ctx = &c->base;
	p->base.id = UINT32_MAX;
	p->obj.kind = VERBS_OBJ_PEER;
	p->index = c->npeers;
	p->id = id;
	p->state = PEER_CONNECTING;
	pn_ring_init(&p->pend, sizeof(struct verbs_pending_msg), 16, VERBS_BACKLOG_MAX);
	id->context = &p->obj;
	c->peers[c->npeers++] = p;
	return p;
}

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

int verbs_peer_setup_qp(struct verbs_peer *p)
{
	struct verbs_ctx *c = verbs_peer_ctx(p);
	uint32_t max_wr = c->dev_attr.max_qp_wr > 0 ? (uint32_t)c->dev_attr.max_qp_wr : 16384;
	p->rq_depth = min_u32(c->ctrl_depth, max_wr);
	p->sbuf_count = min_u32(2 * c->ctrl_depth, max_wr / 2);
	uint32_t reads = min_u32(c->sq_reads, max_wr - p->sbuf_count);
	p->sq_cap = reads + p->sbuf_count;
	/* Signal at least every quarter of the read slots so the send queue is reclaimed
	 * even inside one long, split read. */
	p->signal_every = reads / 4 ? reads / 4 : 1;
	uint32_t need = p->sq_cap + p->rq_depth;
	if (c->cq_reserved + need > c->cq_depth)
		return pn_tp_fail(&c->base, ENOSPC,
				  "verbs: the context's CQ (%u entries) has no room for another peer (%u more); "
				  "raise cq_depth", c->cq_depth, need);

	p->sq = calloc(p->sq_cap, sizeof(*p->sq));
	p->op_pool = calloc(c->reads_in_flight, sizeof(*p->op_pool));
	p->rbuf_state = calloc(p->rq_depth, sizeof(*p->rbuf_state));
	size_t ctrl_bytes = (size_t)(p->rq_depth + p->sbuf_count) * VERBS_CTRL_BUF;
	if (!p->sq || !p->op_pool || !p->rbuf_state || posix_memalign((void **)&p->ctrl_mem, 4096, ctrl_bytes))
		return pn_tp_fail(&c->base, ENOMEM, "verbs: out of memory for a peer");
	for (uint32_t i = 0; i + 1 < c->reads_in_flight; i++)
		p->op_pool[i].next = &p->op_pool[i + 1];
	p->op_free = &p->op_pool[0];
	/* Control buffers are local only: no remote access at all. */
	p->ctrl_mr = ibv_reg_mr(c->pd, p->ctrl_mem, ctrl_bytes, IBV_ACCESS_LOCAL_WRITE);
	if (!p->ctrl_mr)
		return pn_tp_fail(&c->base, errno ? errno : ENOMEM, "verbs: registering control buffers: %s",
				  strerror(errno));

	struct ibv_qp_init_attr qa = {
		.send_cq = c->cq,
		.recv_cq = c->cq,
		.cap = { .max_send_wr = p->sq_cap, .max_recv_wr = p->rq_depth, .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 0, /* selective signalling */
	};
	if (rdma_create_qp(p->id, c->pd, &qa) != 0)
		return pn_tp_fail(&c->base, errno ? errno : EIO, "verbs: rdma_create_qp (%u send, %u recv): %s",
				  p->sq_cap, p->rq_depth, strerror(errno));
	p->qp = p->id->qp;
	c->cq_reserved += need;
	for (uint32_t i = 0; i < p->rq_depth; i++) {
		int rc = verbs_post_recv(p, i);
		if (rc)
			return rc;
	}
	return 0;
}

void verbs_peer_down(struct verbs_peer *p, int err, bool announce, const char *fmt, ...)
{
	if (p->state == PEER_DOWN)
		return;
	struct verbs_ctx *c = verbs_peer_ctx(p);
	bool was_up = p->state == PEER_UP;
	char why[sizeof(p->why)];
	va_list ap;
	va_start(ap, fmt);
	pn_vfail(why, sizeof(why), 0, fmt, ap); /* fmt may name p->why itself: format first */
	va_end(ap);
	verbs_trace(c, "peer %u down (%d): %s", p->base.id, err, why);
	p->state = PEER_DOWN;
	p->base.failed = 1;
	p->down_err = err;
	memcpy(p->why, why, sizeof(why));
	if (was_up)
		pn_tp_fail(&c->base, err, "verbs: peer %u down: %s", p->base.id, why);
	if (p->id) {
		/* Tell the other side (non-blocking), then destroy the QP: once it is gone the
		 * NIC can no longer write into our memory for this peer's reads. */
		if (was_up || p->established)
			rdma_disconnect(p->id);
		if (p->qp) {
			rdma_destroy_qp(p->id);
			p->qp = NULL;
			c->cq_reserved -= p->sq_cap + p->rq_depth;
		}
		rdma_destroy_id(p->id);
		p->id = NULL;
	}
	verbs_fail_all_ops(p, err);
	p->sq_head = p->sq_count = p->sq_reads = 0;
	pn_ring_clear(&p->pend);
	if (announce) {
		pn_tp_completion comp = { .event = PN_TP_PEER_DOWN, .status = err, .peer = &p->base,
					  .peer_id = p->base.id };
		verbs_cqe_push(c, &comp, NULL, 0);
	}
}

void verbs_peer_free(struct verbs_peer *p)
{
	if (p->id)
		rdma_destroy_id(p->id);
	if (p->ctrl_mr)
		ibv_dereg_mr(p->ctrl_mr);
	free(p->ctrl_mem);
	free(p->rbuf_state);
	free(p->sq);
	free(p->op_pool);
	pn_ring_free(&p->pend);
	free(p->regions);
	free(p);
}
