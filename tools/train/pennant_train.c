/* pennant-train: the Fashion-MNIST training job.
 *
 *   pennant-train                       aggregator + 15 local workers (3 attack), flag rule
 *   pennant-train --reference           the same model trained in one process
 *   pennant-train --role aggregator …   one role of a multi-host job; rank and size also
 *   pennant-train --role worker …       come from mpirun / srun / PMIx environments
 *
 * Also installed as pennant-aggregator and pennant-worker (role from the program name). */
#include "fmnist_job.h"
#include "pennant/agg.h"
#include "pennant/codes.h"
#include "pennant/job.h"
#include "pennant/npy.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

extern void openblas_set_num_threads(int);

typedef struct opts {
	const char *role;          /* local, aggregator, worker, reference */
	int n, byz_count, rank;
	const char *byz_ranks, *attack;
	const char *rule, *mode, *code, *wait, *pull_policy;
	int f, r, m, s;
	double lambda, beta;
	int64_t rounds;
	int batch, eval_every;
	double lr, momentum, wd, deadline_ms;
	const char *model, *data;
	const char *backend, *tp_options, *listen, *connect;
	uint64_t token, seed;
	bool pipelining, quiet;
	const char *json;
	const char *save_model;
	const char *straggle_ranks, *straggle_delay;
	int kill_rank;
	int64_t kill_round;
	int window_per_worker, window_total;
	/* --backend dpdk without --tp-options on one host: a memif topology we build */
	char memif_dir[64];
} opts;

static void usage(FILE *o)
{
	fprintf(o,
"usage: pennant-train [options]\n"
"Trains a model on Fashion-MNIST with one aggregator and n workers that pull/serve\n"
"gradients over a transport, with robust aggregation and gradient coding.\n"
"\n"
"job:\n"
"  --role R            local (default: aggregator + n forked workers), aggregator, worker,\n"
"                      reference (single process, no distribution)\n"
"  --workers N         workers (default 15)\n"
"  --rounds N          rounds (default 150)\n"
"  --model M           mlp (784-256-128-10, default), softmax, mlp:H1,H2,...\n"
"  --batch B           examples per partition per round (default 32)\n"
"  --lr X --momentum X --weight-decay X   SGD (defaults 0.05, 0.9, 1e-4)\n"
"  --data DIR          Fashion-MNIST IDX files (default " PN_FMNIST_DIR ")\n"
"  --eval-every N      test-set evaluation period in rounds (default 10)\n"
"  --seed N            (default 1)\n"
"aggregation:\n"
"  --rule R            flag (default), mean, median, trimmed-mean, meamed, phocas, krum,\n"
"                      multi-krum, bulyan, geomed\n"
"  --f N               Byzantine workers the rule assumes (default: --byzantine count)\n"
"  --r N --lambda X --mode reference|converged   flag options (defaults 8, 0, reference)\n"
"  --m N --beta X      multi-krum / trimmed-mean options\n"
"  --code C            uncoded, fractional, cyclic, expander, bibd, gcdc\n"
"                      (default fractional when (s+1) divides n, else uncoded)\n"
"  --s N               stragglers the code tolerates (default 2)\n"
"  --wait W            all: every worker until --deadline-ms, then whatever the code\n"
"                      decodes (default for robust rules); code: the code's threshold\n"
"                      (default for mean); deadline: code threshold or deadline\n"
"  --deadline-ms X     straggler deadline (default 1000)\n"
"  --pull-policy P     round-robin (default), earliest-ready, layer-priority\n"
"  --window N --window-total N   reads in flight per worker / overall (8, 64)\n"
"  --pipelining on|off feed chunks to the engine as they land (default on)\n"
"faults (local role):\n"
"  --byzantine N       N random workers attack (default 3)\n"
"  --byzantine-ranks L explicit comma-separated ranks instead\n"
"  --attack A          uniform (default), reverse, scaled, signflip, labelflip, nan\n"
"  --straggle L:SPEC   ranks L are slow: SPEC fixed:MS, exp:MEAN_MS, markov:MS,P_SLOW,P_FAST\n"
"  --kill-rank R --kill-round N   worker R exits abruptly at round N\n"
"transport:\n"
"  --backend B         auto (default: dpdk over memif when usable, else tcp), tcp,\n"
"                      dpdk (local: memif topology built for you), verbs\n"
"  --tp-options S      backend options; {rank} is replaced by the process's node id\n"
"  --listen ADDR       aggregator address (default 127.0.0.1:0 for local)\n"
"  --connect ADDR      worker: aggregator address\n"
"  --rank N            worker rank (or OMPI_COMM_WORLD_RANK, SLURM_PROCID, PMIX_RANK - 1)\n"
"  --token N           job token (or PENNANT_JOB_TOKEN); every peer must present it\n"
"output:\n"
"  --json FILE         full record as JSON ('-' for stdout)\n"
"  --save-model FILE   final parameters as a float32 .npy\n"
"  --quiet             no per-round lines\n"
"  -h, --help\n");
}

