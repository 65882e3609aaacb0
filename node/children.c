/* The node toward its children: it is their aggregator. HELLO → WELCOME (the job's n
 * leaves, the node's model region), ROUND with each child's code row, READY and PING,
 * the heartbeat and the silence limit, STOP. A child gone fails the node: a sum that
 * misses a child is not the sum its parent counts on (bypass is a later step). */
#include "node/node_internal.h"
#include "job/parity.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

static int send_to(pn_node *n, int c, const pn_job_msg *m)
{
	uint8_t buf[PN_TP_CTRL_MAX];
	size_t len = pn_job_msg_pack(m, buf);
	n->kids[c].last_sent = pn_now_s();
	return pn_tp_send_ctrl(n->kids[c].peer, buf, len);
}

static int child_of_peer(const pn_node *n, const pn_tp_peer *p)
{
	for (int c = 0; c < n->g; c++)
		if (n->kids[c].alive && n->kids[c].peer == p)
			return c;
	return -1;
}

static void on_hello(pn_node *n, const pn_tp_completion *comp)
{
	pn_job_msg m;
	if (pn_job_msg_unpack(comp->data, comp->len, &m) || m.type != PN_MSG_HELLO) {
		pn_node_log(n, "node: dropped a malformed message from peer %u during setup\n", comp->peer_id);
		return;
	}
	int c = (int)m.rank - n->cfg->first_rank;
	if (c < 0 || c >= n->g || n->kids[c].alive) {
		pn_node_log(n, "node: peer %u claims rank %u (ours are %d..%d, or taken): ignored\n",
			    comp->peer_id, m.rank, n->cfg->first_rank, n->cfg->first_rank + n->g - 1);
		return;
	}
	if (m.grad_dtype != PN_DTYPE_F32) { /* a sum node adds float32 chunks (first version) */
		pn_node_log(n, "node: child rank %u sends %s gradients, a sum node takes f32: ignored\n",
			    m.rank, pn_dtype_name((pn_dtype)m.grad_dtype));
		return;
	}
	if (m.d != n->d || m.region.len < 2 * n->d * sizeof(float)) {
		pn_node_log(n, "node: child rank %u has %llu parameters, we have %zu: ignored\n", m.rank,
			    (unsigned long long)m.d, n->d);
		return;
	}
	node_child *k = &n->kids[c];
	*k = (node_child){.peer = comp->peer, .grad = m.region, .alive = true, .last_heard = pn_now_s()};
	pn_job_msg wel = {.type = PN_MSG_WELCOME, .n = (uint32_t)n->cfg->leaves, .d = n->d,
			  .heartbeat_ms = (uint32_t)(n->heartbeat_s * 1e3 + 0.5),
			  .silence_ms = (uint32_t)(n->silence_s * 1e3 + 0.5), .serve = PN_SERVE_MODEL,
			  .comm_dim = 1 /* whole gradients: uncoded */,
			  .shard = 0, .shards = 1, .lo = 0, .hi = n->d /* a node serves the whole model */};
	pn_tp_mr_get_desc(n->model_mr, &wel.region);
	if (send_to(n, c, &wel))
		k->alive = false;
}

static int lose(pn_node *n, int c, const char *how)
{
	if (n->cfg->mode == PN_NODE_REPLICA)
		return pn_node_replica_lose(n, c, how); /* the other replicas may go on */
	n->kids[c].alive = false;
	if (n->stopping)
		return 0;
	if (n->lost < 0)
		n->lost = c;
	return pn_node_fail(n, -ECONNRESET, "child rank %d %s (round %lld): a sum node cannot serve a "
			    "partial sum (bypassing a child is not built)", n->cfg->first_rank + c, how,
			    (long long)n->round);
}

/* PING the children we have said nothing to for a heartbeat period; one silent past the
 * limit is gone. Silence is judged only when `drained` (nothing left queued). */
