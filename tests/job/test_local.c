/* Whole jobs on one host over tcp (aggregator here, workers forked by pn_run_local):
 * a stop request abandons the round in progress and every worker exits 0; a step that
 * would make the model non-finite is skipped and reported, never taken. */
#include "pennant/codes.h"
#include "pennant/job.h"
#include "pennant/train.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define D 64
#define N 4

/* Shared with the forked workers (MAP_SHARED): lets worker 0 raise the stop flag from
 * inside a round, so the aggregator sees it while it is pulling. */
typedef struct shared {
	volatile sig_atomic_t stop;
	int64_t stop_in_round;
} shared;

typedef struct test_job {
	shared *sh;
	float grad_value;        /* 0: a quadratic's gradient; else this constant */
	int bad_rank;            /* this worker applies `attack` (-1: none) */
	pn_byzantine attack;
	float last_model[D];
	int64_t last_round;
	int rounds_seen, skipped_seen;
	int nonfinite_sum, disagreeing_sum, byzantine_used_sum;
	double residual_max;
	const char *last_reason;
} test_job;

static int compute(void *ctx, uint64_t round, const float *model, const int *parts,
		   const double *coefs, int nparts, float *out, double *loss)
{
	test_job *t = ctx;
	if (t->sh && (int64_t)round == t->sh->stop_in_round && parts[0] == 0)
		t->sh->stop = 1;
	double c = 0;
	for (int k = 0; k < nparts; k++)
		c += coefs[k];
	*loss = 0;
	for (int k = 0; k < D; k++) {
		float g = t->grad_value != 0 ? t->grad_value : model[k] - 1.0f;
		out[k] = (float)c * g;
		*loss += 0.5 * (double)(model[k] - 1.0f) * (model[k] - 1.0f);
	}
	return 0;
}

static int worker_main(void *ctx, int rank, const char *addr)
{
	pn_grad_source src = {.ctx = ctx, .d = D, .compute = compute};
	pn_worker_config wc = {.tp = {.backend = "tcp", .node_id = (uint32_t)rank + 1,
				      .secret = "test-secret", .secret_len = 11},
			       .connect = addr, .rank = rank, .connect_timeout_ms = 20000};
	wc.faults.exit_at_round = -1;
	const test_job *t = ctx;
	if (t->bad_rank == rank)
		wc.faults.byzantine = t->attack;
	return pn_worker_run(&wc, &src) == 0 ? 0 : 1;
}

static void on_round(void *ctx, const float *model, pn_round_record *rec)
{
	test_job *t = ctx;
	memcpy(t->last_model, model, sizeof t->last_model);
	t->last_round = rec->round;
	t->rounds_seen++;
	t->skipped_seen += rec->skipped;
	t->nonfinite_sum += rec->nonfinite;
	t->disagreeing_sum += rec->disagreeing;
	t->byzantine_used_sum += rec->byzantine_used;
	if (rec->decode_residual > t->residual_max)
		t->residual_max = rec->decode_residual;
	if (rec->skipped)
		t->last_reason = rec->skip_reason;
}

static pn_agg_job_config config_n(test_job *t, const float *init, const char *rule_name, int n)
{
	pn_agg_job_config c = {.tp = {.backend = "tcp", .node_id = 0,
				      .secret = "test-secret", .secret_len = 11},
			       .listen = "127.0.0.1:0", .n = n, .rounds = 20, .seed = 1, .wait = "all",
			       .deadline_ms = 2000, .pipelining = true, .lr = 0.1, .momentum = 0.9,
			       .accept_timeout_ms = 20000, .on_round = on_round, .on_round_ctx = t,
			       .init_model = init, .d = D};
	pn_agg_config_init(&c.rule, n, D, (pn_rule)pn_rule_from_name(rule_name));
	c.rule.threads = 1;
	c.code_kind = pn_code_kind_from_name("uncoded");
	return c;
}

static pn_agg_job_config config(test_job *t, const float *init, const char *rule_name)
{
	return config_n(t, init, rule_name, N);
}

