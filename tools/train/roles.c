/* The training job's roles (see roles.h). */
#include "roles.h"

#include "bootstrap.h"
#include "report.h"
#include "topology.h"
#include "pennant/codes.h"
#include "pennant/npy.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern void openblas_set_num_threads(int);

static int save_model(const train_opts *o, const float *w, size_t d)
{
	if (!o->save_model)
		return 0;
	char err[256];
	size_t shape[1] = {d};
	if (pn_npy_write_f32(o->save_model, w, shape, 1, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", o->prog, err);
		return 1;
	}
	return 0;
}

int train_run_worker(train_opts *o, fmnist_job *job, int64_t kill_round)
{
	openblas_set_num_threads(1);
	char optbuf[4096];
	bool byz = o->byz[o->rank];
	pn_worker_config wc = {.tp = topology_tp_config(o, (uint32_t)o->rank + 1, optbuf, sizeof optbuf),
			       .connect = o->connect, .rank = o->rank, .connect_timeout_ms = 60000,
			       .grad_dtype = o->grad_dtype, .fallback = o->fallback,
			       .fallback_rank = o->fallback_rank};
	/* told the code, the worker registers exactly 2 slots of ceil(d/m); a worker started
	 * without it (pennant-worker alone) learns m from WELCOME (slots of d, enough for any m) */
	if (strcmp(o->code, "comm-efficient") == 0)
		wc.comm_dim = o->comm_dim;
	if (o->slow[o->rank])
		wc.faults = o->straggle;
	wc.faults.exit_at_round = kill_round;
	wc.faults.seed = o->seed * 1000 + (uint64_t)o->rank;
	if (byz) {
		wc.faults.byzantine = (pn_byzantine)pn_byzantine_from_name(o->attack);
		wc.faults.colluders = o->byz_count; /* ALIE's z depends on how many attack */
	}
	if (fmnist_job_prepare(job, byz && wc.faults.byzantine == PN_BYZ_LABELFLIP)) {
		fprintf(stderr, "%s: out of memory\n", o->prog);
		return 1;
	}
	job->sgd = (pn_sgd){.lr = o->lr, .momentum = o->momentum, .weight_decay = o->wd};
	pn_grad_source src = fmnist_job_source(job);
	float *mine = NULL; /* --save-worker-model: rank 0's own model when local */
	if (o->save_worker_model && (o->role != TRAIN_LOCAL || o->rank == 0))
		wc.final_model = mine = calloc(src.d, sizeof(float));
	int rc = pn_worker_run(&wc, &src) == 0 ? 0 : 1;
	if (mine && rc == 0) {
		train_opts mo = *o;
		mo.save_model = o->save_worker_model;
		rc = save_model(&mo, mine, src.d);
	}
	free(mine);
	return rc;
}

/* In each forked worker: the terminal's Ctrl-C reaches the whole process group, but a
 * local worker is stopped by its aggregator (which handles the signal), not by it. */
int train_local_worker(void *ctx, int rank, const char *addr)
{
	train_local *lc = ctx;
	struct sigaction ign = {.sa_handler = SIG_IGN}, dfl = {.sa_handler = SIG_DFL};
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	lc->o->rank = rank;
	lc->o->connect = addr;
	if (lc->root_addr[0]) { /* a tree's worker: the root, if its node goes away */
		lc->o->fallback = lc->root_addr;
		lc->o->fallback_rank = train_peers(lc->o) + rank;
	}
	return train_run_worker(lc->o, lc->job, lc->o->kill_rank == rank ? lc->o->kill_round : -1);
}

static void describe_byzantine(const train_opts *o)
{
	if (!o->byz_count || o->role != TRAIN_LOCAL)
		return;
	fprintf(stderr, "%s: byzantine workers (%s):", o->prog, o->attack);
	for (int i = 0; i < o->n; i++)
		if (o->byz[i])
			fprintf(stderr, " %d", i);
	fprintf(stderr, "\n");
}

/* K shards' ranges of the model: cut at layer boundaries (each layer's W and b) when the
 * model has enough of them near the even cuts (no shard more than a quarter off its even
 * share), else on the engine's blocks (pn_shard_plan). */
static int plan_shards(const train_opts *o, const fmnist_job *job, size_t d, pn_shard_range *rg,
		       char *err, size_t errlen)
{
	size_t bounds[2 * PN_MODEL_MAX_LAYERS];
	int nb = 0;
	for (int l = 0; !o->dim && l < job->model.layers; l++) {
		if (job->model.w_off[l] > 0)
			bounds[nb++] = job->model.w_off[l];
		bounds[nb++] = job->model.b_off[l];
	}
	if (o->shards > 1 && nb >= o->shards - 1 && pn_shard_plan(d, o->shards, bounds, nb, rg, err, errlen) == 0) {
		double share = (double)d / o->shards;
		bool balanced = true;
		for (int k = 0; k < o->shards; k++)
			balanced &= fabs((double)(rg[k].hi - rg[k].lo) - share) <= share / 4;
		if (balanced)
			return 0;
	}
	return pn_shard_plan(d, o->shards, NULL, 0, rg, err, errlen);
}

/* Shard k > 0 of a launched sharded job: its range of the job, no report (shard 0 writes
 * the lines, the JSON and the model). */
static int run_other_shard(train_opts *o, pn_agg_job_config *jc, const pn_shard_range *rg)
{
	int k = o->shard_index;
	jc->shard.lo = rg[k].lo, jc->shard.hi = rg[k].hi;
	jc->on_round = NULL;
	pn_agg_job_result res;
	char err[512];
	int rc = pn_aggregator_run(jc, &res, err, sizeof err);
	if (rc && rc != -EINTR)
		fprintf(stderr, "%s: aggregator shard %d: %s\n", o->prog, k, err);
	else
		fprintf(stderr, "%s: aggregator shard %d: coordinates [%zu, %zu), %lld rounds, %.1f MB pulled\n",
			o->prog, k, rg[k].lo, rg[k].hi, (long long)res.rounds_done,
			res.tp_stats.bytes_read / 1e6);
	pn_agg_job_result_free(&res);
	return rc && rc != -EINTR ? 1 : 0;
}

/* local: aggregator + n forked workers on this host; otherwise the aggregator alone */
int train_run_aggregator(train_opts *o, fmnist_job *job, const volatile sig_atomic_t *stop)
{
	openblas_set_num_threads(1);
	bool local = o->role == TRAIN_LOCAL;
	/* a tree's peers are nodes: no rank of the job is one of them */
	const bool *byz = !o->tree && (local || o->byz_ranks) ? o->byz : NULL;
	size_t d = o->dim ? (size_t)o->dim : job->model.nparams;
	float *init = calloc(d, sizeof(float));
	if (!init)
		return 1;
	if (!o->dim) /* with --dim the served gradients step the workers' own models */
		pn_model_init_params(&job->model, init, o->seed);
	static char optbuf[65536];
	char err[512] = "";
	if (!local && o->shards > 1 && o->shard_index > 0) {
		pn_shard_range rg[PN_SHARD_MAX];
		pn_agg_job_config sc;
		train_job_config(o, d, &sc);
		sc.tp = topology_tp_config(o, (uint32_t)(o->n + o->shard_index), optbuf, sizeof optbuf);
		sc.accept_timeout_ms = 120000, sc.init_model = init, sc.log = stderr, sc.stop_requested = stop;
		sc.on_listen = train_bootstrap_listening, sc.on_listen_ctx = o;
		sc.shard.count = o->shards, sc.shard.index = o->shard_index, sc.shard.shard0 = o->shard0;
		int st = plan_shards(o, job, d, rg, err, sizeof err) ? 1 : run_other_shard(o, &sc, rg);
		if (st && err[0])
			fprintf(stderr, "%s: %s\n", o->prog, err);
		free(init);
		return st;
	}
	train_report rep;
	if (report_open(&rep, o, job)) {
		free(init);
		return 1;
	}
	pn_agg_job_config jc;
	train_job_config(o, d, &jc);
	jc.tp = topology_tp_config(o, 0, optbuf, sizeof optbuf);
	jc.accept_timeout_ms = 120000;
	jc.byzantine_ranks = byz;
	jc.init_model = init;
	jc.log = stderr;
	jc.on_round = report_round;
	jc.on_round_ctx = &rep;
	jc.stop_requested = stop;
	if (!local) { /* tell the workers where it listens (a rendezvous), once it does */
		jc.on_listen = train_bootstrap_listening;
		jc.on_listen_ctx = o;
	}
	char desc[128];
	if (o->dim)
		snprintf(desc, sizeof desc, "the workers' own model (%lld parameters)", (long long)o->dim);
	else
		pn_model_describe(&job->model, desc, sizeof desc);
	if (o->tree)
		fprintf(stderr, "%s: a tree of %d %s nodes of %d workers each\n", o->prog, train_peers(o),
			o->node_mode, o->tree);
	fprintf(stderr, "%s: %s, %d workers over %s, rule %s (f=%d), code %s(s=%d), %lld rounds\n",
		o->prog, desc, o->n, o->backend, o->rule, o->f, o->code, o->s, (long long)o->rounds);
	describe_byzantine(o);
	pn_agg_job_result res;
	memset(&res, 0, sizeof res);
	int rc, bad = 0;
	pn_shard_range ranges[PN_SHARD_MAX];
	if ((rc = plan_shards(o, job, d, ranges, err, sizeof err)) != 0) {
		fprintf(stderr, "%s: %s\n", o->prog, err);
	} else if (local) {
		train_local lc = {.o = o, .job = job};
		rc = pn_run_local_shards(&jc, o->shards, ranges,
					 o->tree ? train_local_node : train_local_worker, &lc, &res, &bad, err,
					 sizeof err);
		if (bad > (o->kill_rank >= 0 || o->kill_node >= 0))
			fprintf(stderr, "%s: %d worker(s) did not exit cleanly\n", o->prog, bad);
	} else {
		if (o->shards > 1) { /* a launched sharded job: this rank's shard (launch.c) */
			jc.shard.count = o->shards, jc.shard.index = o->shard_index;
			jc.shard.lo = ranges[0].lo, jc.shard.hi = ranges[0].hi;
			jc.shard.shard0 = o->shard0;
		}
		rc = pn_aggregator_run(&jc, &res, err, sizeof err);
	}
	bool stopped = rc == -EINTR || *stop;
	if (rc && rc != -EINTR)
		fprintf(stderr, "%s: aggregator: %s\n", o->prog, err);
	int status = rc && rc != -EINTR ? 1 : 0;
	if (res.model)
		status |= save_model(o, res.model, d);
	train_outcome out = {.rounds_done = res.rounds_done, .rounds_skipped = res.rounds_skipped,
			     .time_s = res.t_total_s, .model = res.model,
			     .error = rc && rc != -EINTR ? err : NULL, .stop_signal = stopped ? *stop : 0,
			     .res = &res, .byz = byz, .peers = train_root_slots(o)};
	if (report_final(&rep, &out))
		status = 1;
	if (!stopped && status == 0 && res.rounds_done - res.rounds_skipped <= 0) {
		fprintf(stderr, "%s: no round trained (every round was skipped)\n", o->prog);
		status = 1;
	}
	report_free(&rep);
	pn_agg_job_result_free(&res);
	free(init);
	return stopped && status == 0 ? 128 + *stop : status;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int train_run_reference(train_opts *o, fmnist_job *job, const volatile sig_atomic_t *stop)
{
	size_t d = job->model.nparams;
	float *w = malloc(sizeof(float) * d), *v = calloc(d, sizeof(float)), *g = malloc(sizeof(float) * d);
	train_report rep;
	if (!w || !v || !g || fmnist_job_prepare(job, false) || report_open(&rep, o, job)) {
		free(w), free(v), free(g);
		return 1;
	}
	pn_model_init_params(&job->model, w, o->seed);
	pn_sgd sgd = {.lr = o->lr, .momentum = o->momentum, .weight_decay = o->wd};
	double t0 = now_s();
	int64_t r = 0;
	for (; r < o->rounds && !*stop; r++) {
		pn_round_record rec = {.round = r, .test_acc = NAN, .test_loss = NAN};
		rec.loss = fmnist_full_gradient(job, (uint64_t)r, w, g);
		pn_sgd_step(&sgd, w, v, g, d);
		rec.finished = o->n;
		report_round(&rep, w, &rec);
	}
	int status = save_model(o, w, d);
	train_outcome out = {.rounds_done = r, .time_s = now_s() - t0, .model = w,
			     .stop_signal = *stop};
	if (report_final(&rep, &out))
		status = 1;
	report_free(&rep);
	free(w), free(v), free(g);
	return *stop && status == 0 ? 128 + *stop : status;
}