static int heartbeat(pn_node *n, bool drained)
{
	double now = pn_now_s();
	for (int c = 0; c < n->g; c++) {
		node_child *k = &n->kids[c];
		if (!k->alive)
			continue;
		if (drained && now - k->last_heard >= n->silence_s) {
			pn_tp_disconnect(k->peer);
			return lose(n, c, "fell silent");
		}
		if (now - k->last_sent >= n->heartbeat_s)
			send_to(n, c, &(pn_job_msg){.type = PN_MSG_PING}); /* a full queue: next period */
	}
	return 0;
}

int pn_node_accept_children(pn_node *n)
{
	n->accepting = true; /* until every child is in: HELLOs are taken */
	const pn_node_config *cfg = n->cfg;
	int rc = pn_tp_listen(n->ctx, cfg->listen);
	if (rc)
		return pn_node_fail(n, rc, "listen %s: %s", cfg->listen, pn_tp_errmsg(n->ctx));
	char addr[256] = "";
	pn_tp_local_addr(n->ctx, addr, sizeof addr);
	pn_node_log(n, "node %d listening on %s for children %d..%d\n", cfg->rank, addr, cfg->first_rank,
		    cfg->first_rank + n->g - 1);
	if (cfg->on_listen)
		cfg->on_listen(cfg->on_listen_ctx, addr);
	double t0 = pn_now_s(), limit = (cfg->accept_timeout_ms > 0 ? cfg->accept_timeout_ms : 60000) / 1e3;
	for (;;) {
		int joined = 0;
		for (int c = 0; c < n->g; c++)
			joined += n->kids[c].alive;
		if (joined == n->g) {
			n->accepting = false;
			return 0;
		}
		if (pn_now_s() - t0 >= limit)
			return pn_node_fail(n, -ETIMEDOUT, "only %d of %d children joined within %.0f s", joined,
					    n->g, limit);
		pn_tp_peer *p = NULL;
		rc = pn_tp_accept(n->ctx, &p, 50);
		if (rc && rc != -ETIMEDOUT && rc != -EAGAIN)
			return pn_node_fail(n, rc, "accept: %s", pn_tp_errmsg(n->ctx));
		if ((rc = pn_node_poll(n, 0)) < 0)
			return rc;
		if ((rc = pn_node_parent_alive(n)))
			return rc;
		heartbeat(n, false);
	}
}

int pn_node_announce(pn_node *n, int64_t round)
{
	bool replica = n->cfg->mode == PN_NODE_REPLICA;
	for (int c = 0; c < n->g; c++) {
		if (!n->kids[c].alive)
			continue; /* (replica: a child lost earlier) */
		/* uncoded: each child computes its own rank's partition; replica: every child the
		 * sum of the group's G partitions (check_config: G <= PN_JOB_MAX_PARTS) */
		pn_job_msg m = {.type = PN_MSG_ROUND, .round = round, .slot = pn_job_slot(round), .nparts = 1,
				.parts = {n->cfg->first_rank + c}, .coefs = {1.0}};
		if (replica) {
			m.nparts = n->g;
			for (int p = 0; p < n->g; p++) {
				m.parts[p] = n->cfg->first_rank + p;
				m.coefs[p] = 1.0;
			}
		}
		int rc;
		if (send_to(n, c, &m) && (rc = lose(n, c, "could not be told the round")))
			return rc;
	}
	return 0;
}

/* A child that is itself a node: the first m->d elements of its sum are final. Sum and
 * robust nodes may read the chunks inside them now; a replica node compares whole
 * replicas and waits. */
static void on_progress(pn_node *n, node_child *k, const pn_job_msg *m)
{
	size_t upto = pn_job_progress_final(m->d, 0, n->d);
	if (m->round != n->round || k->ready || n->cfg->mode == PN_NODE_REPLICA || upto == 0)
		return;
	k->slot = m->slot;
	if (upto > k->upto)
		k->upto = upto;
}

