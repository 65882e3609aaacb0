/* pennant-bench-round: where a round's time goes, pipelining on vs off, in one run.
 *
 * Synthetic workers (their gradients are resident before the round starts, so the
 * numbers are the aggregator's: pulls, Gram/rule work, solve, combination pass with the
 * fused SGD step, publish). For each (n, d) and pipelining off/on: round p50/p99 and
 * the breakdown, and the overlap efficiency (pull + aggregation work) / round time:
 * 1.0 means the two ran back to back, up to 2.0 when they fully overlap. */
#include "json.h"
#include "bench_cli.h"
#include "secret.h"
#include "synth_grad.h"
#include "cpu_busy.h"
#include "version.h"
#include "memif_options.h"
#include "pennant/job.h"
#include "agg/agg_internal.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern void openblas_set_num_threads(int);

typedef struct bench_opts {
	int ns[4], nn;
	double ds[6];
	int nd, rounds, warmup, agg_threads;
	const char *backend, *tp_options, *rule;
	bool json, memif;
	int job_pid; /* --memif: names the sockets and prefixes */
} bench_opts;

static const bench_opts *g_opts;
static pn_secret g_secret; /* random per run; the forked workers inherit it in memory */

static int worker_main(void *ctx, int rank, const char *addr)
{
	char memif_opts[512];
	if (g_opts->memif)
		bench_memif_options(0, *(size_t *)ctx, (uint32_t)rank + 1, g_opts->job_pid, memif_opts, sizeof memif_opts);
	openblas_set_num_threads(1);
	size_t d = *(size_t *)ctx;
	bench_synth s = {.d = d, .seed = (uint64_t)rank + 1};
	pn_grad_source src = {.ctx = &s, .d = d, .compute = bench_synth_compute};
	pn_worker_config wc = {.tp = {.backend = g_opts->backend, .node_id = (uint32_t)rank + 1,
				      .secret = g_secret.bytes, .secret_len = g_secret.len,
				      .options = g_opts->memif ? memif_opts : g_opts->tp_options},
			       .connect = addr, .rank = rank, .connect_timeout_ms = 60000};
	wc.faults.exit_at_round = -1;
	return pn_worker_run(&wc, &src) == 0 ? 0 : 1;
}

/* The machine's CPU work over the measured rounds (every process: the workers share the
 * cores here), from one round's end to the next. */
typedef struct cpu_span {
	double busy_s, wall_s;
	int rounds;
} cpu_span;

typedef struct collect {
	int cap, count, warmup;
	pn_round_record *rec;
	cpu_span cpu;
	double last_busy_s, last_wall_s; /* at the previous round's end; busy < 0: none */
} collect;

