/* The aggregator role: set up (transport, registered memory, code, straggler policy,
 * chunk plan, puller), accept n workers, run the rounds (job/round.c), then hand back
 * the result and stop the workers. See include/pennant/job.h for what is computed and
 * job/README.md for the files and the message sequence. */
#include "job/aggregator_internal.h"
#include "job/cookie.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(PN_JOB_MAX_WORKERS < PN_COOKIE_MAX_WORKERS, "every rank fits the read cookie");

void pn_job_log(pn_job *j, const char *fmt, ...)
{
	if (!j->log)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(j->log, fmt, ap);
	va_end(ap);
	fflush(j->log);
}

int pn_job_fail(pn_job *j, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->err, j->errlen, fmt, ap);
	va_end(ap);
	return rc;
}

bool pn_job_stop_requested(const pn_job *j)
{
	return j->cfg->stop_requested && *j->cfg->stop_requested;
}

void *pn_job_land_row(pn_job *j, int64_t round, int i)
{
	return j->land + ((size_t)pn_job_slot(round) * j->n + (size_t)i) * j->msg_len * j->esize;
}

/* ---- setup ---- */

static int setup_memory(pn_job *j)
{
	const pn_agg_job_config *c = j->cfg;
	char e[512];
	j->ctx = pn_tp_open(&c->tp, e, sizeof e);
	if (!j->ctx)
		return pn_job_fail(j, -EIO, "transport: %s", e);
	void *mb, *lb;
	int rc = pn_tp_alloc(j->ctx, 2 * j->d * sizeof(float), PN_ACCESS_REMOTE_READ, &mb, &j->model_mr);
	if (!rc)
		rc = pn_tp_alloc(j->ctx, 2 * (size_t)j->n * j->msg_len * j->esize, PN_ACCESS_LOCAL_WRITE,
				 &lb, &j->land_mr);
	if (rc)
		return pn_job_fail(j, rc, "registered memory: %s", pn_tp_errmsg(j->ctx));
	j->model = mb;
	j->land = lb;
	if (c->serve == PN_SERVE_GRADIENT) {
		void *rb;
		if ((rc = pn_tp_alloc(j->ctx, 2 * j->d * sizeof(float), PN_ACCESS_REMOTE_READ, &rb, &j->result_mr)))
			return pn_job_fail(j, rc, "registered memory: %s", pn_tp_errmsg(j->ctx));
		j->result = rb;
		memset(j->result, 0, 2 * j->d * sizeof(float));
	}
	memcpy(j->model, c->init_model + j->lo, j->d * sizeof(float)); /* our range of the model */
	size_t n = (size_t)j->n;
	j->velocity = calloc(j->d, sizeof(float));
	j->velocity_saved = malloc(j->d * sizeof(float));
	j->out = malloc(j->d * sizeof(float));
	j->w = calloc(n, sizeof *j->w);
	j->finished = calloc(n, sizeof(bool));
	j->failed = calloc(n, sizeof(bool));
	j->needed = calloc(n, sizeof(bool));
	j->use = calloc(n, sizeof(bool));
	j->late = calloc(n, sizeof(bool));
	j->rows = calloc(n, sizeof *j->rows);
	j->alpha = calloc(n, sizeof *j->alpha);
	j->members = calloc(n, sizeof *j->members);
	j->ce_A = calloc(n * (size_t)j->comm_dim, sizeof *j->ce_A);
	if (!j->ce_A || !j->velocity || !j->velocity_saved || !j->out || !j->w || !j->finished || !j->failed ||
	    !j->needed || !j->use || !j->late || !j->rows || !j->alpha || !j->members)
		return pn_job_fail(j, -ENOMEM, "out of memory");
	for (int i = 0; i < j->n; i++) {
		j->w[i].gone_at = -2; /* never joined, until it does */
		j->w[i].acked = -1;
	}
	return pn_job_tree_report_setup(j);
}

/* What was settled before anything opened: the code, the policies, the timers. A robust
 * rule's inputs are the rows scaled to one gradient estimate each (the rows' common sum). */
static void adopt_settings(pn_job *j, pn_job_settings *s)
{
	j->code = s->code;
	s->code = NULL;
	j->robust = s->robust;
	j->gram = s->gram;
	j->pol = s->wait;
	j->heartbeat_s = s->heartbeat_s;
	j->silence_s = s->silence_s;
	j->comm_dim = pn_code_comm_dim(j->code);
	j->msg_len = pn_code_message_len(j->code, j->d);
	const double *B = pn_code_matrix(j->code);
	double s0 = 0;
	for (int k = 0; k < j->n; k++)
		s0 += B[k];
	/* m > 1: the combine sums the n partition gradients; the step divides by n */
	j->row_scale = j->robust ? 1.0 / s0 : j->comm_dim > 1 ? 1.0 / j->n : 1.0;
}

