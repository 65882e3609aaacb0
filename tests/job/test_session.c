/* The worker session API (session.h) driven directly, over tcp on loopback: the
 * aggregator runs in a thread of this process, the test drives N sessions from the main
 * thread through join, begin, the gradient slot, submit, wait and leave. Checks the code
 * row each round against the code's own row, the served aggregate (gradient mode) and
 * the served model (model mode) against what they must be, a NaN gradient being
 * flagged, a round with no usable gradient served as skipped, a worker that missed a
 * result resynced to the aggregator's model, STOP ending the job, calls out of order
 * refused, and a streaming worker's PROGRESS: its final prefix read before its READY,
 * nothing past it. */
#include "pennant/codes.h"
#include "pennant/session.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define D 40
#define N 4
#define ROUNDS 5
#define LR 0.5
#define DBIG 32768 /* the streaming test: many chunks per worker at the aggregator */

typedef struct agg_thread {
	pn_agg_job_config cfg;
	pn_agg_job_result res;
	float init[DBIG];
	char addr[128];
	atomic_int listening;
	int rc;
	char err[512];
	pthread_t th;
} agg_thread;

static void on_listen(void *ctx, const char *addr)
{
	agg_thread *a = ctx;
	snprintf(a->addr, sizeof a->addr, "%s", addr);
	atomic_store(&a->listening, 1);
}

static void *agg_main(void *ctx)
{
	agg_thread *a = ctx;
	a->rc = pn_aggregator_run(&a->cfg, &a->res, a->err, sizeof a->err);
	atomic_store(&a->listening, 1); /* (a setup failure must not leave the test waiting) */
	return NULL;
}

/* tp_options: the aggregator's transport options (NULL: defaults) */
static void start_aggregator_dim(agg_thread *a, pn_serve serve, const char *code, int s, const char *rule,
				 size_t d, const char *tp_options)
{
	memset(a, 0, sizeof *a);
	for (size_t k = 0; k < d; k++)
		a->init[k] = (float)k / (float)d;
	a->cfg = (pn_agg_job_config){.tp = {.backend = "tcp", .secret = "session-test", .secret_len = 12},
				     .listen = "127.0.0.1:0", .n = N, .rounds = ROUNDS, .seed = 1,
				     .wait = "all", .deadline_ms = 3000, .pipelining = true, .lr = LR,
				     .accept_timeout_ms = 20000, .serve = serve, .init_model = a->init,
				     .d = d, .on_listen = on_listen, .on_listen_ctx = a};
	a->cfg.tp.options = tp_options;
	pn_agg_config_init(&a->cfg.rule, N, d, (pn_rule)pn_rule_from_name(rule));
	a->cfg.rule.threads = 1;
	a->cfg.code_kind = pn_code_kind_from_name(code);
	a->cfg.s = s;
	cr_assert_eq(pthread_create(&a->th, NULL, agg_main, a), 0);
	while (!atomic_load(&a->listening))
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	cr_assert_eq(a->rc, 0, "aggregator: %s", a->err);
}

static void start_aggregator(agg_thread *a, pn_serve serve, const char *code, int s, const char *rule)
{
	start_aggregator_dim(a, serve, code, s, rule, D, NULL);
}

static void join_all_dim(agg_thread *a, pn_session **s, size_t d)
{
	for (int i = 0; i < N; i++) {
		pn_session_config c = {.tp = {.backend = "tcp", .node_id = (uint32_t)i + 1,
					      .secret = "session-test", .secret_len = 12},
				       .connect = a->addr, .rank = i, .d = d, .connect_timeout_ms = 10000};
		char err[256] = "";
		cr_assert_eq(pn_session_join(&c, &s[i], err, sizeof err), 0, "join %d: %s", i, err);
		cr_assert_eq(pn_session_dim(s[i]), d);
	}
}

static void join_all(agg_thread *a, pn_session **s)
{
	join_all_dim(a, s, D);
}

static void finish(agg_thread *a, pn_session **s)
{
	for (int i = 0; i < N; i++)
		pn_session_leave(s[i]);
	pthread_join(a->th, NULL);
}

