/* verbs backend: completions. One hardware CQ per context feeds the core's completion
 * queue (transport/cq.h; reads are reported per pn_tp_post_read, not per piece; peer-down
 * and refusals are produced in software). poll() busy-polls, and in the default hybrid
 * mode sleeps on the completion channel and the rdma_cm channel once spinning ends. */
#include "transport/verbs/verbs.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void verbs_cqe_push(struct verbs_ctx *c, const pn_tp_completion *comp, struct verbs_peer *rbuf_peer,
		    uint32_t rbuf)
{
	int rc = rbuf_peer ? pn_cq_push_ref(&c->comps, comp, rbuf_peer, rbuf)
			   : pn_cq_push(&c->comps, comp, NULL);
	if (rc)
		c->base.stats.drop_no_buffer++; /* cannot record it: say so */
}

/* Retire the send queue up to and including slot (in-order completion of an RC QP). */
void verbs_sq_retire(struct verbs_peer *p, uint32_t upto_slot)
{
	while (p->sq_count > 0) {
		uint32_t slot = p->sq_head;
		struct verbs_sq_entry e = p->sq[slot];
		p->sq_head = (p->sq_head + 1) % p->sq_cap;
		p->sq_count--;
		if (e.kind == SQ_READ) {
			p->sq_reads--;
			verbs_read_piece_done(p, e.op, e.len);
		} else if (e.kind == SQ_SEND) {
			p->sbuf_used--;
		}
		if (slot == upto_slot)
			break;
	}
}

