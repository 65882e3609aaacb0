/* pn_node_run (include/pennant/node.h): join the parent as one worker, accept the
 * children, then per round: the parent's ROUND and model → the children's ROUND, the
 * streaming sum of their gradients (node/sum.c) into the parent-facing slot, READY to the
 * parent; STOP from the parent goes down to the children. */
#include "node/node_internal.h"
#include "job/parity.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NODE_SLOTS = 8, NODE_CHUNK = 16384, PARENT_SLICE_MS = 20 };

void pn_node_log(pn_node *n, const char *fmt, ...)
{
	if (!n->cfg->log)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(n->cfg->log, fmt, ap);
	va_end(ap);
	fflush(n->cfg->log);
}

int pn_node_fail(pn_node *n, int rc, const char *fmt, ...)
{
	if (n->err[0])
		return rc; /* the first failure is the one said */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(n->err, n->errlen, fmt, ap);
	va_end(ap);
	return rc;
}

int pn_node_mode_from_name(const char *name)
{
	if (name && strcmp(name, "sum") == 0)
		return PN_NODE_SUM;
	if (name && strcmp(name, "robust") == 0)
		return PN_NODE_ROBUST;
	if (name && strcmp(name, "replica") == 0)
		return PN_NODE_REPLICA;
	return -EINVAL;
}

int pn_node_serve_from_name(const char *name)
{
	if (name && strcmp(name, "prefix") == 0)
		return 0;
	if (name && strcmp(name, "whole") == 0)
		return 1;
	return -EINVAL;
}

int pn_node_parent_alive(pn_node *n)
{
	int rc = pn_session_poll(n->parent);
	if (rc < 0)
		return pn_node_fail(n, rc, "parent: %s", pn_session_error(n->parent));
	return rc == 1 ? PN_SESSION_STOPPED : 0;
}

static int check_config(pn_node *n, const pn_node_config *c)
{
	if (c->mode == PN_NODE_ROBUST && !c->rule)
		return pn_node_fail(n, -EINVAL, "--node-mode robust needs a rule");
	if (c->mode == PN_NODE_ROBUST && c->fixed_point)
		return pn_node_fail(n, -EINVAL, "--fixed-point is for sum nodes (a robust node runs its rule in float)");
	if (c->mode != PN_NODE_SUM && c->mode != PN_NODE_ROBUST && c->mode != PN_NODE_REPLICA)
		return pn_node_fail(n, -EINVAL, "unknown node mode %d", (int)c->mode);
	if (c->replica_quorum < 0 || c->replica_quorum > c->children)
		return pn_node_fail(n, -EINVAL, "replica quorum %d: 0..%d (the group's replicas)", c->replica_quorum,
				    c->children);
	if (c->mode == PN_NODE_REPLICA && (c->fixed_point || c->children > PN_JOB_MAX_PARTS))
		return pn_node_fail(n, -EINVAL, "a replica node serves one child's gradient as it is (no "
				    "--fixed-point) and its group computes G <= %d partitions, got G = %d",
				    PN_JOB_MAX_PARTS, c->children);
	if (!c->parent || !c->listen)
		return pn_node_fail(n, -EINVAL, "a node needs its parent's address and a listen address");
	if (c->children < 1 || c->first_rank < 0 || c->leaves < c->first_rank + c->children ||
	    c->leaves > PN_JOB_MAX_WORKERS)
		return pn_node_fail(n, -EINVAL, "children %d..%d do not fit a job of %d workers (at most %d)",
				    c->first_rank, c->first_rank + c->children - 1, c->leaves, PN_JOB_MAX_WORKERS);
	if (c->d < 1 || c->slots < 0 || c->slots > 4096)
		return pn_node_fail(n, -EINVAL, "d must be >= 1 and slots in [0, 4096]");
	return 0;
}