/* Partition p's gradient: every coordinate p + 1 (so any decode error shows). */
static void coded_gradient(const pn_session_round *r, float *g)
{
	for (int k = 0; k < D; k++) {
		double v = 0;
		for (int q = 0; q < r->nparts; q++)
			v += r->coefs[q] * (r->parts[q] + 1);
		g[k] = (float)v;
	}
}

Test(session, serving_gradients_each_worker_gets_the_decoded_aggregate_and_steps_itself)
{
	agg_thread a;
	start_aggregator(&a, PN_SERVE_GRADIENT, "fractional", 1, "mean");
	pn_session *s[N];
	join_all(&a, s);
	pn_code_params cp;
	pn_code_params_init(&cp, PN_CODE_FRACTIONAL, N, 1);
	cp.seed = 1;
	pn_code *code = NULL;
	char err[256];
	cr_assert_eq(pn_code_create(&cp, &code, err, sizeof err), 0, "%s", err);
	float own[N][D], agg[D];
	const float want = (N + 1) / 2.0f; /* the average of partitions 1..N's values */
	for (int v = 0; v < ROUNDS; v++) {
		for (int i = 0; i < N; i++) {
			pn_session_round r;
			cr_assert_eq(pn_session_begin(s[i], &r, own[i], 5000), 0, "%s", pn_session_error(s[i]));
			cr_expect_eq(r.round, v);
			cr_expect_eq(r.n, N);
			cr_expect_eq(r.serve, PN_SERVE_GRADIENT);
			cr_expect_eq(pn_session_round_number(s[i]), v);
			int parts[PN_JOB_MAX_PARTS];
			double coefs[PN_JOB_MAX_PARTS];
			int np = pn_code_partitions(code, i, parts, coefs, PN_JOB_MAX_PARTS);
			cr_expect_eq(r.nparts, np, "worker %d: %d partitions, the code says %d", i, r.nparts, np);
			cr_expect_eq(pn_session_round_parts(s[i], NULL, NULL, 0), np);
			for (int q = 0; q < np && q < r.nparts; q++)
				cr_expect(r.parts[q] == parts[q] && r.coefs[q] == coefs[q],
					  "worker %d part %d: (%d, %g) vs the code's (%d, %g)", i, q, r.parts[q],
					  r.coefs[q], parts[q], coefs[q]);
			if (v == 0)
				cr_expect_eq(memcmp(own[i], a.init, D * sizeof(float)), 0,
					     "the first round gives the aggregator's initial model");
			/* worker 0 does not wait for round 1's result: round 2 resyncs it */
			bool resync = v == 0 || (i == 0 && v == 2);
			cr_expect_eq(r.resync, resync, "round %d worker %d: resync %d", v, i, r.resync);
			if (i == 0 && v == 2)
				for (int k = 0; k < D; k++)
					cr_expect(fabsf(own[0][k] - own[1][k]) < 1e-5f,
						  "resynced to the aggregator's model: %g vs %g", own[0][k], own[1][k]);
			float *g = pn_session_gradient(s[i]);
			cr_assert(g != NULL);
			coded_gradient(&r, g);
			cr_assert_eq(pn_session_submit(s[i], 0.5, 0), 0, "%s", pn_session_error(s[i]));
		}
		for (int i = 0; i < N; i++) {
			if (i == 0 && v == 1)
				continue;
			cr_assert_eq(pn_session_wait(s[i], agg, 5000), 0, "%s", pn_session_error(s[i]));
			for (int k = 0; k < D; k++)
				cr_expect(fabsf(agg[k] - want) < 1e-5f, "round %d worker %d: %g, want %g", v, i,
					  agg[k], want);
			for (int k = 0; k < D; k++)
				own[i][k] -= (float)LR * agg[k]; /* the worker's own SGD (no momentum) */
		}
	}
	for (int i = 0; i < N; i++)
		cr_expect_eq(pn_session_begin(s[i], NULL, NULL, 5000), PN_SESSION_STOPPED,
			     "STOP after the last round (%s)", pn_session_error(s[i]));
	finish(&a, s);
	cr_assert_eq(a.rc, 0, "%s", a.err);
	cr_expect_eq(a.res.rounds_done, ROUNDS);
	for (int k = 0; k < D; k++) /* the shadow model went the same way */
		cr_expect(fabsf(a.res.model[k] - own[0][k]) < 1e-5f, "%g vs %g", a.res.model[k], own[0][k]);
	pn_agg_job_result_free(&a.res);
	pn_code_free(code);
}

