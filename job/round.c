/* One round, start to end: reset the job's engine onto this round's landing rows, publish
 * model v, pull until the straggler policy decides, choose the inputs, aggregate through
 * the engine (a robust rule, or the mean as the code's decode), take the guarded step
 * into model v+1, and record what happened. */
#include "job/aggregator_internal.h"
#include "job/cookie.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static int begin_round(pn_job *j)
{
	int64_t v = j->round;
	pn_job_drain_slot(j, v);
	j->cur = j->model + (size_t)pn_job_slot(v) * j->d;
	j->next = j->model + (size_t)pn_job_slot(v + 1) * j->d;
	pn_pull_reset(j->puller);
	pn_job_tree_report_begin(j);
	j->nlanded = 0;
	for (int i = 0; i < j->n; i++) {
		j->finished[i] = false;
		j->failed[i] = !j->w[i].alive;
		j->w[i].ready = false;
	}
	/* The engine reads this round's landing rows in place, chunk by chunk as they land. */
	for (int i = 0; i < j->n; i++)
		j->rows[i] = pn_job_land_row(j, v, i);
	int rc = pn_agg_reset_typed(j->agg, j->rows);
	return rc ? pn_job_fail(j, rc, "aggregation: %s", pn_agg_errmsg(j->agg)) : 0;
}

static int publish(pn_job *j)
{
	for (int i = 0; i < j->n; i++) {
		if (!j->w[i].alive)
			continue;
		pn_job_msg m = {.type = PN_MSG_ROUND, .round = j->round, .slot = pn_job_slot(j->round)};
		int np = pn_job_is_leaf_slot(j, i) ? pn_job_tree_leaf_parts(j, i, m.parts, m.coefs)
						   : pn_code_partitions(j->code, i, m.parts, m.coefs, PN_JOB_MAX_PARTS);
		if (np > PN_JOB_MAX_PARTS)
			return pn_job_fail(j, -E2BIG, "worker %d has %d partitions (max %d)", i, np,
					   PN_JOB_MAX_PARTS);
		m.nparts = np;
		if (pn_job_send(j, i, &m))
			j->failed[i] = true;
	}
	return 0;
}

/* The finished workers take part. A robust rule's inputs are also checked for fractional
 * replicas that disagree with their group's majority here; the decode does the same
 * check on the rows the engine found finite (pn_job_decode_weights). */
static int choose_inputs(pn_job *j, pn_round_record *rec)
{
	int nuse = 0;
	double loss = 0;
	for (int i = 0; i < j->n; i++) {
		bool *use = &j->use[i];
		*use = j->finished[i];
		if (!*use && j->w[i].alive)
			j->w[i].straggled++;
		rec->stragglers += j->w[i].alive && !j->finished[i] && !j->failed[i];
		rec->failed += j->failed[i] && j->w[i].gone_at != -2; /* (a slot never joined: no) */
		if (*use) {
			nuse++;
			loss += j->w[i].loss;
		}
	}
	rec->finished = nuse;
	rec->loss = nuse ? loss / nuse : NAN;
	if (nuse > 0 && j->robust)
		rec->disagreeing = pn_job_check_replicas(j, j->use);
	return nuse;
}

static bool known_byzantine(const pn_job *j, int i)
{
	return j->cfg->byzantine_ranks && j->cfg->byzantine_ranks[i];
}

/* After finish: workers the engine found NaN/Inf in are flagged and judged at share 0;
 * with a robust rule every judged worker's trust follows its share of the weight. */
static void judge(pn_job *j, pn_round_record *rec, const pn_agg_report *rep)
{
	const double *wt = pn_agg_weights(j->agg);
	const int *st = pn_agg_status(j->agg);
	rec->weights = wt;
	double tot = 0;
	for (int i = 0; i < j->n; i++)
		tot += fabs(wt[i]);
	for (int i = 0; i < j->n; i++) {
		bool used = st[i] == PN_AGG_USED, rejected = st[i] == PN_AGG_NONFINITE;
		if (rejected) {
			j->w[i].flagged++;
			pn_job_trust_observe(&j->w[i], 0);
		} else if (j->robust && j->use[i]) {
			pn_job_trust_observe(&j->w[i], tot > 0 && used ? fabs(wt[i]) / tot * rep->used : 0);
		}
		if (known_byzantine(j, i) && used && wt[i] != 0)
			rec->byzantine_used++;
	}
}

/* The round's aggregate into j->out, through the engine whatever the rule: a robust rule
 * picks its weights, the mean takes the code's decode (pn_job_decode_weights). Returns
 * NULL, or why the round is skipped. */