/* One engine for the job: its pool starts here, once; each round resets it. */
static int setup_engine(pn_job *j, const pn_job_settings *s)
{
	pn_agg_config ac = s->engine;
	ac.d = j->msg_len;
	char e[256];
	j->agg = pn_agg_create(&ac, e, sizeof e);
	if (!j->agg)
		return pn_job_fail(j, -EINVAL, "aggregation: %s", e);
	if (!j->robust && pn_agg_set_weight_fn(j->agg, pn_job_decode_weights, j) != 0)
		return pn_job_fail(j, -EINVAL, "aggregation: %s", pn_agg_errmsg(j->agg));
	return 0;
}

static int setup_schedule(pn_job *j, const pn_job_settings *s)
{
	const pn_agg_job_config *c = j->cfg;
	char e[512];
	pn_chunk_params chp = {.d = j->msg_len, .unit_bytes = pn_tp_preferred_chunk(j->ctx), .workers = j->n,
			       .elem_bytes = j->esize};
	int rc = pn_chunk_plan_build(&chp, &j->plan, e, sizeof e);
	if (rc)
		return pn_job_fail(j, rc, "chunk plan: %s", e);
	if (j->plan.nchunks >= PN_COOKIE_MAX_CHUNKS)
		return pn_job_fail(j, -EINVAL, "too many chunks (%d)", j->plan.nchunks);
	pn_pull_config pc = {.workers = j->n, .plan = &j->plan, .policy = s->pull,
			     .window_per_worker = c->window_per_worker > 0 ? c->window_per_worker : 8,
			     .window_total = c->window_total > 0 ? c->window_total : 64};
	j->puller = pn_pull_create(&pc, e, sizeof e);
	if (!j->puller)
		return pn_job_fail(j, -EINVAL, "puller: %s", e);
	j->landed = malloc(sizeof *j->landed * 2 * (size_t)j->n * (size_t)j->plan.nchunks);
	if (!j->landed)
		return pn_job_fail(j, -ENOMEM, "out of memory");
	pn_job_log(j, "code %s, wait=%s, rule %s, %d chunks of %zu %s per worker (messages of %zu "
		   "of the %zu parameters), pipelining %s\n",
		   pn_code_describe(j->code), pn_wait_mode_name(j->pol.mode), pn_rule_name(c->rule.rule),
		   j->plan.nchunks, j->plan.chunk_floats, pn_dtype_name(c->rule.grad_dtype), j->msg_len,
		   j->d, c->pipelining ? "on" : "off");
	return 0;
}

/* ---- the end: the result, STOP, teardown ---- */

/* The model is never lost: the latest one is handed back even after an error. */
static void fill_result(pn_job *j, pn_agg_job_result *res)
{
	/* a shard holds only its range: shard 0 gathers the whole model, or there is none */
	res->model = j->cfg->shard.count > 1 ? NULL : malloc(j->d * sizeof(float));
	res->trust = calloc((size_t)j->n, sizeof(double));
	res->flagged = calloc((size_t)j->n, sizeof(int));
	res->straggled = calloc((size_t)j->n, sizeof(int));
	res->gone_at = calloc((size_t)j->n, sizeof(int64_t));
	res->rounds_lost = j->rounds_lost;
	pn_job_tree_report_result(j, res);
	res->nodes_bypassed = j->nodes_bypassed;
	res->reads_before_ready = j->reads_before_ready;
	if (res->model)
		memcpy(res->model,
		       j->model ? j->model + (size_t)pn_job_slot(res->rounds_done) * j->d : j->cfg->init_model,
		       j->d * sizeof(float));
	for (int i = 0; j->w && i < j->n; i++) {
		if (res->trust)
			res->trust[i] = j->w[i].trust;
		if (res->flagged)
			res->flagged[i] = j->w[i].flagged;
		if (res->straggled)
			res->straggled[i] = j->w[i].straggled;
		if (res->gone_at)
			res->gone_at[i] = j->w[i].gone_at;
	}
}