static void on_round(void *ctx, const float *model, pn_round_record *rec)
{
	(void)model;
	collect *c = ctx;
	double busy = bench_cpu_busy_s(), wall = pn_now_s();
	if (rec->round >= c->warmup && c->count < c->cap) {
		c->rec[c->count++] = *rec;
		if (busy >= 0 && c->last_busy_s >= 0) {
			c->cpu.busy_s += busy - c->last_busy_s;
			c->cpu.wall_s += wall - c->last_wall_s;
			c->cpu.rounds++;
		}
	}
	c->last_busy_s = busy, c->last_wall_s = wall;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(const collect *c, size_t field_off, double q)
{
	double *v = malloc(sizeof(double) * (size_t)c->count);
	if (!v)
		return NAN;
	for (int i = 0; i < c->count; i++)
		v[i] = *(const double *)((const char *)&c->rec[i] + field_off);
	qsort(v, (size_t)c->count, sizeof *v, cmp_d);
	int k = (int)ceil(q * c->count) - 1;
	double x = v[k < 0 ? 0 : k];
	free(v);
	return x;
}

/* One job. --memif runs it in a child process (EAL is process-global: one dpdk context per
 * process, so each job needs a fresh one), which sends its round records back on a pipe. */
static int run_job(pn_agg_job_config *jc, bench_opts *o, size_t *d, collect *col, char *err, size_t errlen)
{
	pn_agg_job_result res;
	int bad = 0;
	if (!o->memif) {
		int rc = pn_run_local(jc, worker_main, d, &res, &bad, err, errlen);
		pn_agg_job_result_free(&res);
		return rc;
	}
	int fd[2];
	if (pipe(fd)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL); /* the forked processes must not repeat buffered output */
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(fd[0]), close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		close(fd[0]);
		char opts[4096];
		o->job_pid = (int)getpid(); /* this job's sockets and file prefixes */
		bench_memif_options(jc->n, *d, 0, o->job_pid, opts, sizeof opts);
		jc->tp.options = opts;
		int rc = pn_run_local(jc, worker_main, d, &res, &bad, err, errlen);
		if (rc) {
			fprintf(stderr, "pennant-bench-round: n=%d d=%zu: %s\n", jc->n, *d, err);
			_exit(1);
		}
		size_t len = (size_t)col->count * sizeof *col->rec;
		_exit(write(fd[1], &col->count, sizeof col->count) == (ssize_t)sizeof col->count &&
			       write(fd[1], col->rec, len) == (ssize_t)len &&
			       write(fd[1], &col->cpu, sizeof col->cpu) == (ssize_t)sizeof col->cpu
		       ? 0 : 1);
	}
	close(fd[1]);
	int count = 0;
	size_t got = 0, want = (size_t)col->cap * sizeof *col->rec;
	ssize_t k = read(fd[0], &count, sizeof count);
	if (k == (ssize_t)sizeof count && count >= 0 && count <= col->cap) {
		want = (size_t)count * sizeof *col->rec;
		while (got < want && (k = read(fd[0], (char *)col->rec + got, want - got)) > 0)
			got += (size_t)k;
		if (got == want && read(fd[0], &col->cpu, sizeof col->cpu) != (ssize_t)sizeof col->cpu)
			col->cpu = (cpu_span){0};
	}
	close(fd[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) || got != want) {
		snprintf(err, errlen, "the memif job's process failed (status %d)", st);
		return -1;
	}
	col->count = count;
	return 0;
}

#define P50(c, f) pct(c, offsetof(pn_round_record, f), 0.5)
#define P99(c, f) pct(c, offsetof(pn_round_record, f), 0.99)

static void usage(FILE *o)
{
	fprintf(o, "usage: pennant-bench-round [--n 4,8,15] [--d 1e5,1e6,1e7] [--rounds N] [--warmup N]\n"
		   "                           [--rule flag] [--agg-threads N] [--backend tcp] [--tp-options S] [--memif] [--json]\n"
		   "Round-time breakdown (pull, aggregate, step, publish) and overlap efficiency with\n"
		   "pipelining off and on, measured back to back. d up to 2.5e7 (--d 2.5e7): memory\n"
		   "≈ 4·n·d·4 bytes (double-buffered landing + workers).\n"
		   "--agg-threads N: the aggregator's engine threads (default: every online CPU, as the job).\n"
		   "--memif: backend dpdk over the local memif topology (one port per worker on the\n"
		   "aggregator, no hugepages; n ≤ 16; needs root like pennant-train's default demo).\n");
}

