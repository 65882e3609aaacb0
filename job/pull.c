/* The pull loop's mechanics: post the scheduler's reads into the round's landing slot,
 * and handle what the transport reports (landed reads, READY and PING messages, peers
 * going down). Every read carries the one cookie encoding (job/cookie.h). */
#include "job/aggregator_internal.h"
#include "job/cookie.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <string.h>

void pn_job_post_reads(pn_job *j)
{
	pn_pull_req req;
	unsigned slot = pn_job_slot(j->round);
	while (pn_pull_next(j->puller, &req) == 1) {
		pn_job_worker *w = &j->w[req.worker];
		/* byte offsets: elements are j->esize bytes (half gradients move half the bytes);
		 * a shard pulls its range [lo, lo + d) of the worker's slot */
		size_t loff = (size_t)((char *)pn_job_land_row(j, j->round, req.worker) - j->land) +
			      req.offset * j->esize;
		uint64_t roff = ((uint64_t)w->slot * pn_job_worker_slot_len(j) + j->lo + req.offset) * j->esize;
		int rc = pn_tp_post_read(w->peer, j->land_mr, loff, &w->grad, roff, req.len * j->esize,
					 pn_cookie_make(j->round, req.worker, req.chunk));
		if (rc == -EAGAIN) {
			pn_pull_fail(j->puller, req.worker, req.chunk, true, NULL, 0);
			return; /* the queue is full: retry after the next poll */
		}
		if (rc) {
			pn_job_log(j, "round %lld: read from worker %d failed to post: %s\n",
				   (long long)j->round, req.worker, pn_tp_errmsg(j->ctx));
			pn_pull_fail(j->puller, req.worker, req.chunk, false, NULL, 0);
			j->failed[req.worker] = true;
			continue;
		}
		w->inflight[slot]++;
		j->reads_before_ready += !w->ready; /* a prefix the worker's PROGRESS said is final */
	}
}

static void on_read_done(pn_job *j, const pn_tp_completion *c)
{
	if (pn_shard_link_on_read(j, c))
		return;
	int64_t r = pn_cookie_round(c->cookie);
	int i = pn_cookie_worker(c->cookie), ch = pn_cookie_chunk(c->cookie);
	if (i >= j->n || ch >= j->plan.nchunks)
		return;
	j->w[i].inflight[pn_job_slot(r)]--;
	if (r != j->round)
		return; /* a cancelled read from an earlier round, landed in that round's slot */
	if (c->status != 0) {
		pn_job_log(j, "round %lld: read from worker %d failed (%s)\n", (long long)r, i,
			   strerror(-c->status));
		pn_pull_fail(j->puller, i, ch, false, NULL, 0);
		j->failed[i] = true;
		return;
	}
	int done = pn_pull_complete(j->puller, i, ch);
	if (done < 0)
		return; /* cancelled: ignored */
	if (j->agg) {
		if (j->cfg->pipelining)
			pn_agg_landed(j->agg, i, j->plan.chunks[ch].offset, j->plan.chunks[ch].len);
		else
			j->landed[j->nlanded++] = c->cookie;
	}
	if (done == 1)
		j->finished[i] = true;
}

/* A streaming worker's first m->d elements of its slot are final: the puller may read the
 * chunks inside them (of this shard's range [lo, lo + plan)). */
static void on_progress(pn_job *j, int i, const pn_job_msg *m)
{
	pn_job_worker *w = &j->w[i];
	const pn_chunk *last = &j->plan.chunks[j->plan.nchunks - 1];
	size_t upto = pn_job_progress_final(m->d, j->lo, last->offset + last->len);
	if (m->round != j->round || j->failed[i] || w->ready || upto == 0)
		return; /* of a round we closed, a peer out of this one, or nothing of our range */
	w->slot = m->slot;
	pn_pull_set_ready_upto(j->puller, i, upto, pn_now_s());
}