Test(job_local, stop_request_abandons_the_round_and_every_worker_exits_0)
{
	shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert(sh != MAP_FAILED);
	sh->stop = 0;
	sh->stop_in_round = 5;
	test_job t = {.sh = sh, .last_round = -1, .bad_rank = -1};
	float init[D] = {0};
	pn_agg_job_config c = config(&t, init, "mean");
	c.stop_requested = &sh->stop;
	pn_agg_job_result res;
	int bad = -1;
	char err[512] = "";
	int rc = pn_run_local(&c, worker_main, &t, &res, &bad, err, sizeof err);
	cr_expect_eq(rc, -EINTR, "rc %d: %s", rc, err);
	cr_expect(strstr(err, "stopped") != NULL, "%s", err);
	/* worker 0 raised the flag while computing round 5: rounds 0..4 are complete, round 5
	 * was abandoned while its gradients were being pulled */
	cr_expect_eq(res.rounds_done, 5);
	cr_expect_eq(t.last_round, 4);
	cr_assert(res.model && res.trust && res.flagged && res.straggled && res.gone_at);
	cr_expect_eq(memcmp(res.model, t.last_model, sizeof t.last_model), 0,
		     "the result is the last completed round's model");
	cr_expect(fabsf(res.model[0] - 1.0f) < 0.9f, "it trained towards 1: %g", res.model[0]);
	for (int i = 0; i < N; i++)
		cr_expect_eq(res.gone_at[i], -1, "worker %d stayed until STOP", i);
	cr_expect_eq(bad, 0, "every worker exited 0 after STOP (%d did not)", bad);
	pn_agg_job_result_free(&res);
	munmap(sh, sizeof *sh);
}

Test(job_local, a_step_that_would_overflow_is_skipped_and_the_model_stays_finite)
{
	for (int r = 0; r < 2; r++) {
		const char *rule = r ? "median" : "mean";
		test_job t = {.grad_value = FLT_MAX / 2, .last_round = -1, .bad_rank = -1};
		float init[D] = {0};
		pn_agg_job_config c = config(&t, init, rule);
		c.rounds = 6;
		c.lr = 1.0;
		pn_agg_job_result res;
		int bad = -1;
		char err[512] = "";
		int rc = pn_run_local(&c, worker_main, &t, &res, &bad, err, sizeof err);
		cr_expect_eq(rc, 0, "%s: %s", rule, err);
		cr_expect_eq(res.rounds_done, 6);
		/* round 0 steps to -FLT_MAX/2; from round 1 on, momentum would carry the
		 * velocity past FLT_MAX: every such step is refused */
		cr_expect_eq(res.rounds_skipped, 5, "%s: %lld skipped", rule, (long long)res.rounds_skipped);
		cr_expect_eq(t.skipped_seen, 5);
		cr_expect(t.last_reason && strstr(t.last_reason, "finite"), "%s: reason %s", rule,
			  t.last_reason ? t.last_reason : "(none)");
		bool finite = true;
		for (int k = 0; k < D; k++)
			finite &= isfinite(res.model[k]) && isfinite(t.last_model[k]);
		cr_expect(finite, "%s: the model stays finite", rule);
		cr_expect_lt(res.model[0], -FLT_MAX / 4, "%s: round 0's step was taken", rule);
		cr_expect_eq(bad, 0);
		pn_agg_job_result_free(&res);
	}
}

/* The mean is the code's decode run by the engine: a worker whose gradient holds NaN is
 * found by the engine as it lands (no separate pre-check), flagged every round and left
 * out; the others' decode drives the step. Uncoded, 3 of 4 usable: a = 1 on them, so the
 * direction is (1/4)·3·(w - 1), with residual 1 (one partition missing). */