/* ---- small parsers ---- */

static int parse_ranks(const char *s, int n, bool *flags, char *err, size_t errlen)
{
	char *dup = strdup(s), *save = NULL;
	int count = 0;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		long r = strtol(t, &end, 10);
		if (*end || r < 0 || r >= n) {
			snprintf(err, errlen, "rank '%s' is not in [0, %d)", t, n);
			free(dup);
			return -EINVAL;
		}
		count += !flags[r];
		flags[r] = true;
	}
	free(dup);
	return count;
}

static int env_int(const char *name, int *out)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return 0;
	char *end;
	long x = strtol(v, &end, 10);
	if (*end)
		return 0;
	*out = (int)x;
	return 1;
}

/* ---- progress ---- */

typedef struct run_ctx {
	opts *o;
	fmnist_job *job;
	FILE *json;
	int json_rounds;
	double last_acc;
	double t0;
	int64_t rounds_done;
	pn_model_ws *eval_ws;
} run_ctx;

static void eval(run_ctx *rc, const float *model, double *loss, double *acc)
{
	if (!rc->eval_ws)
		rc->eval_ws = pn_model_ws_new(&rc->job->model, 500);
	*loss = pn_model_eval(&rc->job->model, model, &rc->job->test, acc, rc->eval_ws);
}

static void on_round(void *ctx, const float *model, pn_round_record *rec)
{
	run_ctx *rc = ctx;
	opts *o = rc->o;
	rc->rounds_done = rec->round + 1;
	if (o->eval_every > 0 && ((rec->round + 1) % o->eval_every == 0 || rec->round + 1 == o->rounds)) {
		eval(rc, model, &rec->test_loss, &rec->test_acc);
		rc->last_acc = rec->test_acc;
	}
	if (!o->quiet) {
		char acc[32] = "      -";
		if (!isnan(rec->test_acc))
			snprintf(acc, sizeof acc, "%7.4f", rec->test_acc);
		printf("round %4lld  loss %7.4f  test-acc %s  round %6.1f ms (pull %6.1f, agg+step %5.1f)"
		       "  used %2d  strag %d  failed %d  flagged %d  byz-used %d%s\n",
		       (long long)rec->round, rec->loss, acc, rec->t_round_s * 1e3, rec->t_pull_s * 1e3,
		       rec->t_aggregate_s * 1e3, rec->finished - rec->nonfinite - rec->disagreeing,
		       rec->stragglers, rec->failed, rec->nonfinite + rec->disagreeing, rec->byzantine_used,
		       rec->skipped ? "  SKIPPED" : "");
		fflush(stdout);
	}
	if (rc->json) {
		fprintf(rc->json,
			"%s{\"round\":%lld,\"loss\":%.6g,\"test_loss\":%.6g,\"test_acc\":%.6g,"
			"\"t_round_s\":%.6g,\"t_pull_s\":%.6g,\"t_aggregate_s\":%.6g,\"t_publish_s\":%.6g,"
			"\"gram_busy_s\":%.6g,\"finished\":%d,\"stragglers\":%d,\"failed\":%d,\"nonfinite\":%d,"
			"\"disagreeing\":%d,\"byzantine_used\":%d,\"skipped\":%s}",
			rc->json_rounds++ ? "," : "", (long long)rec->round, rec->loss,
			isnan(rec->test_loss) ? -1.0 : rec->test_loss, isnan(rec->test_acc) ? -1.0 : rec->test_acc,
			rec->t_round_s, rec->t_pull_s, rec->t_aggregate_s, rec->t_publish_s, rec->gram_busy_s,
			rec->finished, rec->stragglers, rec->failed, rec->nonfinite, rec->disagreeing,
			rec->byzantine_used, rec->skipped ? "true" : "false");
	}
}

static int save_model(const opts *o, const float *w, size_t d)
{
	if (!o->save_model)
		return 0;
	char err[256];
	size_t shape[1] = {d};
	if (pn_npy_write_f32(o->save_model, w, shape, 1, err, sizeof err)) {
		fprintf(stderr, "pennant-train: %s\n", err);
		return 1;
	}
	return 0;
}