static int setup(pn_node *n, const pn_node_config *c)
{
	n->g = c->children;
	n->d = c->d;
	n->chunk = c->chunk_floats ? c->chunk_floats : NODE_CHUNK;
	if (n->chunk > n->d)
		n->chunk = n->d;
	n->nchunks = (int)((n->d + n->chunk - 1) / n->chunk);
	n->nslots = c->slots ? c->slots : NODE_SLOTS;
	n->heartbeat_s = (c->heartbeat_ms > 0 ? c->heartbeat_ms : 1000) / 1e3;
	n->silence_s = (c->silence_ms > 0 ? c->silence_ms : 5000) / 1e3;
	n->round = -1;
	n->lost = -1;
	n->primary = -1;
	n->kids = calloc((size_t)n->g, sizeof *n->kids);
	n->slots = calloc((size_t)n->nslots, sizeof *n->slots);
	if (!n->kids || !n->slots)
		return pn_node_fail(n, -ENOMEM, "out of memory");
	n->acc = malloc(n->d * sizeof *n->acc);
	n->chunk_kids = calloc((size_t)n->nchunks, sizeof *n->chunk_kids);
	if (!n->acc || !n->chunk_kids)
		return pn_node_fail(n, -ENOMEM, "out of memory (the sum's float64 accumulator)");
	n->fixed_on = c->fixed_point;
	/* (fixed point serves the block sum, replaced into the slot only once it is whole) */
	n->streaming = c->mode == PN_NODE_SUM && !c->fixed_point && !c->serve_whole;
	if (n->fixed_on && pn_fixed_init(&n->fixed, n->d, n->g))
		return pn_node_fail(n, -ENOMEM, "out of memory (fixed-point sum)");
	/* One transport context for both sides (dpdk allows one per process): the parent
	 * session joins over it and hands the children's completions its polls see to us. */
	char e[512];
	n->ctx = pn_tp_open(&c->tp, e, sizeof e);
	if (!n->ctx)
		return pn_node_fail(n, -EIO, "transport: %s", e);
	pn_session_config sc = {.tp = c->tp, .connect = c->parent, .rank = c->rank, .d = c->d,
				.connect_timeout_ms = c->connect_timeout_ms ? c->connect_timeout_ms : 60000,
				.ctx = n->ctx, .foreign = pn_node_foreign, .foreign_arg = n};
	int rc = pn_session_join(&sc, &n->parent, e, sizeof e);
	if (rc)
		return pn_node_fail(n, rc, "joining the parent %s: %s", c->parent, e);
	void *mb, *pb = NULL;
	rc = pn_tp_alloc(n->ctx, 2 * n->d * sizeof(float), PN_ACCESS_REMOTE_READ, &mb, &n->model_mr);
	if (!rc && c->mode != PN_NODE_ROBUST) /* (robust: reads land in the children's rows) */
		rc = pn_tp_alloc(n->ctx, (size_t)n->nslots * n->chunk * sizeof(float), PN_ACCESS_LOCAL_WRITE,
				 &pb, &n->pool_mr);
	if (rc)
		return pn_node_fail(n, rc, "registered memory: %s", pn_tp_errmsg(n->ctx));
	n->model = mb;
	n->pool = pb;
	return c->mode == PN_NODE_ROBUST ? pn_node_robust_setup(n) : 0;
}

static void teardown(pn_node *n)
{
	pn_node_robust_teardown(n);
	if (n->pool_mr)
		pn_tp_deregister(n->pool_mr);
	if (n->model_mr)
		pn_tp_deregister(n->model_mr);
	pn_session_leave(n->parent); /* before the context it shares closes */
	if (n->ctx)
		pn_tp_close(n->ctx);
	free(n->kids);
	free(n->slots);
	free(n->acc);
	free(n->chunk_kids);
	if (n->fixed_on)
		pn_fixed_free(&n->fixed);
}

/* The parent's next round, keeping the children's heartbeat meanwhile: 0 with *r and
 * model v in the node's model slot v%2, PN_SESSION_STOPPED, or -errno. */
static int parent_round(pn_node *n, pn_session_round *r)
{
	for (;;) {
		int rc = pn_session_begin(n->parent, r, NULL, PARENT_SLICE_MS);
		if (rc == 0) {
			/* The one copy here: the session's READ lands in its one model buffer; the
			 * children read model v from slot v%2 while v+1 may already be landing. */
			memcpy(n->model + (size_t)pn_job_slot(r->round) * n->d, pn_session_model(n->parent),
			       n->d * sizeof(float));
			return 0;
		}
		if (rc == PN_SESSION_STOPPED)
			return rc;
		if (rc != -ETIMEDOUT)
			return pn_node_fail(n, rc, "parent: %s", pn_session_error(n->parent));
		if ((rc = pn_node_parent_alive(n))) /* the caller's timeout, or the parent gone */
			return rc;
		if (n->cfg->mode == PN_NODE_REPLICA && (rc = pn_node_replica_post(n)))
			return rc; /* the last round's checks go on while the parent reads it */
		if ((rc = pn_node_drive(n, 0)))
			return rc;
	}
}

/* Round v: announce, pull and sum (robust: store, then the rule) until every child's every chunk is in, READY up.
 * PN_SESSION_STOPPED when the parent said STOP meanwhile (the round is abandoned). */
