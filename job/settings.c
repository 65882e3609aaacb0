/* A job configuration settled before anything is opened: the rule the engine runs, the
 * code, the wait and pull policies and the liveness timers, each checked for what would
 * otherwise only show once the job runs (a rule that needs more workers than a round may
 * have, a code whose rows a robust rule cannot use, an unknown policy name). The public
 * check, pn_agg_job_config_check, is this function keeping nothing; pn_aggregator_run
 * calls it first and keeps what it settled. */
#include "job/aggregator_internal.h"
#include "agg/agg_internal.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

/* The job's `mean` is the average of the n partition gradients, which over coded rows is
 * the code's decode: the engine runs it as the fixed-weights rule (`weighted`) and the
 * decode gives the weights at finish. Every other rule runs as itself. */
static pn_rule engine_rule(pn_rule configured)
{
	return configured == PN_RULE_MEAN ? PN_RULE_WEIGHTED : configured;
}

static int settle_rule(const pn_agg_job_config *c, pn_job_settings *s, char *err, size_t errlen)
{
	s->engine = c->rule;
	s->engine.p = c->n;
	s->engine.d = c->d > 0 ? c->d : 1; /* no rule depends on d; the model is checked at run */
	s->engine.rule = engine_rule(c->rule.rule);
	s->engine.flag_rescale = 1;
	const pn_rule_desc *desc = pn_rule_desc_get((int)s->engine.rule);
	char e[256];
	if (!desc || pn_agg_config_check(&s->engine, e, sizeof e)) {
		pn_errf(err, errlen, "rule %s: %s", pn_rule_name(c->rule.rule),
			desc ? e : "unknown rule");
		return -EINVAL;
	}
	/* A rule with the caller's weights (the decode) combines any rows; a rule that picks
	 * its own weights compares rows, so each must estimate the same thing. */
	s->robust = desc->kind != PN_KIND_FIXED;
	s->gram = desc->kind == PN_KIND_GRAM;
	return 0;
}

/* Every round has at most n usable workers, and n - s when the code lets s go (s < n:
 * the code exists). */
static int settle_workers(const pn_agg_job_config *c, pn_job_settings *s, char *err, size_t errlen)
{
	const pn_rule_desc *desc = pn_rule_desc_get((int)s->engine.rule);
	int need = desc->min_workers(&s->engine), fewest = c->n - (c->s > 0 ? c->s : 0);
	if (fewest < need) {
		pn_errf(err, errlen,
			"rule %s cannot aggregate the %d workers a round may have (%d workers, %d "
			"stragglers let go): %s needs p >= %s usable workers (f=%d: at least %d)",
			pn_rule_name(c->rule.rule), c->n < need ? c->n : fewest, c->n, c->s, desc->name,
			desc->min_workers_text, c->rule.f, need);
		return -EINVAL;
	}
	return 0;
}

static int settle_code(const pn_agg_job_config *c, pn_job_settings *s, char *err, size_t errlen)
{
	pn_code_params cp;
	pn_code_params_init(&cp, (pn_code_kind)c->code_kind, c->n, c->s);
	cp.seed = c->seed;
	cp.comm_dim = c->comm_dim;
	char e[256];
	int rc = pn_code_create(&cp, &s->code, e, sizeof e);
	if (rc) {
		pn_errf(err, errlen, "code %s with s=%d and %d workers: %s",
			pn_code_kind_name((pn_code_kind)c->code_kind), c->s, c->n, e);
		return rc;
	}
	int m = pn_code_comm_dim(s->code), load = pn_code_partitions(s->code, 0, NULL, NULL, 0);
	if (s->robust && m > 1) {
		pn_errf(err, errlen,
			"rule %s compares the workers' gradients, but with %s each worker sends a "
			"1/%d-dimensional mix of different coordinates of its partitions, which "
			"estimates nothing: use rule mean with it", pn_rule_name(c->rule.rule),
			pn_code_describe(s->code), m);
		return -EINVAL;
	}
	if (m > 1 && c->rule.grad_dtype != PN_DTYPE_F32) {
		/* job/decode.c combines the landing rows as float32 blocks */
		pn_errf(err, errlen, "code %s combines float32 messages; --grad-dtype %s needs another "
			"code (or f32)", pn_code_describe(s->code), pn_dtype_name(c->rule.grad_dtype));
		return -EINVAL;
	}
	if (load > PN_JOB_MAX_PARTS) {
		pn_errf(err, errlen, "code %s gives each worker %d partitions; a ROUND names at most %d",
			pn_code_describe(s->code), load, PN_JOB_MAX_PARTS);
		return -EINVAL;
	}
	if (s->robust && !pn_code_rows_are_estimates(s->code)) {
		pn_errf(err, errlen,
			"rule %s needs a code whose rows are gradient estimates (uncoded, fractional, "
			"expander, bibd); %s rows mix partitions with signed coefficients: use rule "
			"mean with it", pn_rule_name(c->rule.rule), pn_code_describe(s->code));
		return -EINVAL;
	}
	return 0;
}

