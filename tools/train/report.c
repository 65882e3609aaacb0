/* pennant-train's output (see report.h). */
#include "report.h"
#include "report_tree.h"

#include <math.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

void report_eval(train_report *r, const float *model, double *loss, double *acc)
{
	if (r->o->dim) { /* a gradient service (--dim): the model is the workers', not ours */
		*loss = *acc = NAN;
		return;
	}
	if (!r->eval_ws)
		r->eval_ws = pn_model_ws_new(&r->job->model, 500);
	*loss = pn_model_eval(&r->job->model, model, &r->job->test, acc, r->eval_ws);
}

int report_open(train_report *r, const train_opts *o, fmnist_job *job)
{
	*r = (train_report){.o = o, .job = job};
	if (!o->json)
		return 0;
	int rc = pn_json_open(&r->json, o->json);
	if (rc) {
		fprintf(stderr, "%s: cannot write %s: %s\n", o->prog, o->json, strerror(-rc));
		return -1;
	}
	r->json_on = true;
	pn_json *j = &r->json;
	pn_json_begin_object(j);
	pn_json_provenance(j, o->prog);
	pn_json_key(j, "config");
	pn_json_begin_object(j);
	pn_json_kstring(j, "role", train_role_name(o->role));
	pn_json_kint(j, "workers", o->n);
	pn_json_kstring(j, "rule", o->rule);
	pn_json_kint(j, "f", o->f);
	pn_json_kstring(j, "code", o->code);
	pn_json_kint(j, "s", o->s);
	pn_json_kint(j, "comm_dim", o->comm_dim);
	pn_json_kstring(j, "wait", o->wait);
	pn_json_kstring(j, "attack", o->attack);
	pn_json_kint(j, "byzantine", o->byz_count);
	pn_json_kstring(j, "backend", o->backend);
	pn_json_kstring(j, "model", o->model);
	pn_json_kint(j, "rounds", o->rounds);
	pn_json_kint(j, "batch", o->batch);
	pn_json_knumber(j, "lr", o->lr);
	pn_json_kuint(j, "seed", o->seed);
	pn_json_kbool(j, "pipelining", o->pipelining);
	pn_json_kstring(j, "serve", o->serve == PN_SERVE_GRADIENT ? "gradient" : "model");
	pn_json_kint(j, "dim", o->dim); /* 0: the built-in model */
	pn_json_kstring(j, "grad_dtype", pn_dtype_name(o->grad_dtype));
	pn_json_kint(j, "tree", o->tree); /* 0: flat */
	pn_json_kstring(j, "node_mode", o->node_mode);
	pn_json_kbool(j, "fixed_point", o->fixed_point);
	if (o->tree)
		pn_json_kstring(j, "node_serve", o->node_serve ? o->node_serve : "prefix");
	pn_json_end_object(j);
	pn_json_key(j, "rounds");
	pn_json_begin_array(j);
	fflush(j->f);
	return 0;
}

void report_round(void *ctx, const float *model, pn_round_record *rec)
{
	train_report *r = ctx;
	const train_opts *o = r->o;
	/* (a sharded job has no whole model during the rounds: only the final one is evaluated) */
	if (model && o->eval_every > 0 && ((rec->round + 1) % o->eval_every == 0 || rec->round + 1 == o->rounds))
		report_eval(r, model, &rec->test_loss, &rec->test_acc);
	if (!o->quiet) {
		char acc[32] = "      -";
		if (!isnan(rec->test_acc))
			snprintf(acc, sizeof acc, "%7.4f", rec->test_acc);
		fprintf(o->out, "round %4lld  loss %7.4f  test-acc %s  round %6.1f ms (pull %6.1f, agg+step %5.1f)"
			"  used %2d  strag %d  failed %d  flagged %d  byz-used %d%s\n",
			(long long)rec->round, rec->loss, acc, rec->t_round_s * 1e3, rec->t_pull_s * 1e3,
			rec->t_aggregate_s * 1e3, rec->finished - rec->nonfinite - rec->disagreeing,
			rec->stragglers, rec->failed, rec->nonfinite + rec->disagreeing, rec->byzantine_used,
			rec->skipped ? "  SKIPPED" : "");
		fflush(o->out);
	}
	if (!r->json_on)
		return;
	pn_json *j = &r->json;
	pn_json_begin_object(j);
	pn_json_kint(j, "round", rec->round);
	pn_json_knumber(j, "loss", rec->loss);
	pn_json_knumber(j, "test_loss", rec->test_loss);
	pn_json_knumber(j, "test_acc", rec->test_acc);
	pn_json_knumber(j, "t_round_s", rec->t_round_s);
	pn_json_knumber(j, "t_pull_s", rec->t_pull_s);
	pn_json_knumber(j, "t_aggregate_s", rec->t_aggregate_s);
	pn_json_knumber(j, "t_publish_s", rec->t_publish_s);
	pn_json_knumber(j, "gram_busy_s", rec->gram_busy_s);
	pn_json_knumber(j, "drain_s", rec->drain_s);
	pn_json_kint(j, "finished", rec->finished);
	pn_json_kint(j, "stragglers", rec->stragglers);
	pn_json_kint(j, "failed", rec->failed);
	pn_json_kint(j, "nonfinite", rec->nonfinite);
	pn_json_kint(j, "disagreeing", rec->disagreeing);
	pn_json_kint(j, "byzantine_used", rec->byzantine_used);
	pn_json_knumber(j, "decode_cond", rec->decode_cond);
	pn_json_kbool(j, "skipped", rec->skipped);
	if (rec->weights) { /* the rule's per-peer weights (which workers, or a tree's nodes, it selected) */
		pn_json_key(j, "weights");
		pn_json_begin_array(j);
		for (int i = 0; i < train_root_slots(o); i++)
			pn_json_number(j, rec->weights[i]);
		pn_json_end_array(j);
	}
	report_tree_round(j, o, rec);
	pn_json_end_object(j);
}