static void stop_workers(pn_job *j, pn_agg_job_result *res, int rc)
{
	j->stopping = true;
	pn_job_msg stop;
	pn_shard_link_stop_msg(j, rc, &stop);
	for (int i = 0; j->w && i < j->n; i++)
		if (j->w[i].alive)
			pn_job_send(j, i, &stop);
	if (!j->ctx)
		return;
	/* let STOP messages leave and late reads drain before tearing down */
	for (int k = 0; k < 20; k++)
		pn_job_drive(j, 5);
	pn_tp_get_stats(j->ctx, &res->tp_stats);
}

static void teardown(pn_job *j)
{
	pn_shard_link_close(j);
	pn_agg_free(j->agg);
	pn_pull_free(j->puller);
	pn_chunk_plan_free(&j->plan);
	pn_code_free(j->code);
	pn_tp_close(j->ctx); /* frees registered memory */
	free(j->velocity), free(j->velocity_saved), free(j->out), free(j->w);
	free(j->finished), free(j->failed), free(j->needed), free(j->use), free(j->late);
	free(j->rows), free(j->alpha), free(j->members), free(j->landed), free(j->ce_A);
	pn_job_tree_report_free(j);
}

int pn_aggregator_run(const pn_agg_job_config *cfg, pn_agg_job_result *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof *res);
	bool sharded = cfg->shard.count > 1;
	pn_job j = {.cfg = cfg, .n = cfg->n, .d = cfg->d, .d_full = cfg->d,
		    .esize = pn_dtype_size(cfg->rule.grad_dtype), .log = cfg->log, .err = err,
		    .errlen = errlen};
	if (cfg->n < 1 || cfg->n > PN_JOB_MAX_WORKERS || cfg->d < 1 || !cfg->init_model)
		return pn_job_fail(&j, -EINVAL, "need 1 <= n <= %d workers and an initial model",
				   PN_JOB_MAX_WORKERS);
	if (sharded && !(cfg->shard.lo < cfg->shard.hi && cfg->shard.hi <= cfg->d))
		return pn_job_fail(&j, -EINVAL, "shard %d: coordinates [%zu, %zu) are not a range of the "
				   "%zu-float model", cfg->shard.index, cfg->shard.lo, cfg->shard.hi, cfg->d);
	if (sharded) {
		j.lo = cfg->shard.lo;
		j.d = cfg->shard.hi - cfg->shard.lo;
	}
	double t0 = pn_now_s();
	pn_job_settings set;
	int rc = pn_job_settle(cfg, &set, err, errlen);
	if (rc == 0) {
		adopt_settings(&j, &set);
		rc = setup_memory(&j);
	}
	if (rc == 0)
		rc = setup_engine(&j, &set);
	if (rc == 0)
		rc = setup_schedule(&j, &set);
	if (rc == 0 && sharded)
		rc = pn_shard_link_open(&j);
	if (rc == 0)
		rc = pn_job_accept_workers(&j);
	for (j.round = 0; rc == 0 && j.round < cfg->rounds; j.round++) {
		pn_round_record rec;
		rc = pn_job_stop_requested(&j) ? -EINTR : pn_job_run_round(&j, &rec);
		if (rc == -EINTR)
			rc = pn_job_fail(&j, rc, "stopped on request in round %lld; the model is the one after %lld rounds",
					 (long long)j.round, (long long)res->rounds_done);
		if (rc)
			break;
		res->rounds_done++;
		res->rounds_skipped += rec.skipped;
		if (cfg->on_round) /* (no shard has the whole model during the job) */
			cfg->on_round(cfg->on_round_ctx, sharded ? NULL : j.next, &rec);
		int alive = 0;
		for (int i = 0; i < j.n; i++)
			alive += j.w[i].alive;
		if (alive == 0) {
			rc = pn_job_fail(&j, -ENOTCONN, "every worker is gone after round %lld", (long long)j.round);
			break;
		}
	}
	fill_result(&j, res);
	if (j.result && res->rounds_done > 0)
		pn_job_await_result_acks(&j, res->rounds_done - 1);
	if (rc == 0 && j.link)
		rc = pn_shard_link_gather(&j, res);
	stop_workers(&j, res, rc);
	res->t_total_s = pn_now_s() - t0;
	teardown(&j);
	return rc;
}

void pn_agg_job_result_free(pn_agg_job_result *res)
{
	free(res->trust);
	free(res->flagged);
	free(res->straggled);
	free(res->gone_at);
	free(res->leaf_stats);
	free(res->model);
	memset(res, 0, sizeof *res);
}
