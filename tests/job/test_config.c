/* pn_agg_job_config_check: what the aggregator would otherwise find only once it runs is
 * refused up front, with a one-line reason; what runs is accepted. pn_aggregator_run
 * gives the same answer before it opens anything, and pn_run_local before it forks. */
#include "pennant/codes.h"
#include "pennant/job.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

static pn_agg_job_config base(int n, int s, const char *rule, const char *code)
{
	pn_agg_job_config c = {.n = n, .s = s, .seed = 1, .wait = "code", .deadline_ms = 1000,
			       .pull_policy = "round-robin"};
	pn_agg_config_init(&c.rule, n, 0, (pn_rule)pn_rule_from_name(rule));
	c.code_kind = pn_code_kind_from_name(code);
	return c;
}

static void expect_refused(const pn_agg_job_config *c, const char *want)
{
	char err[512] = "";
	int rc = pn_agg_job_config_check(c, err, sizeof err);
	cr_expect_eq(rc, -EINVAL, "refused (rc %d, err '%s'), wanted '%s'", rc, err, want);
	cr_expect(strstr(err, want) != NULL, "'%s' says '%s'", err, want);
	cr_expect(strchr(err, '\n') == NULL, "one line: '%s'", err);
}

static void expect_accepted(const pn_agg_job_config *c)
{
	char err[512] = "";
	int rc = pn_agg_job_config_check(c, err, sizeof err);
	cr_expect_eq(rc, 0, "accepted: %s", err);
}

Test(job_config, what_runs_is_accepted)
{
	pn_agg_job_config c = base(15, 2, "flag", "fractional");
	expect_accepted(&c);
	c = base(9, 2, "krum", "uncoded");
	c.rule.f = 2; /* 2f+3 = 7 = n - s */
	expect_accepted(&c);
	c = base(6, 2, "mean", "cyclic"); /* the decode takes any code */
	expect_accepted(&c);
	c = base(6, 2, "weighted", "cyclic"); /* the same: the decode's weights */
	expect_accepted(&c);
	c = base(4, 0, "median", "uncoded");
	c.wait = NULL, c.pull_policy = NULL; /* defaults: code, round-robin */
	c.heartbeat_ms = 200, c.silence_ms = 1000;
	expect_accepted(&c);
}

Test(job_config, a_rule_needs_its_workers_in_every_round)
{
	pn_agg_job_config c = base(6, 2, "krum", "fractional");
	c.rule.f = 2;
	expect_refused(&c, "krum needs p >= 2f+3");
	expect_refused(&c, "the 6 workers"); /* already too few when all finish */
	c = base(15, 2, "bulyan", "fractional");
	c.rule.f = 3; /* 4f+3 = 15: all 15 are enough, the 13 left after 2 stragglers are not */
	expect_refused(&c, "bulyan needs p >= 4f+3");
	expect_refused(&c, "the 13 workers");
	c.s = 0, c.code_kind = PN_CODE_UNCODED;
	expect_accepted(&c);
}

Test(job_config, the_rule_and_its_parameters)
{
	pn_agg_job_config c = base(6, 2, "flag", "fractional");
	c.rule.rule = (pn_rule)99;
	expect_refused(&c, "unknown rule");
	c = base(6, 2, "krum", "fractional");
	c.rule.f = 6;
	expect_refused(&c, "f=6");
	c = base(6, 2, "trimmed-mean", "fractional");
	c.rule.beta = 0.7;
	expect_refused(&c, "beta");
}

Test(job_config, the_code_exists_and_a_robust_rule_can_use_its_rows)
{
	pn_agg_job_config c = base(2, 2, "flag", "uncoded");
	expect_refused(&c, "s < n");
	c = base(6, 2, "flag", "cyclic");
	expect_refused(&c, "gradient estimates");
	c = base(6, 2, "median", "gcdc");
	expect_refused(&c, "gradient estimates");
	c = base(7, 1, "flag", "fractional"); /* (s+1) must divide n */
	char err[256] = "";
	cr_expect_neq(pn_agg_job_config_check(&c, err, sizeof err), 0);
	cr_expect(strstr(err, "fractional") != NULL, "%s", err);
	/* comm-efficient: the mean runs it (m = 2 by default, or comm_dim); s + m <= n; a
	 * robust rule cannot compare messages that mix different coordinates */
	c = base(6, 2, "mean", "comm-efficient");
	expect_accepted(&c);
	c.comm_dim = 4;
	expect_accepted(&c);
	c.comm_dim = 5;
	expect_refused(&c, "s+m <= n");
	c = base(6, 1, "median", "comm-efficient");
	c.comm_dim = 2;
	expect_refused(&c, "use rule mean with it");
	c = base(6, 1, "mean", "cyclic");
	c.comm_dim = 2;
	expect_refused(&c, "needs the comm-efficient code");
	c = base(24, 3, "mean", "comm-efficient"); /* load s + m = 21 partitions */
	c.comm_dim = 18;
	expect_refused(&c, "a ROUND names at most 20");
}