/* ---- roles ---- */

/* One memif server port per worker on the aggregator, one client port per worker; each
 * process its own DPDK memory (no hugepages needed) and file prefix. The sockets are
 * abstract (o->memif_dir is a name, not a directory). */
static void memif_options(const opts *o, uint32_t node_id, char *buf, size_t len)
{
	size_t n = 0;
	if (node_id == 0) {
		for (int i = 0; i < o->n && n < len; i++) /* the vdev key repeats: one port each */
			n += (size_t)snprintf(buf + n, len - n,
					      "vdev=net_memif%d,role=server,id=0,socket=%s/m%d.sock,socket-abstract=yes,bsize=9216;",
					      i, o->memif_dir, i);
		snprintf(buf + n, len - n, "mem=no-huge:1024;mbufs=2047;prefix=pn-agg-%d;jumbo=on;ip=10.89.0.250;"
					   "udp=7000;idle_sleep_us=200", (int)getpid());
	} else {
		snprintf(buf, len,
			 "vdev=net_memif0,role=client,id=0,socket=%s/m%u.sock,socket-abstract=yes,bsize=9216;"
			 "mem=no-huge:256;mbufs=2047;prefix=pn-w%u-%d;jumbo=on;ip=10.89.%u.%u;idle_sleep_us=200",
			 o->memif_dir, node_id - 1, node_id, (int)getppid(), node_id / 200, node_id % 200 + 1);
	}
}

static pn_tp_config tp_config(const opts *o, uint32_t node_id, char *optbuf, size_t optlen)
{
	if (o->memif_dir[0]) {
		memif_options(o, node_id, optbuf, optlen);
		return (pn_tp_config){.backend = "dpdk", .node_id = node_id, .job_token = o->token,
				      .options = optbuf};
	}
	/* {rank} in the options template becomes this process's node id */
	const char *t = o->tp_options ? o->tp_options : "";
	size_t n = 0;
	for (const char *p = t; *p && n + 12 < optlen;) {
		if (strncmp(p, "{rank}", 6) == 0) {
			n += (size_t)snprintf(optbuf + n, optlen - n, "%u", node_id);
			p += 6;
		} else {
			optbuf[n++] = *p++;
		}
	}
	optbuf[n] = 0;
	return (pn_tp_config){.backend = o->backend, .node_id = node_id, .job_token = o->token,
			      .options = optbuf};
}

static int run_worker(opts *o, fmnist_job *job, bool byz, bool straggle, int kill_round)
{
	openblas_set_num_threads(1);
	char optbuf[4096];
	pn_worker_config wc = {.tp = tp_config(o, (uint32_t)o->rank + 1, optbuf, sizeof optbuf),
			       .connect = o->connect, .rank = o->rank, .connect_timeout_ms = 60000};
	wc.faults.exit_at_round = kill_round;
	wc.faults.seed = o->seed * 1000 + (uint64_t)o->rank;
	if (byz)
		wc.faults.byzantine = (pn_byzantine)pn_byzantine_from_name(o->attack);
	if (straggle) {
		char err[256];
		if (pn_delay_parse(o->straggle_delay, &wc.faults, err, sizeof err)) {
			fprintf(stderr, "pennant-worker: %s\n", err);
			return 2;
		}
	}
	if (fmnist_job_prepare(job, byz && wc.faults.byzantine == PN_BYZ_LABELFLIP)) {
		fprintf(stderr, "pennant-worker: out of memory\n");
		return 1;
	}
	pn_grad_source src = fmnist_job_source(job);
	return pn_worker_run(&wc, &src) == 0 ? 0 : 1;
}

typedef struct local_ctx {
	opts *o;
	fmnist_job *job;
	const bool *byz, *slow;
} local_ctx;

static int local_worker(void *ctx, int rank, const char *addr)
{
	local_ctx *lc = ctx;
	lc->o->rank = rank;
	lc->o->connect = addr;
	int kill_round = lc->o->kill_rank == rank ? (int)lc->o->kill_round : -1;
	return run_worker(lc->o, lc->job, lc->byz[rank], lc->slow[rank], kill_round);
}

