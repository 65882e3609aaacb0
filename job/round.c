/* One round, start to end: publish model v, pull until the straggler policy decides,
 * choose the inputs, aggregate (the robust rule through the engine, or the mean as the
 * code's decode), take the guarded step into model v+1, and record what happened. */
#include "job/aggregator_internal.h"
#include "job/cookie.h"
#include "agg/agg_internal.h"

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
	j->nlanded = 0;
	for (int i = 0; i < j->n; i++) {
		j->finished[i] = false;
		j->failed[i] = !j->w[i].alive;
		j->w[i].ready = false;
	}
	if (!j->robust)
		return 0;
	/* The engine reads the landing rows in place, chunk by chunk as they land. */
	pn_agg_config ac = j->cfg->rule;
	ac.p = j->n;
	ac.d = j->d;
	ac.flag_rescale = 1;
	for (int i = 0; i < j->n; i++)
		j->rows[i] = pn_job_land_row(j, v, i);
	char e[256];
	j->agg = pn_agg_begin(&ac, j->rows, e, sizeof e);
	return j->agg ? 0 : pn_job_fail(j, -EINVAL, "aggregation: %s", e);
}

static int publish(pn_job *j)
{
	for (int i = 0; i < j->n; i++) {
		if (!j->w[i].alive)
			continue;
		pn_job_msg m = {.type = PN_MSG_ROUND, .round = j->round, .slot = pn_job_slot(j->round)};
		int np = pn_code_partitions(j->code, i, m.parts, m.coefs, PN_JOB_MAX_PARTS);
		if (np > PN_JOB_MAX_PARTS)
			return pn_job_fail(j, -E2BIG, "worker %d has %d partitions (max %d)", i, np,
					   PN_JOB_MAX_PARTS);
		m.nparts = np;
		if (pn_job_send(j, i, &m))
			j->failed[i] = true;
	}
	return 0;
}

/* The finished workers take part; the mean (no other defence) drops non-finite rows,
 * and fractional replicas that disagree with their group's majority are left out. */
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
		rec->failed += j->failed[i];
		if (*use) {
			nuse++;
			loss += j->w[i].loss;
		}
	}
	rec->finished = nuse;
	rec->loss = nuse ? loss / nuse : NAN;
	if (nuse == 0)
		return 0;
	for (int i = 0; i < j->n; i++)
		if (j->use[i] && !j->robust && !pn_all_finite(pn_job_land_row(j, j->round, i), j->d)) {
			j->use[i] = false;
			rec->nonfinite++;
			j->w[i].flagged++;
			pn_job_trust_observe(&j->w[i], 0);
		}
	rec->disagreeing = pn_job_check_replicas(j, j->use);
	return nuse;
}

static bool known_byzantine(const pn_job *j, int i)
{
	return j->cfg->byzantine_ranks && j->cfg->byzantine_ranks[i];
}

/* Robust rule: the engine's result in j->out; trust follows each worker's weight share. */
static const char *aggregate_robust(pn_job *j, pn_round_record *rec)
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
	if (pn_agg_finish(j->agg, j->out) != 0) {
		pn_job_log(j, "round %lld: %s\n", (long long)j->round, pn_agg_errmsg(j->agg));
		return "the rule failed";
	}
	pn_agg_report rep;
	pn_agg_get_report(j->agg, &rep);
	rec->nonfinite += rep.nonfinite;
	rec->gram_busy_s = rep.t_gram_s;
	rec->solve_combine_s = rep.t_solve_s + rep.t_combine_s;
	const double *wt = pn_agg_weights(j->agg);
	const int *st = pn_agg_status(j->agg);
	double tot = 0;
	for (int i = 0; i < j->n; i++)
		tot += fabs(wt[i]);
	for (int i = 0; i < j->n; i++) {
		bool used = st[i] == PN_WORKER_USED, rejected = st[i] == PN_WORKER_NONFINITE;
		double share = tot > 0 && used ? fabs(wt[i]) / tot * rep.used : 0;
		if (j->use[i] || rejected) /* judged by the rule this round */
			pn_job_trust_observe(&j->w[i], share);
		if (rejected)
			j->w[i].flagged++;
		if (known_byzantine(j, i) && used && wt[i] != 0)
			rec->byzantine_used++;
	}
	return NULL;
}

/* Mean = the code's decode: (1/n) Σ a_i c_i over the inputs, into j->out. */
static const char *aggregate_mean(pn_job *j, pn_round_record *rec)
{
	pn_decode_info info;
	int rc = pn_code_decode(j->code, j->use, j->alpha, &info);
	rec->decode_residual = info.residual;
	if (rc != 0)
		return "the code could not decode what arrived";
	for (int i = 0; i < j->n; i++) {
		j->alpha[i] = j->use[i] ? j->alpha[i] / j->n : 0.0;
		if (known_byzantine(j, i) && j->use[i] && j->alpha[i] != 0)
			rec->byzantine_used++;
		j->rows[i] = pn_job_land_row(j, j->round, i);
	}
	double tc = pn_now_s();
	pn_combine((const float *const *)j->rows, j->alpha, j->n, j->d, j->out, pn_online_cpus());
	rec->solve_combine_s = pn_now_s() - tc;
	return NULL;
}

int pn_job_run_round(pn_job *j, pn_round_record *rec)
{
	int64_t v = j->round;
	double t0 = pn_now_s();
	memset(rec, 0, sizeof *rec);
	rec->round = v;
	rec->test_loss = rec->test_acc = NAN;
	int rc = begin_round(j);
	double tp = pn_now_s();
	if (rc == 0)
		rc = publish(j);
	rec->t_publish_s = pn_now_s() - tp;
	double tpull = pn_now_s();
	pn_round_verdict verdict = PN_ROUND_WAIT;
	if (rc == 0)
		rc = pn_job_pull_until_decided(j, t0, &verdict);
	if (rc)
		return rc; /* error or stop request: the round is abandoned, no record */
	rec->t_pull_s = pn_now_s() - tpull;

	double ta = pn_now_s();
	pn_job_heartbeat(j, false); /* the aggregation below does not poll */
	const char *skip = NULL;
	if (choose_inputs(j, rec) > 0 && verdict != PN_ROUND_IMPOSSIBLE) {
		skip = j->robust ? aggregate_robust(j, rec) : aggregate_mean(j, rec);
		if (!skip)
			skip = pn_job_step(j, j->out, j->robust ? j->row_scale : 1.0);
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
	rec->t_aggregate_s = pn_now_s() - ta;
	pn_agg_free(j->agg);
	j->agg = NULL;
	for (int i = 0; i < j->n; i++)
		j->late[i] = !j->finished[i];
	pn_code_observe_round(j->code, j->late);
	rec->t_round_s = pn_now_s() - t0;
	return 0;
}