Test(session, a_nan_gradient_is_flagged_and_a_round_without_usable_gradients_is_skipped)
{
	agg_thread a;
	start_aggregator(&a, PN_SERVE_GRADIENT, "uncoded", 0, "mean");
	pn_session *s[N];
	join_all(&a, s);
	float agg[D];
	for (int v = 0; v < ROUNDS; v++) {
		for (int i = 0; i < N; i++) {
			pn_session_round r;
			cr_assert_eq(pn_session_begin(s[i], &r, NULL, 5000), 0, "%s", pn_session_error(s[i]));
			float *g = pn_session_gradient(s[i]);
			coded_gradient(&r, g);
			/* worker 1 always sends NaN; in round 2 everybody does */
			if (i == 1 || v == 2)
				g[3] = NAN;
			cr_assert_eq(pn_session_submit(s[i], NAN, 0), 0, "%s", pn_session_error(s[i]));
		}
		for (int i = 0; i < N; i++) {
			int rc = pn_session_wait(s[i], agg, 5000);
			if (v == 2) {
				cr_expect_eq(rc, PN_SESSION_SKIPPED, "round 2 has no usable gradient: %d", rc);
			} else {
				cr_expect_eq(rc, 0, "%s", pn_session_error(s[i]));
				for (int k = 0; k < D; k++)
					cr_expect(isfinite(agg[k]) && agg[k] > 0, "%g", agg[k]);
			}
		}
	}
	for (int i = 0; i < N; i++)
		cr_expect_eq(pn_session_begin(s[i], NULL, NULL, 5000), PN_SESSION_STOPPED);
	finish(&a, s);
	cr_assert_eq(a.rc, 0, "%s", a.err);
	cr_expect_eq(a.res.rounds_skipped, 1);
	cr_expect_eq(a.res.flagged[1], ROUNDS, "the NaN worker is flagged every round (%d)", a.res.flagged[1]);
	cr_expect_eq(a.res.flagged[0], 1, "the others only in the all-NaN round (%d)", a.res.flagged[0]);
	pn_agg_job_result_free(&a.res);
}

Test(session, serving_the_model_begin_and_wait_give_the_aggregators_models)
{
	agg_thread a;
	start_aggregator(&a, PN_SERVE_MODEL, "uncoded", 0, "mean");
	pn_session *s[N];
	join_all(&a, s);
	cr_expect_eq(pn_session_submit(s[0], 0, 0), -EPROTO, "submit before begin is refused");
	cr_expect_eq(pn_session_wait(s[0], NULL, 0), -EPROTO, "wait before submit is refused");
	float model[N][D], next[D], expect[D];
	memcpy(expect, a.init, sizeof expect);
	for (int v = 0; v < ROUNDS; v++) {
		for (int i = 0; i < N; i++) {
			pn_session_round r;
			cr_assert_eq(pn_session_begin(s[i], &r, model[i], 5000), 0, "%s", pn_session_error(s[i]));
			cr_expect_eq(r.serve, PN_SERVE_MODEL);
			cr_expect_eq(memcmp(model[i], pn_session_model(s[i]), sizeof model[i]), 0);
			for (int k = 0; k < D; k++)
				cr_expect(fabsf(model[i][k] - expect[k]) < 1e-5f, "round %d: %g vs %g", v,
					  model[i][k], expect[k]);
			if (i == 0 && v == 0)
				cr_expect_eq(pn_session_begin(s[0], NULL, NULL, 0), -EPROTO, "a second begin is refused");
			coded_gradient(&r, pn_session_gradient(s[i]));
			cr_assert_eq(pn_session_submit(s[i], 0.1, 0), 0, "%s", pn_session_error(s[i]));
		}
		/* uncoded mean: the average of 1..N, one SGD step */
		for (int k = 0; k < D; k++)
			expect[k] -= (float)LR * (N + 1) / 2.0f;
		for (int i = 0; i < N; i++) {
			int rc = pn_session_wait(s[i], next, 5000);
			if (v < ROUNDS - 1) {
				cr_expect_eq(rc, 0, "%s", pn_session_error(s[i]));
				for (int k = 0; k < D; k++)
					cr_expect(fabsf(next[k] - expect[k]) < 1e-5f, "model %d: %g vs %g", v + 1,
						  next[k], expect[k]);
			} else {
				cr_expect_eq(rc, PN_SESSION_STOPPED, "after the last round the job ends: %d", rc);
			}
		}
	}
	finish(&a, s);
	cr_assert_eq(a.rc, 0, "%s", a.err);
	for (int k = 0; k < D; k++)
		cr_expect(fabsf(a.res.model[k] - expect[k]) < 1e-5f);
	pn_agg_job_result_free(&a.res);
}