/* local: aggregator + n forked workers on this host; otherwise the aggregator alone */
static int run_aggregator(opts *o, fmnist_job *job, const bool *byz, const bool *slow)
{
	openblas_set_num_threads(1);
	size_t d = job->model.nparams;
	float *init = malloc(sizeof(float) * d);
	if (!init)
		return 1;
	pn_model_init_params(&job->model, init, o->seed);
	static char optbuf[65536];
	char err[512];
	pn_agg_job_config jc = {.tp = tp_config(o, 0, optbuf, sizeof optbuf),
				.listen = o->listen, .n = o->n, .rounds = o->rounds, .seed = o->seed,
				.wait = o->wait, .deadline_ms = o->deadline_ms, .pull_policy = o->pull_policy,
				.window_per_worker = o->window_per_worker, .window_total = o->window_total,
				.pipelining = o->pipelining, .lr = o->lr, .momentum = o->momentum,
				.weight_decay = o->wd, .accept_timeout_ms = 120000, .byzantine_ranks = byz,
				.init_model = init, .d = d, .log = stderr};
	pn_agg_config_init(&jc.rule, o->n, d, (pn_rule)pn_rule_from_name(o->rule));
	jc.rule.f = o->f;
	jc.rule.m = o->m;
	jc.rule.beta = o->beta;
	jc.rule.r = o->r;
	jc.rule.lambda = o->lambda;
	jc.rule.flag_mode = strcmp(o->mode, "converged") == 0 ? PN_FLAG_CONVERGED : PN_FLAG_REFERENCE;
	jc.rule.threads = 1; /* 2 cores shared with n workers */
	jc.code_kind = pn_code_kind_from_name(o->code);
	jc.s = o->s;
	run_ctx rc = {.o = o, .job = job, .last_acc = NAN, .t0 = 0};
	FILE *json = NULL;
	if (o->json) {
		json = strcmp(o->json, "-") == 0 ? stdout : fopen(o->json, "w");
		if (!json) {
			fprintf(stderr, "pennant-train: cannot write %s\n", o->json);
			free(init);
			return 2;
		}
		rc.json = json;
		fprintf(json, "{\"config\":{\"workers\":%d,\"rule\":\"%s\",\"code\":\"%s\",\"s\":%d,"
			      "\"attack\":\"%s\",\"byzantine\":%d,\"backend\":\"%s\",\"model\":\"%s\","
			      "\"rounds\":%lld,\"pipelining\":%s},\"rounds\":[",
			o->n, o->rule, o->code, o->s, o->attack, o->byz_count, o->backend, o->model,
			(long long)o->rounds, o->pipelining ? "true" : "false");
	}
	jc.on_round = on_round;
	jc.on_round_ctx = &rc;
	char desc[128];
	pn_model_describe(&job->model, desc, sizeof desc);
	fprintf(stderr, "pennant-train: %s, %d workers over %s, rule %s, code %s(s=%d), %lld rounds\n",
		desc, o->n, o->backend, o->rule, o->code, o->s, (long long)o->rounds);
	pn_agg_job_result res;
	int rcode, bad = 0;
	if (slow) {
		local_ctx lc = {o, job, byz, slow};
		rcode = pn_run_local(&jc, local_worker, &lc, &res, &bad, err, sizeof err);
		if (bad > (o->kill_rank >= 0))
			fprintf(stderr, "pennant-train: %d worker(s) did not exit cleanly\n", bad);
	} else {
		rcode = pn_aggregator_run(&jc, &res, err, sizeof err);
	}
	if (rcode)
		fprintf(stderr, "pennant-train: aggregator: %s\n", err);
	double loss = NAN, acc = NAN;
	if (res.model) {
		eval(&rc, res.model, &loss, &acc);
		rcode |= save_model(o, res.model, d);
	}
	printf("\nfinal: %lld rounds (%lld skipped) in %.1f s, test loss %.4f, test accuracy %.4f\n",
	       (long long)res.rounds_done, (long long)res.rounds_skipped, res.t_total_s, loss, acc);
	printf("worker  trust  flagged  straggled  role\n");
	for (int i = 0; res.trust && i < o->n; i++) {
		char gone[48] = "";
		if (res.gone_at[i] >= 0)
			snprintf(gone, sizeof gone, ", gone at round %lld", (long long)res.gone_at[i]);
		else if (res.gone_at[i] == -2)
			snprintf(gone, sizeof gone, ", never joined");
		printf("%6d  %5.2f  %7d  %9d  %s%s\n", i, res.trust[i], res.flagged[i], res.straggled[i],
		       byz ? (byz[i] ? "byzantine" : "honest") : "-", gone);
	}
	printf("transport: %llu reads, %.1f MB pulled, %llu retransmits, %llu dropped frames/requests\n",
	       (unsigned long long)res.tp_stats.reads_completed, res.tp_stats.bytes_read / 1e6,
	       (unsigned long long)res.tp_stats.retransmits,
	       (unsigned long long)(res.tp_stats.drop_malformed + res.tp_stats.drop_bad_token +
				    res.tp_stats.drop_unknown_peer + res.tp_stats.drop_bad_key +
				    res.tp_stats.drop_out_of_bounds + res.tp_stats.drop_duplicate));
	if (json) {
		fprintf(json, "],\"final\":{\"rounds\":%lld,\"skipped\":%lld,\"time_s\":%.4f,"
			      "\"test_loss\":%.6g,\"test_acc\":%.6g,\"error\":%s%s%s},\"workers\":[",
			(long long)res.rounds_done, (long long)res.rounds_skipped, res.t_total_s,
			isnan(loss) ? -1.0 : loss, isnan(acc) ? -1.0 : acc, rcode ? "\"" : "",
			rcode ? err : "null", rcode ? "\"" : "");
		for (int i = 0; res.trust && i < o->n; i++)
			fprintf(json, "%s{\"rank\":%d,\"trust\":%.4f,\"flagged\":%d,\"straggled\":%d,"
				      "\"gone_at_round\":%lld,\"byzantine\":%s}", i ? "," : "", i, res.trust[i],
				res.flagged[i], res.straggled[i], (long long)res.gone_at[i],
				byz && byz[i] ? "true" : "false");
		fprintf(json, "]}\n");
		if (json != stdout)
			fclose(json);
	}
	pn_model_ws_free(rc.eval_ws);
	pn_agg_job_result_free(&res);
	free(init);
	return rcode ? 1 : 0;
}