/* The transport's drop counters by reason (pn_tp_stats): each is a JSON field of its
 * own, and their sum is the "dropped" of the summary line. */
static const struct {
	const char *name;
	size_t offset;
} drops[] = {
#define DROP(field) {#field, offsetof(pn_tp_stats, field)}
	DROP(drop_malformed), DROP(drop_bad_token), DROP(drop_unknown_peer), DROP(drop_bad_key),
	DROP(drop_out_of_bounds), DROP(drop_no_access), DROP(drop_duplicate), DROP(drop_no_buffer),
#undef DROP
};

static uint64_t drop_count(const pn_tp_stats *s, size_t k)
{
	uint64_t v;
	memcpy(&v, (const char *)s + drops[k].offset, sizeof v);
	return v;
}

static void print_workers(const train_opts *o, const train_outcome *out)
{
	const pn_agg_job_result *res = out->res;
	if (!res || !res->trust)
		return;
	fprintf(o->out, "%s  trust  flagged  straggled  role\n", o->tree ? "  node" : "worker");
	for (int i = 0; i < out->peers; i++) {
		bool leaf_slot = o->tree && i >= train_peers(o); /* a bypassed node's worker, at the root */
		if (leaf_slot && res->gone_at[i] == -2)
			continue; /* (unused bypass slot) */
		char gone[64] = "";
		if (leaf_slot)
			snprintf(gone, sizeof gone, " (worker %d, its node bypassed)", i - train_peers(o));
		if (res->gone_at[i] >= 0)
			snprintf(gone + strlen(gone), sizeof gone - strlen(gone), ", gone at round %lld",
				 (long long)res->gone_at[i]);
		else if (res->gone_at[i] == -2)
			snprintf(gone, sizeof gone, ", never joined");
		fprintf(o->out, "%6d  %5.2f  %7d  %9d  %s%s\n", i, res->trust[i], res->flagged[i],
			res->straggled[i], out->byz ? (out->byz[i] ? "byzantine" : "honest") : "-", gone);
	}
	const pn_tp_stats *s = &res->tp_stats;
	uint64_t dropped = 0;
	for (size_t k = 0; k < sizeof drops / sizeof *drops; k++)
		dropped += drop_count(s, k);
	fprintf(o->out, "transport: %llu reads, %.1f MB pulled, %llu retransmits, %llu dropped frames/requests\n",
		(unsigned long long)s->reads_completed, s->bytes_read / 1e6,
		(unsigned long long)s->retransmits, (unsigned long long)dropped);
}

/* A sharded job: each shard's range and pulled bytes (its ingress), and the bytes of the
 * facts/decision exchange shard 0 read, next to the rounds. */
static void report_shards(pn_json *j, const train_opts *o, const pn_agg_job_result *res)
{
	pn_json_kint(j, "shards", o->shards);
	if (res->shards <= 1)
		return;
	pn_json_key(j, "shard");
	pn_json_begin_array(j);
	for (int k = 0; k < res->shards; k++) {
		pn_json_begin_object(j);
		pn_json_kint(j, "index", k);
		pn_json_kuint(j, "bytes_pulled", res->shard_bytes_pulled[k]);
		pn_json_end_object(j);
	}
	pn_json_end_array(j);
	pn_json_kuint(j, "exchange_bytes", res->exchange_bytes);
}

