/* pennant-bench-agg-process: the whole pennant-agg process against its parts, in one run.
 *
 * Writes a (p, d) float32 .npy, then per repetition (interleaved, so noise hits every
 * measurement alike) times
 *   - the process: posix_spawn pennant-agg --rule RULE IN -o OUT, until it exits,
 *   - one read of the input from the page cache (read(2) into a reused buffer),
 *   - the Gram pass (the engine's kernel over all blocks, on all threads),
 *   - the combination pass (Σ α_i g_i, on all threads),
 * and prints the medians, the ratio process / (read + Gram + combine) and the peak RSS
 * of the process against the input size. Nothing here asserts a timing. */
#include "json.h"
#include "bench_cli.h"
#include "version.h"
#include "pennant/agg.h"
#include "pennant/npy.h"
#include "agg/agg_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_THREADS 64
#define MAX_REPS 1000

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, cmp_d);
	return t[n / 2];
}

typedef struct gram_job {
	const float *x;
	int p;
	size_t d, b0, b1;
	double G[];
} gram_job;

static void *gram_range(void *arg)
{
	gram_job *j = arg;
	const float **rows = malloc(sizeof *rows * (size_t)j->p);
	if (!rows)
		abort();
	for (size_t b = j->b0; b < j->b1; b += PN_AGG_BLOCK) {
		size_t n = j->b1 - b < PN_AGG_BLOCK ? j->b1 - b : PN_AGG_BLOCK;
		for (int i = 0; i < j->p; i++)
			rows[i] = j->x + (size_t)i * j->d + b;
		pn_gram_block(rows, j->p, n, j->G);
	}
	free(rows);
	return NULL;
}

static void gram_pass(const float *x, int p, size_t d, int threads)
{
	pthread_t tid[MAX_THREADS];
	gram_job *job[MAX_THREADS];
	if (threads < 1 || threads > MAX_THREADS)
		threads = threads < 1 ? 1 : MAX_THREADS;
	size_t blocks = (d + PN_AGG_BLOCK - 1) / PN_AGG_BLOCK, per = (blocks + threads - 1) / threads;
	for (int t = 0; t < threads; t++) {
		size_t b0 = (size_t)t * per * PN_AGG_BLOCK, b1 = b0 + per * PN_AGG_BLOCK;
		job[t] = calloc(1, sizeof(gram_job) + sizeof(double) * (size_t)p * p);
		if (!job[t])
			abort();
		job[t]->x = x, job[t]->p = p, job[t]->d = d;
		job[t]->b0 = b0 < d ? b0 : d, job[t]->b1 = b1 < d ? b1 : d;
		if (t)
			pthread_create(&tid[t], NULL, gram_range, job[t]);
	}
	gram_range(job[0]);
	for (int t = 1; t < threads; t++)
		pthread_join(tid[t], NULL);
	for (int t = 0; t < threads; t++)
		free(job[t]);
}

/* One read of the whole file from the page cache. */
static int read_file(const char *path, unsigned char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return got == len ? 0 : -1;
}

/* Runs argv to completion; wall seconds, or NaN on failure. *maxrss_kb gets the child's
 * peak RSS. */
static double run_process(char *const *argv, long *maxrss_kb)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	double t0 = pn_now_s();
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return NAN;
	int st;
	struct rusage ru;
	if (wait4(pid, &st, 0, &ru) != pid)
		return NAN;
	double t = pn_now_s() - t0;
	*maxrss_kb = ru.ru_maxrss;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? t : NAN;
}

static void usage(FILE *o)
{
	fprintf(o, "usage: pennant-bench-agg-process [--p 15] [--d 1e7] [--rule flag] [--reps 5]\n"
		   "                                 [--threads N] [--agg PATH] [--dir DIR] [--json]\n"
		   "Times the whole pennant-agg process against one page-cache read of its input +\n"
		   "the Gram pass + the combination pass, measured in the same run; prints the ratio\n"
		   "and the process's peak RSS against the input size. --agg defaults to the\n"
		   "pennant-agg of this build tree; the input is written to DIR (default /tmp).\n");
}

