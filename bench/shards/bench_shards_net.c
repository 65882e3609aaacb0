/* pennant-bench-shards-net: the sharded job as processes (pn_run_local_shards over tcp on
 * loopback), K = 1, 2, 4 in one run. n synthetic workers (bench/common/synth_grad.h: the
 * gradients are resident, so a round is the aggregators' pulls, exchange and rule). Per K:
 * the round time (p50 over the measured rounds, seen by shard 0) next to K = 1's, each
 * shard's ingress per round (bytes it pulled / rounds) next to the unsharded ingress, and
 * the bytes of the exchange per round next to the gradient bytes one shard pulls per
 * round: the facts shard 0 READ from the K-1 others (measured), and the decisions they
 * READ back are as many bytes again (the same blob size, job/shard_facts.h).
 *   pennant-bench-shards-net [d (default 1e7)] [n (default 15)] [rounds (default 5)] [rule (krum)]
 * Every shard and worker runs on this host: with fewer cores than processes the round
 * times measure contention as much as sharding; the ingress ratios are exact. */
#include "secret.h"
#include "synth_grad.h"
#include "pennant/job.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void openblas_set_num_threads(int);

static pn_secret g_secret; /* random per run; the forked processes inherit it in memory */

static int worker_main(void *ctx, int rank, const char *addrs)
{
	openblas_set_num_threads(1);
	size_t d = *(size_t *)ctx;
	bench_synth s = {.d = d, .seed = (uint64_t)rank + 1};
	pn_grad_source src = {.ctx = &s, .d = d, .compute = bench_synth_compute};
	pn_worker_config wc = {.tp = {.backend = "tcp", .node_id = (uint32_t)rank + 1,
				      .secret = g_secret.bytes, .secret_len = g_secret.len, .options = ""},
			       .connect = addrs, .rank = rank, .connect_timeout_ms = 60000};
	wc.faults.exit_at_round = -1;
	return pn_worker_run(&wc, &src) == 0 ? 0 : 1;
}

#define WARMUP 1
#define MAX_ROUNDS 1000

typedef struct collect {
	int count;
	double t[MAX_ROUNDS];
} collect;

static void on_round(void *ctx, const float *model, pn_round_record *rec)
{
	(void)model;
	collect *c = ctx;
	if (rec->round >= WARMUP && c->count < MAX_ROUNDS)
		c->t[c->count++] = rec->t_round_s;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

typedef struct outcome {
	double round_p50;
	double ingress[PN_SHARD_MAX]; /* bytes per round */
	double exchange;              /* bytes per round shard 0 read from the others */
} outcome;

static int run_k(int K, size_t d, int n, int rounds, const char *rule, outcome *out)
{
	pn_shard_range rg[PN_SHARD_MAX];
	char err[512];
	if (pn_shard_plan(d, K, NULL, 0, rg, err, sizeof err)) {
		fprintf(stderr, "pennant-bench-shards-net: %s\n", err);
		return -1;
	}
	float *init = calloc(d, sizeof(float));
	collect *col = calloc(1, sizeof *col);
	if (!init || !col)
		return -1;
	pn_agg_job_config jc = {.tp = {.backend = "tcp", .secret = g_secret.bytes,
				       .secret_len = g_secret.len, .options = ""},
				.listen = "127.0.0.1:0", .n = n, .rounds = rounds + WARMUP, .seed = 1,
				.wait = "all", .deadline_ms = 60000, .pull_policy = "round-robin",
				.pipelining = true, .lr = 1e-6, .momentum = 0.9,
				.accept_timeout_ms = 60000, .silence_ms = 60000, .init_model = init,
				.d = d, .on_round = on_round, .on_round_ctx = col};
	pn_agg_config_init(&jc.rule, n, d, (pn_rule)pn_rule_from_name(rule));
	jc.rule.f = 1;
	jc.rule.threads = 1;
	pn_agg_job_result res;
	int bad = 0;
	int rc = pn_run_local_shards(&jc, K, rg, worker_main, &d, &res, &bad, err, sizeof err);
	if (rc || col->count == 0) {
		fprintf(stderr, "pennant-bench-shards-net: K=%d: %s\n", K, rc ? err : "no rounds");
		rc = -1;
	} else {
		qsort(col->t, (size_t)col->count, sizeof col->t[0], cmp_d);
		out->round_p50 = col->t[col->count / 2];
		double total = (double)res.rounds_done;
		for (int k = 0; k < K; k++)
			out->ingress[k] = (K == 1 ? (double)res.tp_stats.bytes_read
					   : (double)res.shard_bytes_pulled[k]) / total;
		out->exchange = (double)res.exchange_bytes / total;
	}
	pn_agg_job_result_free(&res);
	free(init), free(col);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: pennant-bench-shards-net [d (1e7)] [n (15)] [rounds (5)] [rule (krum)]\n");
		return 0;
	}
	size_t d = argc > 1 ? (size_t)strtod(argv[1], NULL) : 10000000;
	int n = argc > 2 ? atoi(argv[2]) : 15, rounds = argc > 3 ? atoi(argv[3]) : 5;
	const char *rule = argc > 4 ? argv[4] : "krum";
	if (d < 4 || n < 5 || n > 4095 || rounds < 1 || rounds > MAX_ROUNDS || pn_rule_from_name(rule) < 0) {
		fprintf(stderr, "usage: pennant-bench-shards-net [d >= 4] [n in 5..4095] [rounds 1..%d] [rule]\n",
			MAX_ROUNDS);
		return 2;
	}
	char serr[256];
	if (pn_secret_random(&g_secret, 32, serr, sizeof serr)) {
		fprintf(stderr, "pennant-bench-shards-net: %s\n", serr);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	openblas_set_num_threads(1);
	printf("sharded job as processes (tcp loopback, every process on this host): d=%zu n=%d rule=%s, "
	       "%d rounds after %d warm-up\n", d, n, rule, rounds, WARMUP);
	printf("(exchange: the facts shard 0 read per round; the decisions back are the same again)\n");
	printf("%3s %11s %9s %12s %12s %9s %12s %12s\n", "K", "round p50", "vs K=1", "max ingress",
	       "min ingress", "vs K=1", "exchange/rd", "exch/grad");
	outcome base = {0};
	int Ks[] = {1, 2, 4}, status = 0;
	for (int a = 0; a < 3; a++) {
		int K = Ks[a];
		outcome o = {0};
		if (run_k(K, d, n, rounds, rule, &o)) {
			status = 1;
			continue;
		}
		if (K == 1)
			base = o;
		double mx = 0, mn = INFINITY;
		for (int k = 0; k < K; k++)
			mx = fmax(mx, o.ingress[k]), mn = fmin(mn, o.ingress[k]);
		printf("%3d %9.1f ms %8.2fx %9.1f MB %9.1f MB %8.3fx %9.0f B %12.2e\n", K, o.round_p50 * 1e3,
		       base.round_p50 > 0 ? o.round_p50 / base.round_p50 : NAN, mx / 1e6, mn / 1e6,
		       base.ingress[0] > 0 ? mx / base.ingress[0] : NAN, o.exchange, mx > 0 ? o.exchange / mx : 0);
		for (int k = 0; K > 1 && k < K; k++)
			printf("      shard %d: ingress %.1f MB/round\n", k, o.ingress[k] / 1e6);
	}
	return status;
}