static void on_ctrl(pn_job *j, const pn_tp_completion *c)
{
	pn_job_msg m;
	int i = pn_job_worker_of_peer(j, c->peer);
	if (i < 0 && pn_shard_link_on_ctrl(j, c))
		return;
	if (i >= 0)
		j->w[i].last_heard = pn_now_s();
	int rc = pn_job_msg_unpack(c->data, c->len, &m);
	if (i >= 0 && rc == 0 && m.type == PN_MSG_PING)
		return;
	if (i >= 0 && rc == 0 && m.type == PN_MSG_NODE_REPORT) {
		pn_job_tree_on_report(j, i, &m); /* a robust node's verdict on its children */
		return;
	}
	if (i >= 0 && rc == 0 && m.type == PN_MSG_RESULT_ACK) {
		if (m.round > j->w[i].acked)
			j->w[i].acked = m.round;
		return;
	}
	if (i >= 0 && rc == 0 && m.type == PN_MSG_PROGRESS) {
		on_progress(j, i, &m);
		return;
	}
	if (i < 0 && rc == 0 && m.type == PN_MSG_HELLO && j->cfg->tree_nodes > 0) {
		pn_job_on_hello(j, c, true); /* a gone node's worker (tree_bypass.c) */
		return;
	}
	if (i < 0 || rc != 0 || m.type != PN_MSG_READY) {
		pn_job_log(j, "dropped an unexpected control message from peer %u\n", c->peer_id);
		return;
	}
	if (m.round != j->round || j->failed[i] || j->w[i].ready)
		return; /* late READY of a round we already closed, of a peer out of this one, or again */
	pn_job_worker *w = &j->w[i];
	if (m.status != 0) {
		pn_job_log(j, "round %lld: worker %d could not compute (%s)\n", (long long)m.round, i,
			   strerror(-m.status));
		j->failed[i] = true;
		return;
	}
	w->ready = true;
	w->slot = m.slot;
	w->loss = m.loss;
	pn_pull_set_ready(j->puller, i, pn_now_s());
}

static void on_peer_down(pn_job *j, const pn_tp_completion *c)
{
	int i = pn_job_worker_of_peer(j, c->peer);
	if (i < 0) {
		pn_shard_link_on_down(j, c);
		return;
	}
	if (!j->stopping)
		pn_job_log(j, "worker %d went away (round %lld); continuing without it\n", i,
			   (long long)j->round);
	pn_job_worker_lost(j, i);
}

void pn_job_drive(pn_job *j, int timeout_ms)
{
	enum { BATCH = 64 };
	pn_tp_completion c[BATCH];
	int n = pn_tp_poll(j->ctx, c, BATCH, timeout_ms);
	for (int k = 0; k < n; k++) {
		switch (c[k].event) {
		case PN_TP_READ_DONE: on_read_done(j, &c[k]); break;
		case PN_TP_CTRL_RECV: on_ctrl(j, &c[k]); break;
		case PN_TP_PEER_DOWN: on_peer_down(j, &c[k]); break;
		}
	}
	pn_job_heartbeat(j, n < BATCH);
	if (j->cfg->tree_nodes > 0)
		pn_job_tree_accept(j);
}

/* Before reusing a landing slot, the reads of two rounds ago must be gone. */
void pn_job_drain_slot(pn_job *j, int64_t round)
{
	unsigned slot = pn_job_slot(round);
	double t0 = pn_now_s(), cap = fmax(j->cfg->deadline_ms / 1e3, 5.0);
	for (;;) {
		bool busy = false;
		for (int i = 0; i < j->n; i++)
			busy |= j->w[i].alive && j->w[i].inflight[slot] > 0;
		if (!busy)
			return;
		if (pn_now_s() - t0 > cap) {
			for (int i = 0; i < j->n; i++)
				if (j->w[i].alive && j->w[i].inflight[slot] > 0) {
					pn_job_log(j, "worker %d still owes reads from round %lld: disconnecting it\n",
						   i, (long long)round - 2);
					pn_tp_disconnect(j->w[i].peer);
					j->w[i].alive = false;
				}
			return;
		}
		pn_job_drive(j, 5);
	}
}