static int wc_errno(enum ibv_wc_status s)
{
	switch (s) {
	case IBV_WC_REM_ACCESS_ERR:
	case IBV_WC_LOC_PROT_ERR:
	case IBV_WC_LOC_ACCESS_ERR:
		return -EACCES;
	case IBV_WC_RETRY_EXC_ERR:
	case IBV_WC_RNR_RETRY_EXC_ERR:
		return -ETIMEDOUT;
	case IBV_WC_WR_FLUSH_ERR:
		return -ECONNRESET;
	case IBV_WC_REM_INV_REQ_ERR:
	case IBV_WC_LOC_LEN_ERR:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static void on_wc(struct verbs_ctx *c, const struct ibv_wc *wc)
{
	uint32_t idx = (uint32_t)(wc->wr_id >> 32);
	uint32_t kind = (uint32_t)(wc->wr_id >> 24) & 0xff;
	uint32_t slot = (uint32_t)wc->wr_id & 0xffffff;
	if (idx >= c->npeers)
		return;
	struct verbs_peer *p = c->peers[idx];
	/* A listener's peer still in its handshake has a live QP too: its first receive
	 * (the proof) may complete before rdma_cm reports ESTABLISHED. */
	if (p->state == PEER_DOWN || !p->qp)
		return; /* left over from a QP that is gone */
	if (wc->status != IBV_WC_SUCCESS) {
		/* The QP is in the error state now: the peer is lost, the context is not. */
		verbs_peer_down(p, wc_errno(wc->status), p->state == PEER_UP, "%s completion: %s (vendor error 0x%x)",
				kind == WR_RECV ? "receive" : "send queue", ibv_wc_status_str(wc->status),
				wc->vendor_err);
		return;
	}
	if (kind == WR_SQ && slot < p->sq_cap)
		verbs_sq_retire(p, slot);
	else if (kind == WR_RECV)
		verbs_on_recv(p, slot, wc->byte_len);
}

int verbs_drain_cq(struct verbs_ctx *c)
{
	int total = 0;
	for (;;) {
		struct ibv_wc wc[32];
		int n = ibv_poll_cq(c->cq, 32, wc);
		if (n < 0)
			return pn_tp_fail(&c->base, EIO, "verbs: ibv_poll_cq failed");
		for (int i = 0; i < n; i++)
			on_wc(c, &wc[i]);
		total += n;
		if (n < 32)
			break;
	}
	if (total > 0) {
		/* Freed send slots and returned credits let queued work go out. */
		for (uint32_t i = 0; i < c->npeers; i++) {
			struct verbs_peer *p = c->peers[i];
			if (p->state != PEER_UP)
				continue;
			verbs_issue_reads(p);
			verbs_ctrl_flush(p);
		}
	}
	return total;
}

/* Receive buffers whose messages the caller saw at the last poll go back to the NIC. */
static void repost_delivered(struct verbs_ctx *c)
{
	for (uint32_t i = 0; i < c->ndelivered; i++) {
		struct verbs_peer *p = c->delivered[i].peer;
		if (p->state == PEER_UP && verbs_post_recv(p, c->delivered[i].rbuf) == 0)
			p->owed++;
	}
	for (uint32_t i = 0; i < c->ndelivered; i++) {
		struct verbs_peer *p = c->delivered[i].peer;
		if (p->state == PEER_UP && p->owed)
			verbs_ctrl_flush(p);
	}
	c->ndelivered = 0;
}

/* A CTRL_RECV is being handed out: remember its receive buffer for the next poll. */
static bool hold_rbuf(void *arg, void *ref, uint32_t slot)
{
	struct verbs_ctx *c = arg;
	if (c->ndelivered == c->delivered_cap) {
		uint32_t ncap = c->delivered_cap ? 2 * c->delivered_cap : 64;
		void *m = realloc(c->delivered, ncap * sizeof(*c->delivered));
		if (!m)
			return false; /* deliver it next time */
		c->delivered = m;
		c->delivered_cap = ncap;
	}
	c->delivered[c->ndelivered++] = (struct verbs_held){ .peer = ref, .rbuf = slot };
	return true;
}

static int deliver(struct verbs_ctx *c, pn_tp_completion *out, int max)
{
	int n = pn_cq_pop(&c->comps, out, max, hold_rbuf, c);
	return n < 0 ? pn_tp_fail(&c->base, ENOMEM, "verbs: no memory for poll") : n;
}

/* Sleep until the CQ or the rdma_cm channel has something, or until wait_ms passes. */
static int sleep_for_events(struct verbs_ctx *c, int wait_ms)
{
	if (!c->cq_armed) {
		if (ibv_req_notify_cq(c->cq, 0) != 0)
			return pn_tp_fail(&c->base, EIO, "verbs: ibv_req_notify_cq failed");
		c->cq_armed = true;
		/* Anything that completed before arming would not wake us: look once more. */
		if (verbs_drain_cq(c) > 0 || pn_cq_len(&c->comps) > 0)
			return 0;
	}
	struct pollfd pfd[2] = { { .fd = c->channel->fd, .events = POLLIN },
				 { .fd = verbs_cm_fd(c), .events = POLLIN } };
	int n = poll(pfd, 2, wait_ms);
	if (n < 0 && errno != EINTR)
		return pn_tp_fail(&c->base, errno, "verbs: poll: %s", strerror(errno));
	if (n > 0 && (pfd[0].revents & POLLIN)) {
		struct ibv_cq *cq;
		void *cq_ctx;
		if (ibv_get_cq_event(c->channel, &cq, &cq_ctx) == 0) {
			ibv_ack_cq_events(cq, 1);
			c->cq_armed = false;
		}
	}
	return 0;
}

int verbs_poll(pn_tp_ctx *ctx, pn_tp_completion *out, int max, int timeout_ms)
{
	struct verbs_ctx *c = verbs_ctx_of(ctx);
	repost_delivered(c);
	/* Reading the clock can be a system call (it is in the TCG guest, whose TSC is
	 * unusable: 3 us a read), so it is read only every 32 spins of a wait (the wait is
	 * timed from the first read: a short wait reads it not at all), when a poll that
	 * does not wait finds nothing, and at the first look of every 32nd poll. rdma_cm
	 * events (disconnects, new requests) are looked for at those reads, at most every
	 * 500 us, so a steady flow of completions from one peer cannot hide another peer's
	 * disconnect. */
	int64_t start = -1, deadline = INT64_MAX, t = 0;
	for (unsigned spin = 0;; spin++) {
		int n = deliver(c, out, max);
		if (n != 0)
			return n;
		int rc = verbs_drain_cq(c);
		if (rc < 0)
			return rc;
		bool tick = spin == 0 ? (++c->polls & 31) == 0 || (timeout_ms == 0 && rc == 0) : (spin & 31) == 0;
		if (tick) {
			t = pn_tp_now_us();
			if (start < 0) {
				start = t;
				deadline = timeout_ms < 0 ? INT64_MAX : start + (int64_t)timeout_ms * 1000;
			}
			if (t - c->cm_checked_us >= 500) {
				c->cm_checked_us = t;
				rc = verbs_cm_pump(c, 0);
				if (rc < 0)
					return rc;
			}
		}
		n = deliver(c, out, max);
		if (n != 0 || timeout_ms == 0)
			return n;
		if (!tick || start < 0)
			continue;
		if (t >= deadline)
			return 0;
		if (c->channel && t - start >= (int64_t)c->spin_us) {
			int64_t left_ms = deadline == INT64_MAX ? -1 : (deadline - t + 999) / 1000;
			rc = sleep_for_events(c, left_ms > 1000 || left_ms < 0 ? 1000 : (int)left_ms);
			if (rc < 0)
				return rc;
			rc = verbs_cm_pump(c, 0);
			if (rc < 0)
				return rc;
		}
	}
}
