/* Requester side of the pull protocol: READ requests within windows, landing DATA,
 * retransmission of missing ranges after an adaptive timeout, failure after a bounded
 * number of retries. All under ctx->lock on the service thread. */
#include "dp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t sub_mask(const struct dp_sub *s)
{
	return s->nframes == 64 ? UINT64_MAX : (1ull << s->nframes) - 1;
}

static void unlink_op(struct dp_peer *p, struct dp_op *op)
{
	struct dp_op **pp = &p->ops_head, *prev = NULL;
	while (*pp && *pp != op)
		prev = *pp, pp = &(*pp)->next;
	if (*pp) {
		*pp = op->next;
		if (p->ops_tail == op)
			p->ops_tail = prev;
	}
}

static void finish_op(struct dp_ctx *c, struct dp_op *op, int status)
{
	struct dp_peer *p = op->peer;
	for (uint32_t i = 0; i < op->next_sub; i++)
		if (op->subs[i].state == DP_SUB_INFLIGHT) {
			p->inflight -= op->subs[i].len;
			c->total_inflight -= op->subs[i].len;
		}
	pn_tp_completion comp = { .event = PN_TP_READ_DONE, .status = status, .cookie = op->cookie,
				  .peer = &p->base, .peer_id = p->base.id,
				  .len = status ? 0 : (uint32_t)(op->len > UINT32_MAX ? UINT32_MAX : op->len) };
	dp_cq_push(c, &comp, NULL);
	if (status)
		c->base.stats.reads_failed++;
	else
		c->base.stats.reads_completed++;
	unlink_op(p, op);
	p->nops--;
	free(op->subs);
	memset(op, 0, sizeof *op);
	c->ops_used--;
	pthread_cond_broadcast(&c->cond);
}

void dp_fail_peer_ops(struct dp_ctx *c, struct dp_peer *p, int status)
{
	while (p->ops_head)
		finish_op(c, p->ops_head, status);
}

static void send_read(struct dp_ctx *c, struct dp_op *op, uint32_t idx, uint64_t rel, uint32_t len)
{
	struct pn_dp_hdr h;
	dp_hdr_init(c, op->peer, &h, PN_DP_READ);
	h.seq = op->subs[idx].retries; /* attempt number, echoed by the DATA */
	h.req_id = op->id << DP_SUB_SHIFT | idx;
	h.key = op->key;
	h.offset = op->roff + op->subs[idx].start + rel;
	h.length = len;
	h.aux = c->payload_max; /* frame payload size the DATA must use */
	dp_send_hdr(c, op->peer, &h, NULL, 0);
}

void dp_requester_progress(struct dp_ctx *c, uint64_t now)
{
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *p = c->peers[i];
		if (p->state != DP_PEER_UP)
			continue;
		for (struct dp_op *op = p->ops_head; op; op = op->next) {
			while (op->next_sub < op->nsub) {
				struct dp_sub *s = &op->subs[op->next_sub];
				/* always allow one request per peer so a tiny window cannot stall */
				if (p->inflight && (p->inflight + s->len > p->cwnd ||
						    c->total_inflight + s->len > c->o.total_window))
					goto next_peer;
				s->state = DP_SUB_INFLIGHT;
				s->sent_ns = now;
				s->xmit_seq = ++p->xmit_seq;
				s->deadline_ns = now + dp_peer_rto(c, p, 0);
				p->inflight += s->len;
				c->total_inflight += s->len;
				send_read(c, op, op->next_sub, 0, s->len);
				op->next_sub++;
			}
		}
next_peer:;
	}
}

/* Re-request each run of missing frames of a timed-out sub-request. */
static void resend_missing(struct dp_ctx *c, struct dp_op *op, uint32_t idx, enum pn_dp_why why)
{
	struct dp_sub *s = &op->subs[idx];
	uint32_t pm = c->payload_max;
	for (unsigned f = 0; f < s->nframes;) {
		if (s->got >> f & 1) {
			f++;
			continue;
		}
		unsigned g = f;
		while (g < s->nframes && !(s->got >> g & 1))
			g++;
		uint64_t from = (uint64_t)f * pm;
		uint64_t to = (uint64_t)g * pm < s->len ? (uint64_t)g * pm : s->len;
		send_read(c, op, idx, from, (uint32_t)(to - from));
		dp_rexmit(c, why, 1);
		f = g;
	}
}