Test(session, the_ctypes_constructor_takes_the_token_from_the_environment)
{
	agg_thread a;
	start_aggregator(&a, PN_SERVE_GRADIENT, "uncoded", 0, "mean");
	pn_session *s[N] = {0};
	char err[256] = "";
	unsetenv("PENNANT_JOB_TOKEN");
	cr_expect_eq(pn_session_join_simple("tcp", a.addr, 0, D, NULL, 2000, &s[0], err, sizeof err),
		     -EINVAL, "no token: refused before connecting");
	cr_expect(strstr(err, "PENNANT_JOB_TOKEN") != NULL, "%s", err);
	cr_expect(s[0] == NULL);
	setenv("PENNANT_JOB_TOKEN", "wrong-token", 1);
	int rc = pn_session_join_simple("tcp", a.addr, 0, D, NULL, 2000, &s[0], err, sizeof err);
	cr_expect(rc != 0 && s[0] == NULL, "a wrong token is refused (%d)", rc);
	setenv("PENNANT_JOB_TOKEN", "session-test", 1);
	for (int i = 0; i < N; i++)
		cr_assert_eq(pn_session_join_simple("tcp", a.addr, i, D, NULL, 10000, &s[i], err, sizeof err), 0,
			     "%s", err);
	cr_expect_eq(pn_session_serve(s[0]), PN_SERVE_GRADIENT);
	cr_expect_eq(pn_session_workers(s[0]), N);
	cr_expect(pn_session_heartbeat_ms(s[0]) > 0 && pn_session_silence_ms(s[0]) > pn_session_heartbeat_ms(s[0]));
	for (int v = 0; v < ROUNDS; v++) {
		for (int i = 0; i < N; i++) {
			pn_session_round r;
			cr_assert_eq(pn_session_begin(s[i], &r, NULL, 5000), 0);
			coded_gradient(&r, pn_session_gradient(s[i]));
			cr_assert_eq(pn_session_poll(s[i]), 0);
			cr_assert_eq(pn_session_submit(s[i], 0, 0), 0);
		}
		for (int i = 0; i < N; i++)
			cr_assert_eq(pn_session_wait(s[i], NULL, 5000), 0, "%s", pn_session_error(s[i]));
	}
	for (int i = 0; i < N; i++)
		cr_expect_eq(pn_session_begin(s[i], NULL, NULL, 5000), PN_SESSION_STOPPED);
	cr_expect_eq(pn_session_poll(s[0]), PN_SESSION_STOPPED);
	finish(&a, s);
	cr_expect_eq(a.rc, 0, "%s", a.err);
	pn_agg_job_result_free(&a.res);
	unsetenv("PENNANT_JOB_TOKEN");
}