static int run_reference(opts *o, fmnist_job *job)
{
	size_t d = job->model.nparams;
	float *w = malloc(sizeof(float) * d), *v = calloc(d, sizeof(float)), *g = malloc(sizeof(float) * d);
	if (!w || !v || !g || fmnist_job_prepare(job, false))
		return 1;
	pn_model_init_params(&job->model, w, o->seed);
	pn_sgd sgd = {.lr = o->lr, .momentum = o->momentum, .weight_decay = o->wd};
	run_ctx rc = {.o = o, .job = job};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int64_t r = 0; r < o->rounds; r++) {
		pn_round_record rec = {.round = r, .test_acc = NAN, .test_loss = NAN};
		rec.loss = fmnist_full_gradient(job, (uint64_t)r, w, g);
		pn_sgd_step(&sgd, w, v, g, d);
		rec.finished = o->n;
		on_round(&rc, w, &rec);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double loss, acc;
	eval(&rc, w, &loss, &acc);
	int saved = save_model(o, w, d);
	printf("\nreference: %lld rounds in %.1f s, test loss %.4f, test accuracy %.4f\n",
	       (long long)o->rounds, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec),
	       loss, acc);
	if (o->json) {
		FILE *f = strcmp(o->json, "-") == 0 ? stdout : fopen(o->json, "w");
		if (f) {
			fprintf(f, "{\"reference\":true,\"rounds\":%lld,\"test_loss\":%.6g,\"test_acc\":%.6g}\n",
				(long long)o->rounds, loss, acc);
			if (f != stdout)
				fclose(f);
		}
	}
	pn_model_ws_free(rc.eval_ws);
	free(w), free(v), free(g);
	return saved;
}

/* Can this host run DPDK over memif? Asked in a child so that EAL initialisation (which
 * forbids a later fork) never happens in the launcher itself. */
