/* The aggregator's sessions with its workers: accepting them (HELLO → WELCOME), sending
 * control messages, and liveness over the job protocol itself (heartbeat PINGs, and a
 * worker silent past the limit is gone), whatever the medium reports. */
#include "job/aggregator_internal.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

/* A failed send means the worker is gone, except a full send queue when `may_wait` (a
 * PING can wait for the next heartbeat). */
static int send_to(pn_job *j, int i, const pn_job_msg *m, bool may_wait)
{
	uint8_t buf[PN_TP_CTRL_MAX];
	size_t len = pn_job_msg_pack(m, buf);
	j->w[i].last_sent = pn_now_s();
	int rc = pn_tp_send_ctrl(j->w[i].peer, buf, len);
	if (rc && !(may_wait && rc == -EAGAIN)) {
		pn_job_log(j, "worker %d: send failed (%s), marking it down\n", i, strerror(-rc));
		pn_job_worker_lost(j, i);
	}
	return rc;
}

int pn_job_send(pn_job *j, int i, const pn_job_msg *m)
{
	return send_to(j, i, m, false);
}

int pn_job_worker_of_peer(const pn_job *j, const pn_tp_peer *p)
{
	for (int i = 0; i < j->n; i++)
		if (j->w[i].alive && j->w[i].peer == p)
			return i;
	return -1;
}

/* A worker is gone (its link went down, or it fell silent). */
void pn_job_worker_lost(pn_job *j, int i)
{
	j->w[i].alive = false;
	j->w[i].gone_at = j->round;
	j->failed[i] = true;
	j->w[i].inflight[0] = j->w[i].inflight[1] = 0;
}

/* PING every worker we have said nothing to for a heartbeat period; a worker silent past
 * the limit is gone. Silence is judged only when `drained` (the last poll left nothing
 * queued): after a long busy stretch of ours, queued messages are read first. */
void pn_job_heartbeat(pn_job *j, bool drained)
{
	if (j->stopping)
		return;
	double now = pn_now_s();
	for (int i = 0; i < j->n; i++) {
		pn_job_worker *w = &j->w[i];
		if (!w->alive)
			continue;
		if (drained && now - w->last_heard >= j->silence_s) {
			pn_job_log(j, "worker %d silent for %.1f s (limit %.1f s): treating it as gone\n", i,
				   now - w->last_heard, j->silence_s);
			pn_tp_disconnect(w->peer);
			pn_job_worker_lost(j, i);
			continue;
		}
		if (now - w->last_sent >= j->heartbeat_s)
			send_to(j, i, &(pn_job_msg){.type = PN_MSG_PING}, true);
	}
}

/* WELCOME for worker `rank`: the job's settings and, for m > 1, what rebuilds the code. */
static pn_job_msg welcome_for(const pn_job *j, uint32_t rank)
{
	/* a tree's worker joining the root itself: n is the job's workers, as its node said */
	uint32_t n = pn_job_is_leaf_slot(j, (int)rank) ? (uint32_t)j->cfg->leaves : (uint32_t)j->n;
	pn_job_msg wel = {.type = PN_MSG_WELCOME, .n = n, .d = j->d_full,
			  .heartbeat_ms = (uint32_t)(j->heartbeat_s * 1e3 + 0.5),
			  .silence_ms = (uint32_t)(j->silence_s * 1e3 + 0.5),
			  /* the range of the model this shard serves (unsharded: all of it) */
			  .shard = (uint32_t)(j->link ? j->cfg->shard.index : 0),
			  .shards = (uint32_t)(j->link ? j->cfg->shard.count : 1), .lo = j->lo, .hi = j->lo + j->d};
	pn_tp_mr_get_desc(j->model_mr, &wel.region);
	wel.serve = (uint8_t)j->cfg->serve;
	if (j->result_mr)
		pn_tp_mr_get_desc(j->result_mr, &wel.result);
	wel.comm_dim = (uint32_t)j->comm_dim;
	if (j->comm_dim > 1) { /* the worker rebuilds the code to encode (proto.h) */
		size_t nm = (size_t)j->n * (size_t)j->comm_dim;
		wel.code_s = (uint32_t)j->cfg->s;
		wel.code_seed = j->cfg->seed;
		wel.code_check = pn_job_code_row_check(pn_code_ce_matrix(j->code) + rank * nm, nm);
	}
	return wel;
}

/* A HELLO from a new peer: take the rank if it is free and the model matches (and, in a
 * tree with bypass slots, the peer may join now). */