static int settle_policies(const pn_agg_job_config *c, pn_job_settings *s, char *err, size_t errlen)
{
	int mode = pn_wait_mode_from_name(c->wait ? c->wait : "code");
	if (mode < 0) {
		pn_errf(err, errlen, "unknown wait policy '%s' (all, code, deadline)", c->wait);
		return -EINVAL;
	}
	s->wait.mode = (pn_wait_mode)mode;
	s->wait.deadline = c->deadline_ms / 1e3;
	char e[256];
	int rc = pn_straggler_check(&s->wait, c->n, e, sizeof e);
	if (rc) {
		pn_errf(err, errlen, "%s", e);
		return rc;
	}
	s->pull = pn_pull_policy_by_name(c->pull_policy ? c->pull_policy : "round-robin");
	if (!s->pull) {
		pn_errf(err, errlen, "unknown pull policy '%s' (round-robin, earliest-ready, "
			"layer-priority)", c->pull_policy);
		return -EINVAL;
	}
	s->heartbeat_s = (c->heartbeat_ms > 0 ? c->heartbeat_ms : 1000) / 1e3;
	s->silence_s = (c->silence_ms > 0 ? c->silence_ms : 5000) / 1e3;
	if (s->silence_s <= s->heartbeat_s || s->silence_s * 1e3 > PN_JOB_MAX_TIMER_MS) {
		pn_errf(err, errlen, "silence limit (%.0f ms) must exceed the heartbeat (%.0f ms), at most a day",
			s->silence_s * 1e3, s->heartbeat_s * 1e3);
		return -EINVAL;
	}
	if (c->serve != PN_SERVE_MODEL && c->serve != PN_SERVE_GRADIENT) {
		pn_errf(err, errlen, "unknown serve mode %d (model, gradient)", (int)c->serve);
		return -EINVAL;
	}
	return 0;
}

/* A sharded job (pennant/shard.h): one decision across shards waits for every worker,
 * and the shards serve the model (the first network version of it). */
static int settle_shards(const pn_agg_job_config *c, char *err, size_t errlen)
{
	int K = c->shard.count, k = c->shard.index;
	if (K <= 1 && k == 0)
		return 0;
	if (K < 1 || K > PN_SHARD_MAX || k < 0 || k >= K)
		return pn_fail(err, errlen, -EINVAL, "shard %d of %d: need 0 <= index < count <= %d", k, K,
			       PN_SHARD_MAX);
	if (!c->wait || strcmp(c->wait, "all") != 0)
		return pn_fail(err, errlen, -EINVAL, "a sharded job needs wait=all (one decision across "
			       "shards waits for every worker); got wait=%s", c->wait ? c->wait : "code");
	if (c->serve != PN_SERVE_MODEL)
		return pn_fail(err, errlen, -EINVAL, "a sharded job serves the model, not gradients");
	if (c->comm_dim > 1)
		return pn_fail(err, errlen, -EINVAL, "a sharded job sends whole gradients (comm_dim %d)",
			       c->comm_dim);
	if (k > 0 && (!c->shard.shard0 || !*c->shard.shard0))
		return pn_fail(err, errlen, -EINVAL, "shard %d needs shard 0's address", k);
	return 0;
}

int pn_job_settle(const pn_agg_job_config *c, pn_job_settings *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	if (!c || c->n < 1 || c->n > PN_JOB_MAX_WORKERS) {
		pn_errf(err, errlen, "need 1 <= n <= %d workers", PN_JOB_MAX_WORKERS);
		return -EINVAL;
	}
	if (c->tree_nodes < 0 || (c->tree_nodes > 0 && (c->leaves < c->tree_nodes ||
	    c->leaves % c->tree_nodes != 0 || c->n != c->tree_nodes + c->leaves))) {
		pn_errf(err, errlen, "a tree of %d nodes with bypass slots needs the leaves a multiple of the "
			"nodes and n = nodes + leaves (got %d leaves, n = %d)", c->tree_nodes, c->leaves, c->n);
		return -EINVAL;
	}
	if (c->tree_nodes == 0 && c->leaves != 0 && (c->leaves < c->n || c->leaves > PN_JOB_MAX_WORKERS)) {
		pn_errf(err, errlen, "%d leaves behind %d peers: need n <= leaves <= %d", c->leaves, c->n,
			PN_JOB_MAX_WORKERS);
		return -EINVAL;
	}
	int rc = settle_rule(c, s, err, errlen);
	/* a tree's peers serve sums of several workers: only the uncoded mean counts them right */
	bool tree = c->tree_nodes > 0 || c->leaves > c->n;
	if (rc == 0 && tree && (s->robust || c->code_kind != PN_CODE_UNCODED)) {
		pn_errf(err, errlen, "%d peers serving sums of %d workers (a tree) need the uncoded mean",
			c->n, c->leaves);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = settle_code(c, s, err, errlen);
	if (rc == 0)
		rc = settle_workers(c, s, err, errlen);
	if (rc == 0)
		rc = settle_policies(c, s, err, errlen);
	if (rc == 0)
		rc = settle_shards(c, err, errlen);
	if (rc) {
		pn_code_free(s->code);
		s->code = NULL;
	}
	return rc;
}

int pn_agg_job_config_check(const pn_agg_job_config *cfg, char *err, size_t errlen)
{
	pn_job_settings s;
	int rc = pn_job_settle(cfg, &s, err, errlen);
	pn_code_free(s.code);
	return rc;
}
