/* verbs backend: control messages over SEND/RECV with credits.
 *
 * Each side keeps rq_depth receive buffers posted and starts with as many credits as
 * the other side announced in its hello. Sending spends one credit; the receiver
 * reposts a buffer after the caller has seen its message (at the next poll) and returns
 * credits on every message it sends, or in a credit-only message once half the window
 * is owed. One credit is kept in reserve for that credit-only message, so the two sides
 * can never both wait for credits. The receiver therefore never runs out of posted
 * receives (no RNR) and the sender queues instead of failing. Region announcements
 * (verbs.h) travel the same ordered path. */
#include "transport/verbs/verbs.h"
#include "transport/wire_bytes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int verbs_post_recv(struct verbs_peer *p, uint32_t slot)
{
	struct ibv_sge sge = { .addr = (uintptr_t)verbs_rbuf(p, slot), .length = VERBS_CTRL_BUF,
			       .lkey = p->ctrl_mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = verbs_wr_id(p->index, WR_RECV, slot), .sg_list = &sge,
				  .num_sge = 1 };
	struct ibv_recv_wr *bad;
	int rc = ibv_post_recv(p->qp, &wr, &bad);
	if (rc)
		return pn_tp_fail(p->base.ctx, rc, "verbs: ibv_post_recv: %s", strerror(rc));
	p->rbuf_state[slot] = RBUF_POSTED;
	return 0;
}

int verbs_ctrl_enqueue(struct verbs_peer *p, uint16_t type, const void *msg, size_t len)
{
	struct verbs_pending_msg *m = pn_ring_push(&p->pend);
	if (!m)
		return pn_ring_full(&p->pend) ? -EAGAIN : -ENOMEM;
	m->type = type;
	m->len = (uint16_t)len;
	if (len)
		memcpy(m->data, msg, len);
	return 0;
}

/* Post one SEND carrying type, payload and the credits we owe. */
static int post_send(struct verbs_peer *p, uint16_t type, const void *data, uint16_t len)
{
	uint32_t sb = p->sbuf_next;
	uint8_t *buf = verbs_sbuf(p, sb);
	uint16_t give = p->owed > 0xffff ? 0xffff : (uint16_t)p->owed;
	pn_st_le16(buf, type);
	pn_st_le16(buf + 2, len);
	pn_st_le16(buf + 4, give);
	pn_st_le16(buf + 6, 0);
	if (len)
		memcpy(buf + VERBS_CTRL_HDR, data, len);
	uint32_t slot = (p->sq_head + p->sq_count) % p->sq_cap;
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = VERBS_CTRL_HDR + len, .lkey = p->ctrl_mr->lkey };
	struct ibv_send_wr wr = { .wr_id = verbs_wr_id(p->index, WR_SQ, slot), .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;
	int rc = ibv_post_send(p->qp, &wr, &bad);
	if (rc)
		return rc;
	p->sq[slot] = (struct verbs_sq_entry){ .kind = SQ_SEND, .len = len };
	p->sq_count++;
	p->sq_unsignalled = 0;
	p->sbuf_next = (sb + 1) % p->sbuf_count;
	p->sbuf_used++;
	p->owed -= give;
	p->credits--;
	return 0;
}

static bool can_send(const struct verbs_peer *p, uint32_t credits_needed)
{
	return p->state == PEER_UP && p->credits >= credits_needed && p->sbuf_used < p->sbuf_count &&
	       p->sq_count < p->sq_cap;
}

void verbs_ctrl_flush(struct verbs_peer *p)
{
	int rc = 0;
	/* Messages keep one credit in reserve for credit returns. */
	while (rc == 0 && pn_ring_count(&p->pend) && can_send(p, 2)) {
		struct verbs_pending_msg *m = pn_ring_front(&p->pend);
		rc = post_send(p, m->type, m->data, m->len);
		if (rc == 0)
			pn_ring_pop(&p->pend);
	}
	if (rc == 0 && p->owed >= (p->rq_depth + 1) / 2 && can_send(p, 1))
		rc = post_send(p, VERBS_MSG_CREDIT, NULL, 0);
	if (rc) {
		verbs_peer_down(p, -EIO, true, "ibv_post_send (SEND): %s", strerror(rc));
	}
}

int verbs_send_ctrl(pn_tp_peer *peer, const void *msg, size_t len)
{
	struct verbs_peer *p = verbs_peer_of(peer);
	struct verbs_ctx *c = verbs_peer_ctx(p);
	if (p->state != PEER_UP)
		return pn_tp_fail(&c->base, ENOTCONN, "verbs: peer %u is not connected", p->base.id);
	if (pn_ring_count(&p->pend) && !can_send(p, 2)) {
		verbs_drain_cq(c); /* credits or send buffers may be waiting in the CQ */
		if (p->state != PEER_UP)
			return pn_tp_fail(&c->base, ENOTCONN, "verbs: peer %u went down: %s", p->base.id, p->why);
	}
	int rc = verbs_ctrl_enqueue(p, VERBS_MSG_USER, msg, len);
	if (rc == -EAGAIN)
		return pn_tp_fail(&c->base, EAGAIN, "verbs: %u control messages queued for peer %u "
				  "(it returns no credits; poll, then retry)", pn_ring_count(&p->pend), p->base.id);
	if (rc)
		return pn_tp_fail(&c->base, -rc, "verbs: cannot queue a control message: %s", strerror(-rc));
	c->base.stats.ctrl_sent++;
	verbs_ctrl_flush(p);
	return 0;
}