int report_final(train_report *r, const train_outcome *out)
{
	const train_opts *o = r->o;
	int64_t trained = out->rounds_done - out->rounds_skipped;
	double loss = NAN, acc = NAN;
	if (out->model && trained > 0)
		report_eval(r, out->model, &loss, &acc);
	const char *sig = out->stop_signal == SIGINT ? "SIGINT" : out->stop_signal == SIGTERM ? "SIGTERM" : NULL;
	const char *what = o->role == TRAIN_REFERENCE ? "reference" : "final";
	if (trained > 0 && o->dim)
		fprintf(o->out, "\n%s: %lld rounds (%lld skipped) in %.1f s, gradients served (the model "
			"and its accuracy are the workers')%s%s\n", what, (long long)out->rounds_done,
			(long long)out->rounds_skipped, out->time_s, sig ? ", stopped by " : "", sig ? sig : "");
	else if (trained > 0)
		fprintf(o->out, "\n%s: %lld rounds (%lld skipped) in %.1f s, test loss %.4f, test accuracy %.4f%s%s\n",
			what, (long long)out->rounds_done, (long long)out->rounds_skipped, out->time_s, loss,
			acc, sig ? ", stopped by " : "", sig ? sig : "");
	else
		fprintf(o->out, "\n%s: %lld rounds, none trained (%lld skipped) in %.1f s: the model is the "
			"initial one, no accuracy to report%s%s\n", what, (long long)out->rounds_done,
			(long long)out->rounds_skipped, out->time_s, sig ? "; stopped by " : "", sig ? sig : "");
	print_workers(o, out);
	report_tree_final(NULL, o->out, o, out->res);
	if (o->tree && out->res && (out->res->rounds_lost || out->res->nodes_bypassed))
		fprintf(o->out, "tree: %lld round(s) lost to a missing node sum, %d node(s) bypassed (their "
			"workers pulled by the root)\n", (long long)out->res->rounds_lost, out->res->nodes_bypassed);
	if (!r->json_on)
		return 0;
	pn_json *j = &r->json;
	pn_json_end_array(j); /* rounds */
	pn_json_key(j, "final");
	pn_json_begin_object(j);
	pn_json_kint(j, "rounds", out->rounds_done);
	pn_json_kint(j, "skipped", out->rounds_skipped);
	pn_json_kbool(j, "trained", trained > 0);
	pn_json_knumber(j, "time_s", out->time_s);
	pn_json_knumber(j, "test_loss", loss);
	pn_json_knumber(j, "test_acc", acc);
	pn_json_kstring(j, "error", out->error);
	pn_json_kstring(j, "stopped_by", sig);
	if (out->res)
		pn_json_kuint(j, "bytes_pulled", out->res->tp_stats.bytes_read);
	else
		pn_json_knull(j, "bytes_pulled");
	if (o->tree) { /* rounds lost to a node's missing sum; nodes whose workers the root took */
		pn_json_kint(j, "rounds_lost", out->res ? out->res->rounds_lost : 0);
		pn_json_kint(j, "nodes_bypassed", out->res ? out->res->nodes_bypassed : 0);
		/* reads of the nodes' sums posted on their PROGRESS, before their READY */
		pn_json_kuint(j, "reads_before_ready", out->res ? out->res->reads_before_ready : 0);
	}
	pn_json_end_object(j);
	pn_json_key(j, "workers");
	pn_json_begin_array(j);
	const pn_agg_job_result *res = out->res;
	for (int i = 0; res && res->trust && i < out->peers; i++) {
		bool leaf_slot = o->tree && i >= train_peers(o); /* a bypassed node's worker, at the root */
		if (leaf_slot && res->gone_at[i] == -2)
			continue; /* (an unused bypass slot) */
		pn_json_begin_object(j);
		pn_json_kint(j, "rank", i);
		if (leaf_slot)
			pn_json_kint(j, "bypassed_worker", i - train_peers(o));
		pn_json_knumber(j, "trust", res->trust[i]);
		pn_json_kint(j, "flagged", res->flagged[i]);
		pn_json_kint(j, "straggled", res->straggled[i]);
		pn_json_kint(j, "gone_at_round", res->gone_at[i]);
		pn_json_kbool(j, "byzantine", out->byz && out->byz[i]);
		pn_json_end_object(j);
	}
	pn_json_end_array(j);
	report_tree_final(j, NULL, o, res);
	if (res) {
		pn_json_key(j, "transport");
		pn_json_begin_object(j);
		pn_json_kuint(j, "reads", res->tp_stats.reads_completed);
		pn_json_kuint(j, "bytes_read", res->tp_stats.bytes_read);
		pn_json_kuint(j, "retransmits", res->tp_stats.retransmits);
		/* dropped input by reason (pn_tp_stats): what the transport refused or discarded */
		for (size_t k = 0; k < sizeof drops / sizeof *drops; k++)
			pn_json_kuint(j, drops[k].name, drop_count(&res->tp_stats, k));
		pn_json_end_object(j);
		report_shards(j, o, res);
	}
	pn_json_end_object(j);
	r->json_on = false;
	if (pn_json_close(j)) {
		fprintf(stderr, "%s: the JSON record %s could not be completed\n", o->prog, o->json);
		return -1;
	}
	return 0;
}

void report_free(train_report *r)
{
	if (r->json_on) /* a path that never reached report_final still ends the document */
		pn_json_close(&r->json);
	r->json_on = false;
	pn_model_ws_free(r->eval_ws);
	r->eval_ws = NULL;
}