static const char *aggregate(pn_job *j, pn_round_record *rec)
{
	for (int i = 0; i < j->n; i++)
		if (!j->use[i])
			pn_agg_exclude(j->agg, i);
	if (!j->cfg->pipelining)
		for (int k = 0; k < j->nlanded; k++) {
			int i = pn_cookie_worker(j->landed[k]), ch = pn_cookie_chunk(j->landed[k]);
			if (j->use[i])
				pn_agg_landed(j->agg, i, j->plan.chunks[ch].offset, j->plan.chunks[ch].len);
		}
	j->rec = rec;
	pn_job_step_fuse_begin(j, j->row_scale);
	int rc = j->link ? pn_shard_link_finish_round(j, j->out) : pn_agg_finish(j->agg, j->out);
	if (pn_shard_link_check(j))
		return NULL; /* the exchange failed: the job ends (pn_job_run_round) */
	pn_agg_report rep;
	pn_agg_get_report(j->agg, &rep);
	rec->gram_busy_s = rep.t_gram_s;
	rec->solve_combine_s = rep.t_solve_s + rep.t_combine_s;
	rec->drain_s = rep.t_drain_s;
	if (rc == 0 || !j->robust) { /* the decode's inputs are judged even if it then fails */
		rec->nonfinite += rep.nonfinite;
		judge(j, rec, &rep);
	}
	if (rc == 0 && j->comm_dim > 1) { /* the engine wrote block 0; the combine writes all m */
		if ((rc = pn_job_ce_combine(j, j->out)) == 0)
			return NULL;
		pn_job_log(j, "round %lld: comm-efficient combine: %s\n", (long long)j->round, strerror(-rc));
		return "the code could not decode what arrived";
	}
	if (rc == 0)
		return NULL;
	pn_job_log(j, "round %lld: %s\n", (long long)j->round, pn_agg_errmsg(j->agg));
	if (j->robust)
		return "the rule failed";
	return rc == -EDOM ? "the aggregate is not finite" : "the code could not decode what arrived";
}

int pn_job_run_round(pn_job *j, pn_round_record *rec)
{
	int64_t v = j->round;
	double t0 = pn_now_s();
	memset(rec, 0, sizeof *rec);
	rec->round = v;
	rec->test_loss = rec->test_acc = NAN;
	int rc = j->cfg->tree_nodes > 0 ? pn_job_tree_await_rejoins(j) : 0;
	if (rc == 0)
		rc = begin_round(j);
	double tp = pn_now_s();
	if (rc == 0)
		rc = publish(j);
	rec->t_publish_s = pn_now_s() - tp;
	double tpull = pn_now_s();
	pn_round_verdict verdict = PN_ROUND_WAIT;
	j->pulling = true;
	if (rc == 0)
		rc = pn_job_pull_until_decided(j, t0, &verdict);
	j->pulling = false;
	if (rc)
		return rc; /* error or stop request: the round is abandoned, no record */
	const char *lost = NULL; /* a tree: a worker's gradient missing (tree_bypass.c) */
	if ((rc = pn_job_tree_check(j, &lost)))
		return rc;
	rec->t_pull_s = pn_now_s() - tpull;

	double ta = pn_now_s();
	pn_job_heartbeat(j, false); /* the aggregation below does not poll */
	const char *skip = NULL;
	/* (a shard always takes part in the exchange: the job decides who is usable) */
	if (lost) {
		choose_inputs(j, rec); /* (recorded; the round is not aggregated) */
		skip = lost;
	} else if ((choose_inputs(j, rec) > 0 && verdict != PN_ROUND_IMPOSSIBLE) || j->link) {
		skip = aggregate(j, rec);
		if ((rc = pn_shard_link_check(j)))
			return rc;
		if (!skip)
			skip = j->result       ? pn_job_serve_aggregate(j, j->out, j->row_scale)
			       : j->step_fused ? pn_job_step_fused_end(j)
					       : pn_job_step(j, j->out, j->row_scale);
	} else {
		skip = "no usable gradient";
		pn_job_log(j, "round %lld: straggler policy: %s\n", (long long)v, pn_round_verdict_name(verdict));
	}
	if (skip) {
		pn_job_log(j, "round %lld: %s; model unchanged\n", (long long)v, skip);
		memcpy(j->next, j->cur, j->d * sizeof(float)); /* the next round starts from the same model */
		rec->skipped = true;
		rec->skip_reason = skip;
	}
	if (j->result)
		pn_job_announce_result(j, skip != NULL);
	rec->t_aggregate_s = pn_now_s() - ta;
	pn_job_tree_report_end(j, rec);
	j->rec = NULL;
	for (int i = 0; i < j->n; i++)
		j->late[i] = !j->finished[i];
	pn_code_observe_round(j->code, j->late);
	rec->t_round_s = pn_now_s() - t0;
	return 0;
}