/* Loss: multiplicative decrease of the peer's window, once per round trip. */
static void cut_window(struct dp_ctx *c, struct dp_peer *p, uint64_t now)
{
	if (now - p->last_cut_ns < (uint64_t)p->srtt_ns)
		return;
	p->last_cut_ns = now;
	/* never below four requests: random loss is not congestion, and a one-request window
	 * turns every loss into a full stall */
	uint64_t floor = 4ull * c->o.frames_per_req * c->payload_max;
	if (floor > c->o.peer_window)
		floor = c->o.peer_window;
	p->cwnd = p->cwnd / 2 > floor ? p->cwnd / 2 : floor;
}

/* A request is re-requested when its timeout expires, or earlier (RACK-like) when a frame
 * of a request (re)sent after it has arrived and a reordering allowance (adaptive, from
 * 1.25 round trips) has passed: a peer answers requests in order, so the missing frames
 * are almost surely lost.
 * Only full timeouts count towards declaring the peer down. */
void dp_requester_timers(struct dp_ctx *c, uint64_t now)
{
	for (int i = 0; i < c->npeers; i++) {
		struct dp_peer *p = c->peers[i];
		if (p->state != DP_PEER_UP)
			continue;
		uint64_t reo = p->srtt_ns > 0 ? (uint64_t)(p->srtt_ns * p->reo_rtts) : (uint64_t)c->o.rto_min_us * 1000;
		for (struct dp_op *op = p->ops_head; op; op = op->next) {
			for (uint32_t k = 0; k < op->next_sub; k++) {
				struct dp_sub *s = &op->subs[k];
				if (s->state != DP_SUB_INFLIGHT)
					continue;
				bool timeout = now >= s->deadline_ns;
				bool overtaken = s->xmit_seq < p->delivered_seq && now >= s->sent_ns + reo;
				if (!timeout && !overtaken)
					continue;
				if (timeout && ++s->timeouts > c->o.retries) {
					dp_peer_down(c, p, -ETIMEDOUT);
					goto next_peer;
				}
				if (s->retries < 250)
					s->retries++;
				s->last_by_timeout = timeout;
				cut_window(c, p, now);
				resend_missing(c, op, k, timeout ? PN_DP_WHY_REXMIT_TIMEOUT : PN_DP_WHY_REXMIT_RACK);
				s->sent_ns = now;
				s->xmit_seq = ++p->xmit_seq;
				s->deadline_ns = now + dp_peer_rto(c, p, s->timeouts);
			}
		}
next_peer:;
	}
}

static void rtt_sample(struct dp_ctx *c, struct dp_peer *p, uint64_t rtt)
{
	/* RFC 6298 estimator; only samples from never-retransmitted requests (Karn). */
	double r = (double)rtt;
	if (p->srtt_ns == 0) {
		p->srtt_ns = r;
		p->rttvar_ns = r / 2;
	} else {
		double d = p->srtt_ns > r ? p->srtt_ns - r : r - p->srtt_ns;
		p->rttvar_ns = 0.75 * p->rttvar_ns + 0.25 * d;
		p->srtt_ns = 0.875 * p->srtt_ns + 0.125 * r;
	}
	uint64_t rto = (uint64_t)(p->srtt_ns + 4 * p->rttvar_ns);
	uint64_t lo = (uint64_t)c->o.rto_min_us * 1000, hi = (uint64_t)c->o.rto_max_us * 1000;
	/* a floor raised by spurious re-requests decays back on clean round trips */
	if (p->rto_floor_ns > lo)
		p->rto_floor_ns -= p->rto_floor_ns / 32;
	if (p->reo_rtts > 1.25)
		p->reo_rtts -= 0.01;
	if (p->rto_floor_ns > lo)
		lo = p->rto_floor_ns;
	p->rto_ns = rto < lo ? lo : rto > hi ? hi : rto;
}

/* The original DATA arrived after we re-requested it: the timeout was too short (the
 * peer or this host was merely slow, e.g. descheduled on a shared CPU). Raise the floor
 * so it does not keep happening; it decays again in rtt_sample. */