Test(job_local, the_mean_leaves_out_a_nan_worker_found_by_the_engine)
{
	test_job t = {.last_round = -1, .bad_rank = 2, .attack = PN_BYZ_NAN};
	float init[D] = {0};
	bool byz[N] = {false, false, true, false};
	pn_agg_job_config c = config(&t, init, "mean");
	c.byzantine_ranks = byz;
	pn_agg_job_result res;
	int bad = -1;
	char err[512] = "";
	int rc = pn_run_local(&c, worker_main, &t, &res, &bad, err, sizeof err);
	cr_assert_eq(rc, 0, "%s", err);
	cr_expect_eq(res.rounds_done, 20);
	cr_expect_eq(res.rounds_skipped, 0, "every round steps without the NaN worker");
	cr_expect_eq(t.nonfinite_sum, 20, "one non-finite worker per round (%d)", t.nonfinite_sum);
	cr_expect_eq(t.byzantine_used_sum, 0);
	cr_expect_float_eq(t.residual_max, 1.0, 1e-9, "the missing partition: residual %g", t.residual_max);
	cr_expect_eq(res.flagged[2], 20);
	cr_expect_lt(res.trust[2], 0.02, "trust of the NaN worker decays: %g", res.trust[2]);
	for (int i = 0; i < N; i++)
		if (i != 2) {
			cr_expect_eq(res.flagged[i], 0);
			cr_expect_float_eq(res.trust[i], 1.0, 1e-12);
		}
	/* the same trajectory on the host: SGD with momentum along 0.75·(w - 1) */
	pn_sgd sgd = {.lr = c.lr, .momentum = c.momentum, .weight_decay = c.weight_decay};
	float w[D] = {0}, v[D] = {0}, g[D];
	for (int r = 0; r < 20; r++) {
		for (int k = 0; k < D; k++)
			g[k] = 0.75f * (w[k] - 1.0f);
		pn_sgd_step(&sgd, w, v, g, D);
	}
	for (int k = 0; k < D; k++)
		cr_expect_float_eq(res.model[k], w[k], 1e-5, "coordinate %d: %g vs %g", k, res.model[k], w[k]);
	cr_expect_eq(bad, 0);
	pn_agg_job_result_free(&res);
}

/* Fractional repetition with the mean: replicas that disagree with their group's
 * majority are left out before the decode, which then still has every partition: the
 * model is the one of a run without the fault. A NaN replica is non-finite (found by the
 * engine first), not "disagreeing": the replica check sees only finite rows. */
Test(job_local, the_mean_with_fractional_replicas_drops_the_odd_one_out)
{
	enum { NF = 6 };
	float init[D] = {0}, honest[D];
	for (int run = 0; run < 3; run++) {
		pn_byzantine attack = run == 0 ? PN_BYZ_NONE : run == 1 ? PN_BYZ_SCALED : PN_BYZ_NAN;
		test_job t = {.last_round = -1, .bad_rank = run ? 1 : -1, .attack = attack};
		pn_agg_job_config c = config_n(&t, init, "mean", NF);
		c.code_kind = PN_CODE_FRACTIONAL;
		c.s = 2; /* two groups of three replicas */
		c.rounds = 10;
		pn_agg_job_result res;
		int bad = -1;
		char err[512] = "";
		int rc = pn_run_local(&c, worker_main, &t, &res, &bad, err, sizeof err);
		cr_assert_eq(rc, 0, "run %d: %s", run, err);
		cr_expect_eq(res.rounds_skipped, 0, "run %d", run);
		cr_expect_lt(t.residual_max, 1e-9, "run %d: exact decode (%g)", run, t.residual_max);
		cr_expect_eq(t.disagreeing_sum, run == 1 ? 10 : 0, "run %d: %d", run, t.disagreeing_sum);
		cr_expect_eq(t.nonfinite_sum, run == 2 ? 10 : 0, "run %d: %d", run, t.nonfinite_sum);
		cr_expect_eq(res.flagged[1], run ? 10 : 0, "run %d", run);
		if (run == 0)
			memcpy(honest, res.model, sizeof honest);
		else
			for (int k = 0; k < D; k++)
				cr_expect_float_eq(res.model[k], honest[k], 1e-6, "run %d, coordinate %d", run, k);
		cr_expect_eq(bad, 0);
		pn_agg_job_result_free(&res);
	}
}