static int parse_list(const char *s, double *v, int max)
{
	int n = 0;
	char *end;
	while (*s && n < max) {
		v[n++] = strtod(s, &end);
		if (end == s || !(v[n - 1] >= 1))
			return -1;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return n;
}

int main(int argc, char **argv)
{
	bench_opts o = {.ns = {4, 8, 15}, .nn = 3, .ds = {1e5, 1e6, 1e7}, .nd = 3, .rounds = 12,
			.warmup = 2, .agg_threads = 0, .backend = "tcp", .tp_options = "", .rule = "flag"};
	static const struct option lo[] = {
		{"n", 1, 0, 'n'}, {"d", 1, 0, 'd'}, {"rounds", 1, 0, 'r'}, {"warmup", 1, 0, 'w'},
		{"rule", 1, 0, 'R'}, {"agg-threads", 1, 0, 't'}, {"backend", 1, 0, 'b'},
		{"tp-options", 1, 0, 'o'}, {"json", 0, 0, 'j'}, {"memif", 0, 0, 'm'}, {0, 0, 0, 0},
	};
	struct bench_cli cli = {.prog = "pennant-bench-round", .usage = usage, .opts = lo};
	int c, status;
	double tmp[4];
	while ((c = bench_cli_next(&cli, argc, argv, &status)) != -1) {
		switch (c) {
		case BENCH_CLI_EXIT: return status;
		case 'n':
			if ((o.nn = parse_list(optarg, tmp, 4)) < 1)
				goto bad;
			for (int i = 0; i < o.nn; i++)
				o.ns[i] = (int)tmp[i];
			break;
		case 'd': if ((o.nd = parse_list(optarg, o.ds, 6)) < 1) goto bad; break;
		case 'r': o.rounds = atoi(optarg); if (o.rounds < 1) goto bad; break;
		case 'w': o.warmup = atoi(optarg); if (o.warmup < 0) goto bad; break;
		case 'R': o.rule = optarg; if (pn_rule_from_name(o.rule) < 0) goto bad; break;
		case 't': o.agg_threads = atoi(optarg); if (o.agg_threads < 0) goto bad; break; /* 0: all CPUs */
		case 'b': o.backend = optarg; break;
		case 'o': o.tp_options = optarg; break;
		case 'j': o.json = true; break;
		case 'm': o.memif = true; o.backend = "dpdk"; break;
		default: goto bad;
		}
	}
	char serr[256];
	if (pn_secret_random(&g_secret, 32, serr, sizeof serr)) {
		fprintf(stderr, "pennant-bench-round: %s\n", serr);
		return 1;
	}
	for (int i = 0; o.memif && i < o.nn; i++)
		if (o.ns[i] > BENCH_MEMIF_MAX_WORKERS) {
			fprintf(stderr, "pennant-bench-round: --memif: n = %d > %d (one aggregator port per worker)\n",
				o.ns[i], BENCH_MEMIF_MAX_WORKERS);
			return 2;
		}
	if (o.agg_threads == 0)
		o.agg_threads = pn_online_cpus(); /* the engine's own default: every online CPU */
	o.job_pid = (int)getpid();
	g_opts = &o;
	signal(SIGPIPE, SIG_IGN);
	openblas_set_num_threads(1);
	FILE *tab = o.json ? stderr : stdout;
	fprintf(tab, "# pennant-bench-round: backend %s, rule %s, %d rounds after %d warm-up, %d aggregation thread(s)\n",
		o.backend, o.rule, o.rounds, o.warmup, o.agg_threads);
	fprintf(tab, "%4s %10s %5s %9s %9s %9s %9s %9s %9s %9s %9s %8s %8s %8s %7s %9s\n", "n", "d", "pipe", "round50",
		"round99", "pull50", "blocks50", "drain50", "solve+c", "aggr50", "publish", "overlap",
		"vs max", "GB/s in", "cpu", "cpu floor");
	pn_json j;
	pn_json_init(&j, stdout);
	if (o.json) {
		pn_json_begin_object(&j);
		pn_json_provenance(&j, "pennant-bench-round");
		pn_json_kstring(&j, "backend", o.backend);
		pn_json_kstring(&j, "rule", o.rule);
		pn_json_kint(&j, "rounds", o.rounds);
		pn_json_kint(&j, "warmup", o.warmup);
		pn_json_kint(&j, "agg_threads", o.agg_threads);
		pn_json_key(&j, "results");
		pn_json_begin_array(&j);
	}
	for (int a = 0; a < o.nn; a++)
		for (int b = 0; b < o.nd; b++)
			for (int pipe = 0; pipe <= 1; pipe++) {
				int n = o.ns[a];
				size_t d = (size_t)o.ds[b];
				float *init = calloc(d, sizeof(float));
				collect col = {.cap = o.rounds, .warmup = o.warmup, .last_busy_s = -1,
					       .rec = calloc((size_t)o.rounds, sizeof(pn_round_record))};
				pn_agg_job_config jc = {.tp = {.backend = o.backend, .node_id = 0,
							       .secret = g_secret.bytes,
							       .secret_len = g_secret.len,
							       .options = o.tp_options},
							.listen = o.memif ? BENCH_MEMIF_AGG_IP ":7000" : "127.0.0.1:0", .n = n, .rounds = o.rounds + o.warmup,
							.seed = 1, .wait = "all", .deadline_ms = 60000,
							.pull_policy = "round-robin", .pipelining = pipe, .lr = 1e-6,
							.momentum = 0.9, .accept_timeout_ms = 60000, .init_model = init,
							.d = d, .on_round = on_round, .on_round_ctx = &col};
				pn_agg_config_init(&jc.rule, n, d, (pn_rule)pn_rule_from_name(o.rule));
				jc.rule.threads = o.agg_threads;
				jc.code_kind = 0; /* uncoded */
				char err[512];
				int rc = run_job(&jc, &o, &d, &col, err, sizeof err);
				if (rc || col.count == 0) {
					fprintf(stderr, "pennant-bench-round: n=%d d=%zu: %s\n", n, d, rc ? err : "no rounds");
					free(init), free(col.rec);
					continue;
				}
				double r50 = P50(&col, t_round_s), r99 = P99(&col, t_round_s);
				double pull = P50(&col, t_pull_s), blk = P50(&col, gram_busy_s);
				double sc = P50(&col, solve_combine_s), agg = P50(&col, t_aggregate_s);
				double pub = P50(&col, t_publish_s), drain = P50(&col, drain_s);
				/* with pipelining on, block work happens during the pulls; off, after them */
				double work = pull + blk + sc;
				double overlap = work / r50;
				double gbs = (double)n * d * 4 / r50 / 1e9;
				/* the round against the longer of its two parts alone: the pull, or
				 * the aggregation (block work over the threads, then solve+combine) */
				double alone = fmax(pull, blk / o.agg_threads + sc);
				double vs_max = r50 / alone;
				/* The CPU floor: the CPU work a round cost the whole machine, spread over
				 * every core; no schedule of that work finishes a round sooner. /proc/stat
				 * counts in clock ticks (10 ms): under a second of rounds is not measured. */
				int cpus = pn_online_cpus();
				bool timed = col.cpu.wall_s >= 1.0;
				double busy = timed ? col.cpu.busy_s / (col.cpu.wall_s * cpus) : NAN;
				double floor_s = timed ? col.cpu.busy_s / col.cpu.rounds / cpus : NAN;
				fprintf(tab, "%4d %10zu %5s %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.3f %8.2f %8.2f %8.2f %6.0f%% %9.2f\n",
					n, d, pipe ? "on" : "off", r50 * 1e3, r99 * 1e3, pull * 1e3, blk * 1e3,
					drain * 1e3, sc * 1e3, agg * 1e3, pub * 1e3, overlap, vs_max, gbs,
					busy * 100, floor_s * 1e3);
				if (o.json) {
					pn_json_begin_object(&j);
					pn_json_kint(&j, "n", n);
					pn_json_kuint(&j, "d", d);
					pn_json_kbool(&j, "pipelining", pipe);
					pn_json_knumber(&j, "round_p50_s", r50);
					pn_json_knumber(&j, "round_p99_s", r99);
					pn_json_knumber(&j, "pull_p50_s", pull);
					pn_json_knumber(&j, "blocks_p50_s", blk);
					pn_json_knumber(&j, "solve_combine_p50_s", sc);
					pn_json_knumber(&j, "aggregate_p50_s", agg);
					pn_json_knumber(&j, "publish_p50_s", pub);
					pn_json_knumber(&j, "overlap_efficiency", overlap);
					pn_json_knumber(&j, "drain_p50_s", drain);
					pn_json_knumber(&j, "round_vs_max_part", vs_max);
					pn_json_knumber(&j, "cpu_busy_fraction", busy);
					pn_json_knumber(&j, "cpu_floor_s", floor_s);
					pn_json_knumber(&j, "cpu_span_s", col.cpu.wall_s);
					pn_json_knumber(&j, "ingress_gbs", gbs);
					pn_json_end_object(&j);
				}
				fflush(tab);
				free(init), free(col.rec);
			}
	if (o.json && pn_json_finish_results(&j, "pennant-bench-round") != 0)
		return 1;
	return 0;
bad:
	usage(stderr);
	return 2;
}
