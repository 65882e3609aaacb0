/* The worker role, pn_worker_run: a loop over the worker session (session.h): join;
 * per round begin (the model, or with PN_SERVE_GRADIENT the worker's own model),
 * compute the coded gradient with the application's pn_grad_source into the registered
 * slot, corrupt it in fault-injection runs, submit; with PN_SERVE_GRADIENT wait for the
 * round's aggregate and step the worker's model with src->step; leave after STOP. With a
 * comm-efficient code (m > 1) each held partition's gradient is computed alone and the
 * session encodes the ceil(d/m)-float message from them. */
#include "job/faults.h"
#include "pennant/session.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(double ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)fmod(ms * 1e6, 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A fault-injection delay, keeping our heartbeat going (it stands for a slow
 * computation, not for a dead worker). */
static int delay_ms(pn_session *s, double ms)
{
	double until = pn_now_s() + ms / 1e3, slice = pn_session_heartbeat_ms(s) / 2.0;
	for (double left = ms; left > 0; left = (until - pn_now_s()) * 1e3) {
		sleep_ms(fmin(left, slice));
		int rc = pn_session_poll(s);
		if (rc < 0)
			return rc;
	}
	return 0;
}

typedef struct worker {
	const pn_worker_config *cfg;
	const pn_grad_source *src;
	pn_session *s;
	pn_fault_state fst;
	float *model, *aggregate; /* serving gradients: our own model and the round's aggregate */
	float *part_grads;        /* m > 1: one full gradient per held partition (nparts × d) */
	int part_cap;
} worker;

/* m > 1: grad(parts[k]) for each held partition, each alone (coefficient 1), then the
 * message into the slot. The loss is the mean over the partitions. */
static int compute_and_encode(worker *w, const pn_session_round *r, const float *model, float *out,
			      double *loss)
{
	size_t d = w->src->d;
	if (r->nparts > w->part_cap) {
		free(w->part_grads);
		w->part_cap = 0;
		if (!(w->part_grads = malloc(sizeof(float) * d * (size_t)r->nparts)))
			return -ENOMEM;
		w->part_cap = r->nparts;
	}
	const float *grads[PN_JOB_MAX_PARTS];
	const double one = 1.0;
	double sum = 0;
	for (int k = 0; k < r->nparts; k++) {
		float *g = w->part_grads + (size_t)k * d;
		double lk = 0;
		int st = w->src->compute(w->src->ctx, (uint64_t)r->round, model, &r->parts[k], &one, 1, g, &lk);
		if (st)
			return st;
		sum += lk;
		grads[k] = g;
	}
	*loss = r->nparts ? sum / r->nparts : 0;
	return pn_session_encode(w->s, grads, out);
}

/* Round v, begun: compute into the registered slot, corrupt if Byzantine, submit; when
 * the aggregator serves gradients, wait for the aggregate and step. 0, 1 (STOP), -errno. */
static int one_round(worker *w, const pn_session_round *r)
{
	const pn_faults *f = &w->cfg->faults;
	if (f->exit_at_round >= 0 && r->round >= f->exit_at_round) {
		fprintf(stderr, "pennant-worker %d: exiting abruptly at round %lld (fault injection)\n",
			w->cfg->rank, (long long)r->round);
		_exit(3);
	}
	const float *model = r->serve == PN_SERVE_GRADIENT ? w->model : pn_session_model(w->s);
	float *out = pn_session_gradient(w->s);
	double loss = 0;
	int st = r->comm_dim > 1 ? compute_and_encode(w, r, model, out, &loss)
				 : w->src->compute(w->src->ctx, (uint64_t)r->round, model, r->parts, r->coefs,
						   r->nparts, out, &loss);
	if (st == 0) /* colluding attacks (ALIE, IPM, mimic) compute the honest gradients themselves */
		st = pn_faults_corrupt_job(f, &w->fst, out, pn_session_message_len(w->s), w->src,
					   (uint64_t)r->round, model, r->coefs, r->nparts, r->n,
					   f->colluders > 0 ? f->colluders : 1);
	int rc = delay_ms(w->s, pn_faults_delay_ms(f, &w->fst));
	if (rc == 0)
		rc = pn_session_submit(w->s, loss, st < 0 && st >= -4095 ? st : st ? -EIO : 0);
	if (rc || r->serve != PN_SERVE_GRADIENT)
		return rc;
	rc = pn_session_wait(w->s, w->aggregate, -1);
	if (rc == 0 && (rc = w->src->step(w->src->ctx, (uint64_t)r->round, w->aggregate, w->model)) != 0)
		fprintf(stderr, "pennant-worker %d: step of round %lld failed: %s\n", w->cfg->rank,
			(long long)r->round, strerror(-rc));
	if (rc == PN_SESSION_SKIPPED || rc == -ESTALE)
		rc = 0; /* skipped: no step; stale: said, and the job goes on */
	return rc;
}

int pn_worker_run(const pn_worker_config *cfg, const pn_grad_source *src)
{
	worker w = {.cfg = cfg, .src = src};
	pn_faults_init_state(&w.fst, &cfg->faults);
	pn_session_config sc = {.tp = cfg->tp, .connect = cfg->connect, .rank = cfg->rank, .d = src->d,
				.connect_timeout_ms = cfg->connect_timeout_ms,
				.silence_ms = cfg->silence_ms, .verbose = cfg->verbose,
				.comm_dim = cfg->comm_dim,
				.grad_dtype = cfg->grad_dtype, .fallback = cfg->fallback,
				.fallback_rank = cfg->fallback_rank};
	char err[512];
	int rc = pn_session_join(&sc, &w.s, err, sizeof err);
	if (rc)
		return rc; /* said on stderr by the session */
	if (pn_session_comm_dim(w.s) > 1 && pn_byzantine_needs_honest(cfg->faults.byzantine)) {
		fprintf(stderr, "pennant-worker %d: attack %s imitates whole gradients; this job's "
			"messages are 1/%d of one\n", cfg->rank, pn_byzantine_name(cfg->faults.byzantine),
			pn_session_comm_dim(w.s));
		rc = -EINVAL;
	} else if (pn_session_serve(w.s) == PN_SERVE_GRADIENT) {
		w.model = malloc(src->d * sizeof(float));
		w.aggregate = malloc(src->d * sizeof(float));
		if (!src->step || !w.model || !w.aggregate) {
			fprintf(stderr, "pennant-worker %d: %s\n", cfg->rank,
				src->step ? "out of memory"
					  : "the aggregator serves gradients but this worker has no optimizer step");
			rc = -EINVAL;
		}
	}
	while (rc == 0) {
		pn_session_round r;
		rc = pn_session_begin(w.s, &r, w.model, -1);
		if (rc == 0)
			rc = one_round(&w, &r);
	}
	if (rc == PN_SESSION_STOPPED) {
		rc = 0;
		if (cfg->final_model)
			memcpy(cfg->final_model, w.model ? w.model : pn_session_model(w.s), src->d * sizeof(float));
	}
	if (rc && cfg->verbose)
		fprintf(stderr, "pennant-worker %d: stopping: %s\n", cfg->rank, strerror(-rc));
	pn_session_leave(w.s); /* after STOP: once the aggregator has closed its side */
	free(w.model);
	free(w.aggregate);
	free(w.part_grads);
	return rc;
}