static int sum_round(pn_node *n, const pn_session_round *r)
{
	bool replica = n->cfg->mode == PN_NODE_REPLICA;
	int rc = 0;
	if (replica) {
		if ((rc = pn_node_replica_close(n))) /* the last round's checks */
			return rc;
		pn_node_replica_begin(n, r->round, pn_session_gradient(n->parent));
	} else {
		pn_node_sum_begin(n, r->round, pn_session_gradient(n->parent));
	}
	rc = pn_node_announce(n, r->round);
	while (rc == 0 && !(replica ? pn_node_replica_served(n) : pn_node_sum_complete(n))) {
		if ((rc = replica ? pn_node_replica_post(n) : pn_node_sum_post(n)) || (rc = pn_node_drive(n, 1)) ||
		    (rc = pn_node_sum_progress(n)))
			break;
		rc = pn_node_parent_alive(n);
	}
	if (rc)
		return rc;
	if (n->rows) {
		if ((rc = pn_node_robust_finish(n)))
			return rc;
	} else if (!replica) {
		pn_node_sum_finish(n);
	}
	double loss = 0;
	for (int c = 0; c < n->g; c++)
		loss += n->kids[c].loss;
	loss = replica ? n->kids[n->primary].loss : loss / n->g; /* replica: the served one's */
	if ((rc = pn_session_submit(n->parent, loss, 0)))
		return pn_node_fail(n, rc, "parent: %s", pn_session_error(n->parent));
	return 0;
}

int pn_node_run(const pn_node_config *cfg, pn_node_result *res, char *err, size_t errlen)
{
	pn_node n = {.cfg = cfg, .err = err, .errlen = errlen};
	err[0] = 0;
	if (res)
		*res = (pn_node_result){0};
	int rc = check_config(&n, cfg);
	if (!rc)
		rc = setup(&n, cfg);
	if (!rc)
		rc = pn_node_accept_children(&n);
	int64_t rounds = 0;
	while (rc == 0) {
		pn_session_round r;
		rc = parent_round(&n, &r);
		if (!rc && cfg->exit_abruptly && r.round >= cfg->exit_at_round) {
			pn_node_log(&n, "node %d: %s at round %lld (fault injection)\n", cfg->rank,
				    cfg->stall_ms > 0 ? "stalling, then exiting abruptly," : "exiting abruptly",
				    (long long)r.round);
			if (cfg->stall_ms > 0) /* a hung node: no word to anyone, then gone */
				usleep((useconds_t)cfg->stall_ms * 1000);
			_exit(3);
		}
		if (!rc && !(rc = sum_round(&n, &r)))
			rounds++;
	}
	if (rc == PN_SESSION_STOPPED)
		rc = 0; /* the parent ended the job: STOP goes down below */
	if (!rc && n.kids && cfg->mode == PN_NODE_REPLICA)
		rc = pn_node_replica_close(&n); /* the last round's checks count too */
	if (n.kids)
		pn_node_stop_children(&n); /* STOP, or the node failed: the children end either way */
	if (res) {
		res->rounds = rounds;
		res->bytes_pulled = n.bytes_pulled;
		res->memory_bytes = (2 + 3) * n.d * sizeof(float) + n.d * sizeof(double) +
				    (n.pool ? (size_t)n.nslots * n.chunk * sizeof(float) : 0) +
				    (size_t)n.nchunks * sizeof(int);
		if (n.fixed_on)
			res->memory_bytes += n.d * sizeof(int32_t) + n.fixed.nblocks * sizeof(int16_t);
		res->fixed_rel_err_max = n.fixed_err_max;
		res->fixed_rescales = n.fixed_on ? n.fixed.rescales : 0;
		if (n.rows)
			res->memory_bytes += (size_t)n.g * n.d * sizeof(float);
		res->children_lost = n.children_lost;
		res->progress_sent = n.progress_sent;
		res->reads_before_ready = n.reads_before_ready;
		for (int c = 0; n.kids && c < n.g; c++) {
			res->nonfinite += n.kids[c].nonfinite;
			res->top_suspect += n.kids[c].top_suspect;
			res->replica_agreed += n.kids[c].agreed;
			res->replica_disagreed += n.kids[c].disagreed;
			res->replica_unchecked += n.kids[c].unchecked;
			res->replica_rejected += n.kids[c].rejected_rounds;
			if (cfg->mode == PN_NODE_REPLICA)
				pn_node_log(&n, "node %d: child rank %d: replica checks: %lld agreed, %lld differed, "
					    "%lld not checked (late or gone)\n", cfg->rank, cfg->first_rank + c,
					    (long long)n.kids[c].agreed, (long long)n.kids[c].disagreed,
					    (long long)n.kids[c].unchecked);
			if (n.rows)
				pn_node_log(&n, "node %d: child rank %d: %lld rounds dropped (NaN/Inf), %lld rounds "
					    "the most suspect, mean score %.4g\n", cfg->rank, cfg->first_rank + c,
					    (long long)n.kids[c].nonfinite, (long long)n.kids[c].top_suspect,
					    rounds ? n.kids[c].score_sum / (double)rounds : 0.0);
		}
	}
	pn_node_log(&n, "node %d: %s after %lld rounds, %.1f MB pulled from %d children\n", cfg->rank,
		    rc ? "failed" : "stopped", (long long)rounds, n.bytes_pulled / 1e6, n.g);
	teardown(&n);
	return rc;
}