static int on_ctrl(pn_node *n, const pn_tp_completion *comp)
{
	int c = child_of_peer(n, comp->peer);
	pn_job_msg m;
	int rc = pn_job_msg_unpack(comp->data, comp->len, &m);
	if (c >= 0)
		n->kids[c].last_heard = pn_now_s();
	if (c >= 0 && rc == 0 && m.type == PN_MSG_PING)
		return 0;
	if (c >= 0 && rc == 0 && m.type == PN_MSG_PROGRESS) {
		on_progress(n, &n->kids[c], &m);
		return 0;
	}
	if (c < 0 || rc != 0 || m.type != PN_MSG_READY) {
		pn_node_log(n, "node: dropped an unexpected control message from peer %u\n", comp->peer_id);
		return 0;
	}
	if (m.round != n->round)
		return 0; /* not the round being summed */
	if (m.status != 0)
		return pn_node_fail(n, m.status, "round %lld: child rank %d could not compute (%s)",
				    (long long)m.round, n->cfg->first_rank + c, strerror(-m.status));
	node_child *k = &n->kids[c];
	if (k->ready)
		return 0; /* (a repeated READY of the round: the first one stands) */
	k->ready = true;
	k->ready_seq = n->ready_seen++;
	k->slot = m.slot;
	k->loss = m.loss;
	return 0;
}

/* One completion of the children's side, found by our poll or the parent session's. */
static int on_event(pn_node *n, const pn_tp_completion *e)
{
	int c = child_of_peer(n, e->peer);
	if (e->event == PN_TP_READ_DONE) {
		uint32_t slot = (uint32_t)e->cookie;
		bool this_round = (uint32_t)(e->cookie >> 32) == (uint32_t)n->round;
		if (n->cfg->mode == PN_NODE_REPLICA && slot < (uint32_t)n->nslots && n->slots[slot].busy)
			return pn_node_replica_landed(n, (int)slot, e->status, e->len, this_round);
		if (this_round && slot < (uint32_t)n->nslots && n->slots[slot].busy)
			return pn_node_sum_landed(n, (int)slot, e->status, e->len);
	} else if (e->event == PN_TP_CTRL_RECV && c < 0 && n->accepting) {
		on_hello(n, e);
	} else if (e->event == PN_TP_CTRL_RECV) {
		return on_ctrl(n, e);
	} else if (e->event == PN_TP_PEER_DOWN && c >= 0 && n->accepting) {
		n->kids[c].alive = false; /* it may come back with the same rank */
	} else if (e->event == PN_TP_PEER_DOWN && c >= 0) {
		return lose(n, c, "went away");
	}
	return 0;
}

void pn_node_foreign(void *arg, const pn_tp_completion *c)
{
	pn_node *n = arg;
	int rc = on_event(n, c);
	if (rc && !n->deferred_rc)
		n->deferred_rc = rc; /* the session cannot carry it: the node's next poll returns it */
}

int pn_node_poll(pn_node *n, int timeout_ms)
{
	enum { BATCH = 64 };
	pn_tp_completion comp[BATCH];
	int got = pn_tp_poll(n->ctx, comp, BATCH, timeout_ms);
	if (got < 0)
		return pn_node_fail(n, got, "poll: %s", pn_tp_errmsg(n->ctx));
	int rc = n->deferred_rc;
	n->deferred_rc = 0;
	for (int i = 0; i < got; i++) {
		int r = 0;
		if (n->parent && pn_session_owns(n->parent, &comp[i])) {
			/* the parent's, in order; a failure shows in the session's next call */
			if ((r = pn_session_deliver(n->parent, &comp[i], 1)) < 0)
				r = pn_node_fail(n, r, "parent: %s", pn_session_error(n->parent));
		} else {
			r = on_event(n, &comp[i]);
		}
		if (r && !rc)
			rc = r; /* later completions still go where they belong */
	}
	return rc ? rc : got;
}

int pn_node_drive(pn_node *n, int timeout_ms)
{
	int got = pn_node_poll(n, timeout_ms);
	if (got < 0)
		return got;
	return heartbeat(n, got < 64);
}

void pn_node_stop_children(pn_node *n)
{
	n->stopping = true;
	for (int c = 0; c < n->g; c++)
		if (n->kids[c].alive)
			send_to(n, c, &(pn_job_msg){.type = PN_MSG_STOP});
	double t0 = pn_now_s();
	for (;;) {
		bool any = false;
		for (int c = 0; c < n->g; c++)
			any |= n->kids[c].alive;
		if (!any || pn_now_s() - t0 > 2.0)
			return;
		pn_node_drive(n, 10);
	}
}