/* Listener: the requester's first message must be its proof. Until it checks, nothing
 * else is accepted; a wrong proof or anything else first takes the connection down
 * (disconnected, counted, never returned by accept). */
static void on_proof(struct verbs_peer *p, uint16_t type, const uint8_t *data, uint16_t len, bool malformed)
{
	struct verbs_ctx *c = verbs_peer_ctx(p);
	if (malformed || type != VERBS_MSG_AUTH || len != VERBS_PROOF_LEN) {
		c->base.stats.drop_malformed++;
		verbs_peer_down(p, -EPROTO, false, "the requester's first message was not its proof");
		return;
	}
	if (!pn_auth_check(&c->base, PN_AUTH_REQUESTER, &p->auth, data)) {
		c->base.stats.drop_bad_token++;
		verbs_peer_down(p, -EACCES, false, "the requester's proof of the job secret did not check");
		return;
	}
	/* A message on the QP means the connection is established, even if rdma_cm has not
	 * told us yet (the requester may send as soon as it sees the accept). Waiting for
	 * the event would leave what follows the proof on a peer that is not up. */
	p->proven = true;
	p->established = true;
	verbs_peer_proven_up(p);
}

/* Listener: the peer proved itself and is established. Its regions are announced now,
 * before anything the caller may send it (even before accept hands it out). */
void verbs_peer_proven_up(struct verbs_peer *p)
{
	p->state = PEER_UP;
	verbs_announce_all(p);
}

/* A receive completed: account credits, then deliver or consume it. */
void verbs_on_recv(struct verbs_peer *p, uint32_t slot, uint32_t byte_len)
{
	struct verbs_ctx *c = verbs_peer_ctx(p);
	if (slot >= p->rq_depth)
		return;
	const uint8_t *b = verbs_rbuf(p, slot);
	uint16_t type = byte_len >= VERBS_CTRL_HDR ? pn_ld_le16(b) : 0;
	uint16_t len = byte_len >= VERBS_CTRL_HDR ? pn_ld_le16(b + 2) : 0;
	if (byte_len >= VERBS_CTRL_HDR)
		p->credits += pn_ld_le16(b + 4);
	const uint8_t *data = b + VERBS_CTRL_HDR;
	bool malformed = byte_len < VERBS_CTRL_HDR || len > PN_TP_CTRL_MAX || byte_len != (uint32_t)VERBS_CTRL_HDR + len;
	if (!p->active && !p->proven) {
		on_proof(p, type, data, len, malformed);
		if (p->state == PEER_DOWN)
			return;
		if (verbs_post_recv(p, slot) == 0)
			p->owed++;
		return;
	}
	if (!malformed && type == VERBS_MSG_USER && len > 0) {
		pn_tp_completion comp = { .event = PN_TP_CTRL_RECV, .peer = &p->base, .peer_id = p->base.id,
					  .len = len, .data = data };
		p->rbuf_state[slot] = RBUF_HELD;
		verbs_cqe_push(c, &comp, p, slot);
		c->base.stats.ctrl_recv++;
		return;
	}
	if (!malformed && type == VERBS_MSG_MR_ADD && len == 20)
		verbs_remote_region_add(p, pn_ld_le64(data), pn_ld_le64(data + 8), pn_ld_le32(data + 16));
	else if (!malformed && type == VERBS_MSG_MR_DEL && len == 4)
		verbs_remote_region_del(p, pn_ld_le32(data));
	else if (malformed || type != VERBS_MSG_CREDIT)
		c->base.stats.drop_malformed++;
	/* Consumed here: repost at once and owe the sender its credit back. */
	if (verbs_post_recv(p, slot) == 0)
		p->owed++;
}

static void pack_region(uint8_t out[20], const struct verbs_mr *m)
{
	pn_st_le64(out, m->base.desc.addr);
	pn_st_le64(out + 8, m->base.len);
	uint32_t k = m->base.desc.key;
	for (int i = 0; i < 4; i++)
		out[16 + i] = (uint8_t)(k >> (8 * i));
}

void verbs_announce_mr(struct verbs_ctx *c, struct verbs_mr *m, bool add)
{
	uint8_t msg[20];
	pack_region(msg, m);
	for (uint32_t i = 0; i < c->npeers; i++) {
		struct verbs_peer *p = c->peers[i];
		if (p->state != PEER_UP)
			continue;
		if ((add ? verbs_ctrl_enqueue(p, VERBS_MSG_MR_ADD, msg, 20)
			 : verbs_ctrl_enqueue(p, VERBS_MSG_MR_DEL, msg + 16, 4)) != 0)
			c->base.stats.drop_no_buffer++;
		verbs_ctrl_flush(p);
	}
}

void verbs_announce_all(struct verbs_peer *p)
{
	struct verbs_ctx *c = verbs_peer_ctx(p);
	for (struct verbs_mr *m = c->mrs; m; m = m->next) {
		if (!(m->base.access & PN_ACCESS_REMOTE_READ))
			continue;
		uint8_t msg[20];
		pack_region(msg, m);
		if (verbs_ctrl_enqueue(p, VERBS_MSG_MR_ADD, msg, 20) != 0)
			c->base.stats.drop_no_buffer++;
	}
	verbs_ctrl_flush(p);
}