/* Worker 0 streams, as a sum node does: it says PROGRESS for the first half of its slot,
 * keeps NaN in the second half for 150 ms while every session keeps polling (serving the
 * aggregator's reads), then writes the second half and says READY. The aggregator reads
 * the prefix before the READY (counted) and nothing past it: a NaN read would flag the
 * worker and change the model, which must be the plain mean's every round. */
Test(session, a_progress_prefix_is_read_before_ready_and_nothing_past_it)
{
	agg_thread *a = calloc(1, sizeof *a);
	/* 16 KiB pieces: the aggregator pulls 8 chunks of each worker, 4 inside the prefix */
	start_aggregator_dim(a, PN_SERVE_MODEL, "uncoded", 0, "mean", DBIG, "piece=16K");
	pn_session *s[N];
	join_all_dim(a, s, DBIG);
	cr_expect_eq(pn_session_progress(s[0], 10), -EPROTO, "progress before begin is refused");
	static float model[DBIG], expect[DBIG];
	memcpy(expect, a->init, sizeof expect);
	const size_t half = DBIG / 2;
	for (int v = 0; v < ROUNDS; v++) {
		for (int i = 0; i < N; i++) {
			pn_session_round r;
			cr_assert_eq(pn_session_begin(s[i], &r, model, 5000), 0, "%s", pn_session_error(s[i]));
			for (size_t k = 0; k < DBIG; k += 997)
				cr_expect(fabsf(model[k] - expect[k]) < 1e-4f, "round %d: %g vs %g", v, model[k],
					  expect[k]);
			float *g = pn_session_gradient(s[i]);
			for (size_t k = 0; k < DBIG; k++)
				g[k] = i == 0 && k >= half ? NAN : (float)(i + 1);
			if (i == 0) {
				cr_expect_eq(pn_session_progress(s[0], DBIG + 1), -EINVAL, "past the slot");
				cr_assert_eq(pn_session_progress(s[0], half), 0, "%s", pn_session_error(s[0]));
			} else {
				cr_assert_eq(pn_session_submit(s[i], 0.1, 0), 0, "%s", pn_session_error(s[i]));
			}
		}
		struct timespec t0, t;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			for (int i = 0; i < N; i++)
				cr_assert_geq(pn_session_poll(s[i]), 0, "%s", pn_session_error(s[i]));
			nanosleep(&(struct timespec){.tv_nsec = 200000}, NULL);
			clock_gettime(CLOCK_MONOTONIC, &t);
		} while ((t.tv_sec - t0.tv_sec) * 1e3 + (t.tv_nsec - t0.tv_nsec) / 1e6 < 150);
		float *g = pn_session_gradient(s[0]);
		for (size_t k = half; k < DBIG; k++)
			g[k] = 1.0f;
		cr_assert_eq(pn_session_submit(s[0], 0.1, 0), 0, "%s", pn_session_error(s[0]));
		cr_expect_eq(pn_session_progress(s[0], half), -EPROTO, "progress after submit is refused");
		for (size_t k = 0; k < DBIG; k++)
			expect[k] -= (float)LR * (N + 1) / 2.0f;
		for (int i = 0; i < N; i++)
			cr_assert_geq(pn_session_wait(s[i], NULL, 5000), 0, "%s", pn_session_error(s[i]));
	}
	finish(a, s);
	cr_assert_eq(a->rc, 0, "%s", a->err);
	cr_expect_eq(a->res.flagged[0], 0, "worker 0's NaN half was never read");
	for (size_t k = 0; k < DBIG; k++)
		cr_assert(fabsf(a->res.model[k] - expect[k]) < 1e-4f, "coordinate %zu: %g vs %g", k,
			  a->res.model[k], expect[k]);
	/* the aggregator's chunks of worker 0 inside the prefix, each read once a round */
	cr_expect_gt(a->res.reads_before_ready, 0, "the prefix was read before READY");
	cr_expect_leq(a->res.reads_before_ready, ROUNDS * 4, "no chunk past the prefix before READY");
	cr_log_info("reads before READY: %llu over %d rounds\n", (unsigned long long)a->res.reads_before_ready,
		    ROUNDS);
	pn_agg_job_result_free(&a->res);
	free(a);
}