int main(int argc, char **argv)
{
	int p = 15, reps = 5, threads = 0, json = 0;
	double dd = 1e7;
	const char *rule = "flag", *dir = "/tmp";
	char agg[PATH_MAX] = "";
	static const struct option lo[] = {
		{"p", required_argument, 0, 'p'},     {"d", required_argument, 0, 'd'},
		{"rule", required_argument, 0, 'R'},  {"reps", required_argument, 0, 'n'},
		{"threads", required_argument, 0, 't'}, {"agg", required_argument, 0, 'a'},
		{"dir", required_argument, 0, 'D'},   {"json", no_argument, 0, 'j'},
		{0, 0, 0, 0},
	};
	struct bench_cli cli = {.prog = "pennant-bench-agg-process", .usage = usage, .opts = lo};
	int c, status;
	while ((c = bench_cli_next(&cli, argc, argv, &status)) != -1) {
		switch (c) {
		case BENCH_CLI_EXIT: return status;
		case 'p': p = atoi(optarg); if (p < 1 || p > 1024) goto bad; break;
		case 'd': dd = strtod(optarg, NULL); if (!(dd >= 1 && dd <= 1e9)) goto bad; break;
		case 'R': rule = optarg; if (pn_rule_from_name(rule) < 0) goto bad; break;
		case 'n': reps = atoi(optarg); if (reps < 1 || reps > MAX_REPS) goto bad; break;
		case 't': threads = atoi(optarg); if (threads < 1 || threads > MAX_THREADS) goto bad; break;
		case 'a': snprintf(agg, sizeof agg, "%s", optarg); break;
		case 'D': dir = optarg; break;
		case 'j': json = 1; break;
		default: goto bad;
		}
	}
	if (!threads)
		threads = pn_online_cpus() < MAX_THREADS ? pn_online_cpus() : MAX_THREADS;
	if (!agg[0]) { /* build/bench/agg/ → build/tools/pennant-agg */
		char self[PATH_MAX - 32];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n <= 0)
			goto bad;
		self[n] = 0;
		char *slash = strrchr(self, '/');
		*slash = 0;
		snprintf(agg, sizeof agg, "%s/../../tools/pennant-agg", self);
	}
	size_t d = (size_t)dd, count = (size_t)p * d;
	float *x = malloc(count * sizeof *x), *out = malloc(d * sizeof *out);
	double *alpha = malloc(sizeof(double) * (size_t)p);
	const float **rows = malloc(sizeof *rows * (size_t)p);
	if (!x || !out || !alpha || !rows) {
		fprintf(stderr, "pennant-bench-agg-process: cannot allocate p=%d d=%zu\n", p, d);
		return 1;
	}
	uint64_t s = 88172645463325252ull;
	for (size_t k = 0; k < count; k++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		x[k] = (float)((double)(s >> 40) / (double)(1ull << 24) - 0.5);
	}
	char in_path[PATH_MAX], out_path[PATH_MAX], err[256];
	snprintf(in_path, sizeof in_path, "%s/pn-bench-process-%d.npy", dir, (int)getpid());
	snprintf(out_path, sizeof out_path, "%s/pn-bench-process-%d-out.npy", dir, (int)getpid());
	size_t shape[2] = {(size_t)p, d};
	if (pn_npy_write_f32(in_path, x, shape, 2, err, sizeof err) != 0) {
		fprintf(stderr, "pennant-bench-agg-process: %s\n", err);
		return 1;
	}
	/* The rows the parts work on are those of a page-cache read, like the process's. */
	free(x);
	pn_npy_map m;
	if (pn_npy_map_f32(in_path, &m, err, sizeof err) != 0) {
		fprintf(stderr, "pennant-bench-agg-process: %s\n", err);
		unlink(in_path);
		return 1;
	}
	size_t file_len = m.len;
	pn_npy_unmap(&m);
	unsigned char *buf = malloc(file_len);
	if (!buf || read_file(in_path, buf, file_len) != 0) {
		fprintf(stderr, "pennant-bench-agg-process: cannot read back %s\n", in_path);
		unlink(in_path);
		return 1;
	}
	const float *data = (const float *)(buf + (file_len - count * sizeof(float)));
	for (int i = 0; i < p; i++) {
		rows[i] = data + (size_t)i * d;
		alpha[i] = 1.0 / p;
	}
	char threads_s[16];
	snprintf(threads_s, sizeof threads_s, "%d", threads);
	char *pargv[] = {agg, "--rule", (char *)rule, "--threads", threads_s, in_path, "-o", out_path, NULL};
	double t_proc[MAX_REPS], t_read[MAX_REPS], t_gram[MAX_REPS], t_comb[MAX_REPS];
	long rss_kb = 0, rss_max = 0;
	int failed = 0;
	for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
		double tp = run_process(pargv, &rss_kb);
		double t0 = pn_now_s();
		int rr = read_file(in_path, buf, file_len);
		double t1 = pn_now_s();
		gram_pass(data, p, d, threads);
		double t2 = pn_now_s();
		pn_combine(rows, alpha, p, d, out, threads);
		double t3 = pn_now_s();
		if (isnan(tp) || rr != 0)
			failed = 1;
		if (r < 0)
			continue;
		t_proc[r] = tp, t_read[r] = t1 - t0, t_gram[r] = t2 - t1, t_comb[r] = t3 - t2;
		if (rss_kb > rss_max)
			rss_max = rss_kb;
	}
	unlink(in_path);
	unlink(out_path);
	if (failed) {
		fprintf(stderr, "pennant-bench-agg-process: %s failed (or a read of the input failed)\n", agg);
		return 1;
	}
	double mp = median(t_proc, reps), mr = median(t_read, reps), mg = median(t_gram, reps),
	       mc = median(t_comb, reps);
	double parts = mr + mg + mc, ratio = mp / parts;
	double in_mb = (double)file_len / 1e6, rss_mb = (double)rss_max * 1024 / 1e6;
	FILE *tab = json ? stderr : stdout;
	fprintf(tab, "# pennant-bench-agg-process: pennant-agg --rule %s, p=%d d=%zu (%.1f MB), %d thread(s), "
		     "Gram kernel %s, medians of %d\n", rule, p, d, in_mb, threads, pn_gram_kernel_name(), reps);
	fprintf(tab, "%-40s %10.1f ms\n", "pennant-agg whole process", mp * 1e3);
	fprintf(tab, "%-40s %10.1f ms\n", "one read of the input (page cache)", mr * 1e3);
	fprintf(tab, "%-40s %10.1f ms\n", "Gram pass", mg * 1e3);
	fprintf(tab, "%-40s %10.1f ms\n", "combination pass", mc * 1e3);
	fprintf(tab, "ratio process / (read + Gram + combine) = %.1f / %.1f ms = %.2fx\n", mp * 1e3,
		parts * 1e3, ratio);
	fprintf(tab, "peak RSS %.1f MB for a %.1f MB input (%.2fx)\n", rss_mb, in_mb, rss_mb / in_mb);
	if (json) {
		pn_json j;
		pn_json_init(&j, stdout);
		pn_json_begin_object(&j);
		pn_json_provenance(&j, "pennant-bench-agg-process");
		pn_json_kstring(&j, "rule", rule);
		pn_json_kint(&j, "p", p);
		pn_json_kuint(&j, "d", d);
		pn_json_kint(&j, "threads", threads);
		pn_json_kstring(&j, "kernel", pn_gram_kernel_name());
		pn_json_kint(&j, "reps", reps);
		pn_json_knumber(&j, "process_s", mp);
		pn_json_knumber(&j, "read_s", mr);
		pn_json_knumber(&j, "gram_s", mg);
		pn_json_knumber(&j, "combine_s", mc);
		pn_json_knumber(&j, "ratio_process_vs_parts", ratio);
		pn_json_knumber(&j, "input_mb", in_mb);
		pn_json_knumber(&j, "peak_rss_mb", rss_mb);
		pn_json_knumber(&j, "ratio_rss_vs_input", rss_mb / in_mb);
		pn_json_end_object(&j);
		if (pn_json_close(&j)) {
			fprintf(stderr, "pennant-bench-agg-process: writing the JSON failed\n");
			return 1;
		}
	}
	free(buf), free(out), free(alpha), free(rows);
	return 0;
bad:
	usage(stderr);
	return 2;
}