static bool dpdk_usable(void)
{
	if (!strstr(pn_tp_backends_available(), "dpdk"))
		return false;
	char dir[] = "/tmp/pennant-probe-XXXXXX";
	if (!mkdtemp(dir))
		return false;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		char opt[512];
		snprintf(opt, sizeof opt,
			 "vdev=net_memif0,role=server,id=0,socket=%s/p.sock,socket-abstract=no;mem=no-huge:128;"
			 "mbufs=1023;prefix=pn-probe-%d", dir, (int)getpid());
		pn_tp_config c = {.backend = "dpdk", .node_id = 0, .job_token = 1, .options = opt};
		char err[256];
		pn_tp_ctx *ctx = pn_tp_open(&c, err, sizeof err);
		pn_tp_close(ctx);
		_exit(ctx ? 0 : 1);
	}
	int st = 1;
	if (pid > 0)
		waitpid(pid, &st, 0);
	char sock[96];
	snprintf(sock, sizeof sock, "%s/p.sock", dir);
	unlink(sock);
	rmdir(dir);
	return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv)
{
	opts o = {.role = "local", .n = 15, .byz_count = 3, .attack = "uniform", .rule = "flag",
		  .mode = "reference", .code = NULL, .wait = NULL, .pull_policy = "round-robin",
		  .f = -1, .r = 8, .s = 2, .rounds = 150, .batch = 32, .eval_every = 10, .lr = 0.05,
		  .momentum = 0.9, .wd = 1e-4, .deadline_ms = 1000, .model = "mlp", .data = PN_FMNIST_DIR,
		  .backend = "auto", .listen = NULL, .seed = 1, .pipelining = true, .kill_rank = -1,
		  .kill_round = -1, .rank = -1};
	const char *prog = basename(argv[0]);
	if (strcmp(prog, "pennant-aggregator") == 0)
		o.role = "aggregator";
	else if (strcmp(prog, "pennant-worker") == 0)
		o.role = "worker";
	const char *tok = getenv("PENNANT_JOB_TOKEN");
	o.token = tok ? strtoull(tok, NULL, 0) : 0x50454e4eULL;
	enum { O_ROLE = 256, O_N, O_ROUNDS, O_MODEL, O_BATCH, O_LR, O_MOM, O_WD, O_DATA, O_EVAL, O_SEED,
	       O_RULE, O_F, O_R, O_LAMBDA, O_MODE, O_M, O_BETA, O_CODE, O_S, O_WAIT, O_DEADLINE, O_PULL,
	       O_WIN, O_WINT, O_PIPE, O_BYZ, O_BYZR, O_ATTACK, O_STRAG, O_KILLR, O_KILLN, O_BACKEND,
	       O_TPO, O_LISTEN, O_CONNECT, O_RANK, O_TOKEN, O_JSON, O_QUIET, O_REF, O_SAVE };
	static const struct option lo[] = {
		{"role", 1, 0, O_ROLE}, {"workers", 1, 0, O_N}, {"rounds", 1, 0, O_ROUNDS},
		{"model", 1, 0, O_MODEL}, {"batch", 1, 0, O_BATCH}, {"lr", 1, 0, O_LR},
		{"momentum", 1, 0, O_MOM}, {"weight-decay", 1, 0, O_WD}, {"data", 1, 0, O_DATA},
		{"eval-every", 1, 0, O_EVAL}, {"seed", 1, 0, O_SEED}, {"rule", 1, 0, O_RULE},
		{"f", 1, 0, O_F}, {"r", 1, 0, O_R}, {"lambda", 1, 0, O_LAMBDA}, {"mode", 1, 0, O_MODE},
		{"m", 1, 0, O_M}, {"beta", 1, 0, O_BETA}, {"code", 1, 0, O_CODE}, {"s", 1, 0, O_S},
		{"wait", 1, 0, O_WAIT}, {"deadline-ms", 1, 0, O_DEADLINE}, {"pull-policy", 1, 0, O_PULL},
		{"window", 1, 0, O_WIN}, {"window-total", 1, 0, O_WINT}, {"pipelining", 1, 0, O_PIPE},
		{"byzantine", 1, 0, O_BYZ}, {"byzantine-ranks", 1, 0, O_BYZR}, {"attack", 1, 0, O_ATTACK},
		{"straggle", 1, 0, O_STRAG}, {"kill-rank", 1, 0, O_KILLR}, {"kill-round", 1, 0, O_KILLN},
		{"backend", 1, 0, O_BACKEND}, {"tp-options", 1, 0, O_TPO}, {"listen", 1, 0, O_LISTEN},
		{"connect", 1, 0, O_CONNECT}, {"rank", 1, 0, O_RANK}, {"token", 1, 0, O_TOKEN},
		{"json", 1, 0, O_JSON}, {"save-model", 1, 0, O_SAVE}, {"quiet", 0, 0, O_QUIET}, {"reference", 0, 0, O_REF},
		{"help", 0, 0, 'h'}, {0, 0, 0, 0},
	};
	int c;
	char *end = NULL;
#define NUM(field, conv) (o.field = conv, (*end ? (fprintf(stderr, "pennant-train: bad number '%s'\n", optarg), exit(2)) : (void)0))
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_ROLE: o.role = optarg; break;
		case O_REF: o.role = "reference"; break;
		case O_N: NUM(n, (int)strtol(optarg, &end, 10)); break;
		case O_ROUNDS: NUM(rounds, strtoll(optarg, &end, 10)); break;
		case O_MODEL: o.model = optarg; break;
		case O_BATCH: NUM(batch, (int)strtol(optarg, &end, 10)); break;
		case O_LR: NUM(lr, strtod(optarg, &end)); break;
		case O_MOM: NUM(momentum, strtod(optarg, &end)); break;
		case O_WD: NUM(wd, strtod(optarg, &end)); break;
		case O_DATA: o.data = optarg; break;
		case O_EVAL: NUM(eval_every, (int)strtol(optarg, &end, 10)); break;
		case O_SEED: NUM(seed, strtoull(optarg, &end, 10)); break;
		case O_RULE: o.rule = optarg; break;
		case O_F: NUM(f, (int)strtol(optarg, &end, 10)); break;
		case O_R: NUM(r, (int)strtol(optarg, &end, 10)); break;
		case O_LAMBDA: NUM(lambda, strtod(optarg, &end)); break;
		case O_MODE: o.mode = optarg; break;
		case O_M: NUM(m, (int)strtol(optarg, &end, 10)); break;
		case O_BETA: NUM(beta, strtod(optarg, &end)); break;
		case O_CODE: o.code = optarg; break;
		case O_S: NUM(s, (int)strtol(optarg, &end, 10)); break;
		case O_WAIT: o.wait = optarg; break;
		case O_DEADLINE: NUM(deadline_ms, strtod(optarg, &end)); break;
		case O_PULL: o.pull_policy = optarg; break;
		case O_WIN: NUM(window_per_worker, (int)strtol(optarg, &end, 10)); break;
		case O_WINT: NUM(window_total, (int)strtol(optarg, &end, 10)); break;
		case O_PIPE:
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "pennant-train: --pipelining is on or off\n");
				return 2;
			}
			o.pipelining = strcmp(optarg, "on") == 0;
			break;
		case O_BYZ: NUM(byz_count, (int)strtol(optarg, &end, 10)); break;
		case O_BYZR: o.byz_ranks = optarg; break;
		case O_ATTACK: o.attack = optarg; break;
		case O_STRAG: {
			char *colon = strchr(optarg, ':');
			if (!colon) {
				fprintf(stderr, "pennant-train: --straggle RANKS:SPEC (e.g. 4,7:exp:200)\n");
				return 2;
			}
			*colon = 0;
			o.straggle_ranks = optarg;
			o.straggle_delay = colon + 1;
			break;
		}
		case O_KILLR: NUM(kill_rank, (int)strtol(optarg, &end, 10)); break;
		case O_KILLN: NUM(kill_round, strtoll(optarg, &end, 10)); break;
		case O_BACKEND: o.backend = optarg; break;
		case O_TPO: o.tp_options = optarg; break;
		case O_LISTEN: o.listen = optarg; break;
		case O_CONNECT: o.connect = optarg; break;
		case O_RANK: NUM(rank, (int)strtol(optarg, &end, 10)); break;
		case O_TOKEN: NUM(token, strtoull(optarg, &end, 0)); break;
		case O_JSON: o.json = optarg; break;
		case O_SAVE: o.save_model = optarg; break;
		case O_QUIET: o.quiet = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "pennant-train: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	/* Launchers: rank 0 is the aggregator, rank k the worker k-1. */
	int lrank, lsize;
	if ((env_int("OMPI_COMM_WORLD_RANK", &lrank) && env_int("OMPI_COMM_WORLD_SIZE", &lsize)) ||
	    (env_int("SLURM_PROCID", &lrank) && env_int("SLURM_NTASKS", &lsize)) ||
	    (env_int("PMIX_RANK", &lrank) && env_int("PMIX_SIZE", &lsize))) {
		if (strcmp(o.role, "local") == 0)
			o.role = lrank == 0 ? "aggregator" : "worker";
		if (o.rank < 0)
			o.rank = lrank - 1;
		o.n = lsize - 1;
	}
	bool local = strcmp(o.role, "local") == 0;
	if (strcmp(o.role, "local") && strcmp(o.role, "aggregator") && strcmp(o.role, "worker") &&
	    strcmp(o.role, "reference")) {
		fprintf(stderr, "pennant-train: unknown role '%s'\n", o.role);
		return 2;
	}
	if (o.n < 1 || o.n > 1000 || o.rounds < 1 || o.batch < 1 || !(o.lr > 0) || o.s < 0) {
		fprintf(stderr, "pennant-train: need workers in [1,1000], rounds >= 1, batch >= 1, lr > 0, s >= 0\n");
		return 2;
	}
	if (pn_rule_from_name(o.rule) < 0) {
		fprintf(stderr, "pennant-train: unknown rule '%s'\n", o.rule);
		return 2;
	}
	if (pn_byzantine_from_name(o.attack) <= 0) {
		fprintf(stderr, "pennant-train: unknown attack '%s'\n", o.attack);
		return 2;
	}
	if (strcmp(o.mode, "reference") && strcmp(o.mode, "converged")) {
		fprintf(stderr, "pennant-train: --mode is reference or converged\n");
		return 2;
	}
	/* Robust rules want every honest message: wait for all up to the deadline, then
	 * decode what the code allows. The mean is the code's decode: stop at its threshold. */
	if (!o.wait)
		o.wait = strcmp(o.rule, "mean") == 0 ? "code" : "all";
	if (!o.code)
		o.code = o.s > 0 && o.n % (o.s + 1) == 0 ? "fractional" : "uncoded";
	if (pn_code_kind_from_name(o.code) < 0) {
		fprintf(stderr, "pennant-train: unknown code '%s'\n", o.code);
		return 2;
	}
	if (strcmp(o.code, "uncoded") == 0 && strcmp(o.wait, "code") == 0)
		o.s = 0;
	bool byz[o.n], slow[o.n];
	memset(byz, 0, sizeof byz);
	memset(slow, 0, sizeof slow);
	char err[512];
	if (o.byz_ranks) {
		int k = parse_ranks(o.byz_ranks, o.n, byz, err, sizeof err);
		if (k < 0) {
			fprintf(stderr, "pennant-train: --byzantine-ranks: %s\n", err);
			return 2;
		}
		o.byz_count = k;
	} else if (local) {
		if (o.byz_count < 0 || o.byz_count >= o.n) {
			fprintf(stderr, "pennant-train: --byzantine must be in [0, %d)\n", o.n);
			return 2;
		}
		uint64_t s = o.seed * 7919 + 17;
		for (int k = 0; k < o.byz_count;) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			int r = (int)(s % (uint64_t)o.n);
			if (!byz[r]) {
				byz[r] = true;
				k++;
			}
		}
	}
	if (o.straggle_ranks && parse_ranks(o.straggle_ranks, o.n, slow, err, sizeof err) < 0) {
		fprintf(stderr, "pennant-train: --straggle: %s\n", err);
		return 2;
	}
	if (o.f < 0)
		o.f = o.byz_count;
	if (!o.listen)
		o.listen = local ? "127.0.0.1:0" : "0.0.0.0:7470";
	if (strcmp(o.role, "worker") == 0 && (!o.connect || o.rank < 0 || o.rank >= o.n)) {
		fprintf(stderr, "pennant-train: a worker needs --connect ADDR and --rank in [0, %d)\n", o.n);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(o.backend, "auto") == 0) {
		/* the demo's default: DPDK over memif when this host can run it, else TCP */
		o.backend = local && strcmp(o.role, "reference") && dpdk_usable() ? "dpdk" : "tcp";
		if (local)
			fprintf(stderr, "pennant-train: backend %s (%s)\n", o.backend,
				strcmp(o.backend, "dpdk") == 0 ? "DPDK over net_memif"
							       : "DPDK/memif not usable here, TCP fallback");
	}
	if (local && strcmp(o.backend, "dpdk") == 0 && !o.tp_options) {
		if (o.n > 16) {
			fprintf(stderr, "pennant-train: the local memif topology gives the aggregator one DPDK "
					"port per worker, at most 16; use --backend tcp, or --tp-options for "
					"another DPDK topology (e.g. af_packet)\n");
			return 2;
		}
		/* abstract socket names: nothing on disk, gone with the process even if killed */
		snprintf(o.memif_dir, sizeof o.memif_dir, "pennant-memif-%d", (int)getpid());
		o.listen = "10.89.0.250:7000";
	}
	fmnist_job job;
	if (fmnist_job_init(&job, o.data, o.model, o.n, o.batch, o.seed, err, sizeof err)) {
		fprintf(stderr, "pennant-train: %s\n", err);
		return 1;
	}
	int rc;
	if (strcmp(o.role, "reference") == 0)
		rc = run_reference(&o, &job);
	else if (strcmp(o.role, "worker") == 0)
		rc = run_worker(&o, &job, byz[o.rank], slow[o.rank], -1);
	else if (strcmp(o.role, "aggregator") == 0)
		rc = run_aggregator(&o, &job, o.byz_ranks ? byz : NULL, NULL);
	else {
		if (o.byz_count)
			fprintf(stderr, "pennant-train: byzantine workers (%s): ", o.attack);
		for (int i = 0; i < o.n && o.byz_count; i++)
			if (byz[i])
				fprintf(stderr, "%d ", i);
		if (o.byz_count)
			fprintf(stderr, "\n");
		rc = run_aggregator(&o, &job, byz, slow);
	}
	fmnist_job_free(&job);
	return rc;
}