void pn_job_on_hello(pn_job *j, const pn_tp_completion *c, bool running)
{
	pn_job_msg m;
	if (pn_job_msg_unpack(c->data, c->len, &m) || m.type != PN_MSG_HELLO) {
		pn_job_log(j, "dropped a malformed message from peer %u during setup\n", c->peer_id);
		return;
	}
	if (m.rank >= (uint32_t)j->n || j->w[m.rank].alive) {
		pn_job_log(j, "peer %u claims rank %u (n=%d, or taken): ignored\n", c->peer_id, m.rank, j->n);
		return;
	}
	const char *refusal = pn_job_tree_join_refusal(j, m.rank, running);
	if (refusal) {
		pn_job_log(j, "peer %u claims rank %u: %s; ignored\n", c->peer_id, m.rank, refusal);
		return;
	}
	if (m.grad_dtype != j->cfg->rule.grad_dtype) {
		pn_job_log(j, "worker %u exposes %s gradients, the job pulls %s: ignored\n", m.rank,
			   pn_dtype_name((pn_dtype)m.grad_dtype), pn_dtype_name(j->cfg->rule.grad_dtype));
		return;
	}
	if (m.d != j->d_full) {
		pn_job_log(j, "worker %u has a different model (%llu parameters, we have %zu): ignored\n",
			   m.rank, (unsigned long long)m.d, j->d_full);
		return;
	}
	pn_job_msg wel = welcome_for(j, m.rank);
	if (m.region.len < 2 * pn_job_worker_slot_len(j) * j->esize) {
		/* set up for another m: WELCOME tells it ours (it refuses the job, saying so),
		 * but the rank is not taken: we would read past its region */
		pn_job_log(j, "worker %u registered %llu bytes, under 2 slots of %zu %s (m=%d): not taken\n",
			   m.rank, (unsigned long long)m.region.len, j->msg_len,
			   pn_dtype_name(j->cfg->rule.grad_dtype), j->comm_dim);
		uint8_t buf[PN_TP_CTRL_MAX];
		pn_tp_send_ctrl(c->peer, buf, pn_job_msg_pack(&wel, buf));
		return;
	}
	pn_job_worker *w = &j->w[m.rank];
	w->peer = c->peer;
	w->grad = m.region;
	w->alive = true;
	w->trust = 1.0;
	w->gone_at = -1;
	w->last_heard = pn_now_s();
	if (running)
		pn_job_log(j, "round %lld: worker %d joined the root as peer %u (its node is gone)\n",
			   (long long)j->round, (int)m.rank - j->cfg->tree_nodes, m.rank);
	if (pn_job_send(j, (int)m.rank, &wel) == 0 && running && j->pulling)
		pn_job_tree_join_round(j, (int)m.rank);
}

int pn_job_accept_workers(pn_job *j)
{
	const pn_agg_job_config *c = j->cfg;
	int rc = pn_tp_listen(j->ctx, c->listen);
	if (rc)
		return pn_job_fail(j, rc, "listen %s: %s", c->listen, pn_tp_errmsg(j->ctx));
	char addr[256] = "";
	pn_tp_local_addr(j->ctx, addr, sizeof addr);
	pn_job_log(j, "aggregator listening on %s for %d workers\n", addr, j->n);
	if (c->on_listen)
		c->on_listen(c->on_listen_ctx, addr);
	if ((rc = pn_shard_link_join(j)))
		return rc;
	/* a tree with bypass slots waits for its nodes: the workers' slots fill only later */
	int joined = 0, want = c->tree_nodes > 0 ? c->tree_nodes : j->n;
	double t0 = pn_now_s(), limit = (c->accept_timeout_ms > 0 ? c->accept_timeout_ms : 60000) / 1e3;
	while (joined < want || !pn_shard_link_ready(j)) {
		if ((rc = pn_shard_link_check(j)))
			return rc;
		if (pn_job_stop_requested(j))
			return pn_job_fail(j, -EINTR, "stopped on request while %d of %d workers had joined",
					   joined, j->n);
		if (pn_now_s() - t0 >= limit)
			return pn_job_fail(j, -ETIMEDOUT, "only %d of %d workers %sjoined within %.0f s", joined,
					   want, pn_shard_link_ready(j) ? "" : "and not every shard ", limit);
		/* The peer is identified by its HELLO (a completion names its peer). */
		pn_tp_peer *p = NULL;
		rc = pn_tp_accept(j->ctx, &p, 50);
		if (rc && rc != -ETIMEDOUT && rc != -EAGAIN)
			return pn_job_fail(j, rc, "accept: %s", pn_tp_errmsg(j->ctx));
		pn_tp_completion comp[16];
		int nc = pn_tp_poll(j->ctx, comp, 16, 0);
		for (int k = 0; k < nc; k++) {
			int known = pn_job_worker_of_peer(j, comp[k].peer);
			if (known < 0 && comp[k].event == PN_TP_PEER_DOWN && pn_shard_link_on_down(j, &comp[k]))
				continue;
			if (known < 0 && comp[k].event == PN_TP_CTRL_RECV && pn_shard_link_on_ctrl(j, &comp[k]))
				continue;
			if (comp[k].event == PN_TP_PEER_DOWN && known >= 0) {
				/* a worker lost before the job started may come back with the same rank */
				pn_job_log(j, "worker %d dropped during setup; waiting for it to rejoin\n", known);
				j->w[known].alive = false;
			} else if (comp[k].event == PN_TP_CTRL_RECV && known >= 0) {
				j->w[known].last_heard = pn_now_s(); /* its PING while the others join */
			} else if (comp[k].event == PN_TP_CTRL_RECV) {
				pn_job_on_hello(j, &comp[k], false);
			}
		}
		pn_job_heartbeat(j, nc < 16);
		joined = 0;
		for (int i = 0; i < want; i++)
			joined += j->w[i].alive;
	}
	pn_job_log(j, "all %d %s%s joined in %.2f s\n", want, c->tree_nodes > 0 ? "nodes" : "workers",
		   j->link ? " and every shard" : "", pn_now_s() - t0);
	return 0;
}