static void spurious_retransmit(struct dp_ctx *c, struct dp_peer *p)
{
	uint64_t hi = (uint64_t)c->o.rto_max_us * 1000;
	uint64_t f = 2 * (p->rto_floor_ns > p->rto_ns ? p->rto_floor_ns : p->rto_ns);
	p->rto_floor_ns = f < hi ? f : hi;
	if (p->rto_ns < p->rto_floor_ns)
		p->rto_ns = p->rto_floor_ns;
}

static struct dp_op *find_op(struct dp_ctx *c, struct dp_peer *p, uint64_t req_id, uint32_t *idx)
{
	uint64_t id = req_id >> DP_SUB_SHIFT;
	struct dp_op *op = &c->ops[id % DP_MAX_OPS];
	if (id == 0 || op->id != id || op->peer != p)
		return NULL;
	*idx = (uint32_t)(req_id & ((1u << DP_SUB_SHIFT) - 1));
	return op;
}

void dp_land_data(struct dp_ctx *c, struct dp_peer *p, const struct pn_dp_frame *f,
		  const struct rte_mbuf *m)
{
	uint32_t idx;
	struct dp_op *op = find_op(c, p, f->hdr.req_id, &idx);
	if (!op) {
		dp_dup(c, PN_DP_WHY_DUP_STALE_DATA); /* stale: the read already finished or failed */
		return;
	}
	if (idx >= op->nsub || f->hdr.key != op->key) {
		c->base.stats.drop_malformed++;
		return;
	}
	struct dp_sub *s = &op->subs[idx];
	if (s->state != DP_SUB_INFLIGHT) {
		dp_dup(c, PN_DP_WHY_DUP_FRAME);
		return;
	}
	uint64_t base = op->roff + s->start;
	uint32_t pm = c->payload_max;
	if (f->hdr.offset < base || f->hdr.offset - base >= s->len || (f->hdr.offset - base) % pm) {
		c->base.stats.drop_malformed++;
		return;
	}
	uint64_t rel = f->hdr.offset - base;
	unsigned frame = (unsigned)(rel / pm);
	uint32_t want = s->len - rel < pm ? (uint32_t)(s->len - rel) : pm;
	if (f->hdr.length != want) {
		c->base.stats.drop_malformed++;
		return;
	}
	if (s->got >> frame & 1) {
		dp_dup(c, PN_DP_WHY_DUP_FRAME); /* network duplicate, or both copies arrived */
		return;
	}
	/* DATA echoes the attempt number of the READ it answers: a missing frame arriving in
	 * answer to an attempt we already gave up on means that timeout was premature. */
	if (f->hdr.seq < s->retries && !s->spurious) {
		s->spurious = 1;
		if (s->last_by_timeout)
			spurious_retransmit(c, p);
		else if (p->reo_rtts < 4) /* RACK fired too early: allow more reordering */
			p->reo_rtts += 0.25;
	}
	/* The one and only copy on the data path: packet payload -> landing buffer. */
	dp_mbuf_copy(op->dst + s->start + rel, m, PN_DP_ALL_HDRS, want);
	s->got |= 1ull << frame;
	if (s->xmit_seq > p->delivered_seq)
		p->delivered_seq = s->xmit_seq;
	c->base.stats.bytes_read += want;
	if (s->got != sub_mask(s))
		return;

	s->state = DP_SUB_DONE;
	p->inflight -= s->len;
	c->total_inflight -= s->len;
	uint64_t now = dp_now_ns();
	if (s->retries == 0)
		rtt_sample(c, p, now - s->sent_ns);
	/* additive increase, about one request per window of requests */
	uint64_t grow = (uint64_t)s->len * s->len / (p->cwnd ? p->cwnd : 1);
	p->cwnd += grow ? grow : 1;
	if (p->cwnd > c->o.peer_window)
		p->cwnd = c->o.peer_window;
	if (++op->done_subs == op->nsub)
		finish_op(c, op, 0);
}

void dp_read_error(struct dp_ctx *c, struct dp_peer *p, const struct pn_dp_frame *f)
{
	uint32_t idx;
	struct dp_op *op = find_op(c, p, f->hdr.req_id, &idx);
	if (!op) {
		dp_dup(c, PN_DP_WHY_DUP_STALE_DATA);
		return;
	}
	int err = f->hdr.aux > 0 && f->hdr.aux < 4096 ? (int)f->hdr.aux : EIO;
	finish_op(c, op, -err);
}