Test(job_config, policies_and_timers)
{
	pn_agg_job_config c = base(6, 2, "mean", "fractional");
	c.wait = "sometimes";
	expect_refused(&c, "unknown wait policy 'sometimes'");
	c = base(6, 2, "mean", "fractional");
	c.wait = "deadline", c.deadline_ms = 0;
	expect_refused(&c, "deadline");
	c = base(6, 2, "mean", "fractional");
	c.pull_policy = "bogus";
	expect_refused(&c, "unknown pull policy 'bogus'");
	c = base(6, 2, "mean", "fractional");
	c.heartbeat_ms = 2000, c.silence_ms = 1000;
	expect_refused(&c, "must exceed the heartbeat");
	c.heartbeat_ms = 1000, c.silence_ms = 2 * 86400000;
	expect_refused(&c, "at most a day");
}

Test(job_config, worker_count)
{
	pn_agg_job_config c = base(6, 0, "mean", "uncoded");
	c.n = 0;
	expect_refused(&c, "workers");
	c.n = 5000;
	expect_refused(&c, "workers");
	char err[64] = "";
	cr_expect_eq(pn_agg_job_config_check(NULL, err, sizeof err), -EINVAL);
}

/* What a run needs besides the rule and code: a loopback listener and a one-round model. */
static void one_small_round(pn_agg_job_config *c)
{
	static const float init[4] = {0};
	c->listen = "127.0.0.1:0";
	c->init_model = init;
	c->d = 4;
	c->rounds = 1;
}

/* The aggregator refuses the same configuration before it opens any transport: the
 * backend named here does not exist, yet the error is the rule's. */
Test(job_config, the_aggregator_checks_first)
{
	pn_agg_job_config c = base(6, 2, "krum", "fractional");
	c.rule.f = 2;
	c.tp.backend = "no-such-backend";
	one_small_round(&c);
	pn_agg_job_result res;
	char err[512] = "";
	int rc = pn_aggregator_run(&c, &res, err, sizeof err);
	cr_expect_eq(rc, -EINVAL, "rc %d: %s", rc, err);
	cr_expect(strstr(err, "krum needs p >= 2f+3") != NULL, "%s", err);
	cr_assert(res.model != NULL, "the model is handed back even after a refusal");
	cr_expect_eq(res.rounds_done, 0);
	pn_agg_job_result_free(&res);
}

static int forks_seen;
static void count_fork(void)
{
	forks_seen++;
}

static int never_runs(void *ctx, int rank, const char *addr)
{
	(void)ctx, (void)rank, (void)addr;
	return 1;
}

/* The local launcher checks before it forks: a refused job starts no worker process. */
Test(job_config, a_refused_local_job_forks_nothing)
{
	cr_assert_eq(pthread_atfork(NULL, count_fork, NULL), 0);
	pn_agg_job_config c = base(6, 2, "flag", "cyclic");
	c.tp.backend = "tcp";
	one_small_round(&c);
	pn_agg_job_result res;
	int bad = -1;
	char err[512] = "";
	forks_seen = 0;
	int rc = pn_run_local(&c, never_runs, NULL, &res, &bad, err, sizeof err);
	cr_expect_eq(rc, -EINVAL, "rc %d: %s", rc, err);
	cr_expect(strstr(err, "gradient estimates") != NULL, "%s", err);
	cr_expect_eq(forks_seen, 0, "%d worker processes forked", forks_seen);
	cr_expect_eq(bad, 0);
	pn_agg_job_result_free(&res);
}

/* A tree (leaves > n, include/pennant/node.h): the peers serve sums, so only the uncoded
 * mean divides them right; leaves below n or beyond the worker limit mean nothing. */
Test(job_config, a_tree_needs_the_uncoded_mean_and_leaves_at_least_its_peers)
{
	pn_agg_job_config c = base(4, 0, "mean", "uncoded");
	c.leaves = 16;
	expect_accepted(&c);
	c.leaves = 4; /* a flat job said twice */
	expect_accepted(&c);
	c.leaves = 3;
	expect_refused(&c, "need n <= leaves");
	c.leaves = 5000;
	expect_refused(&c, "need n <= leaves");
	c = base(4, 0, "median", "uncoded");
	c.leaves = 16;
	expect_refused(&c, "need the uncoded mean");
	c = base(6, 1, "mean", "fractional");
	c.leaves = 12;
	expect_refused(&c, "need the uncoded mean");
}
