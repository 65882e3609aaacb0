/* pennant-bench-pull: perftest-style sweep of one-sided pulls through the transport API,
 * with a same-run baseline of the raw medium for the backend under test. */
#ifndef PENNANT_BENCH_PULL_H
#define PENNANT_BENCH_PULL_H

#include "secret.h"
#include "rank_template.h"
#include "pennant/transport.h"

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_SIZES 40

struct bench_opts {
	const char *backend;
	const char *options;   /* template; {rank} -> 0 (reader) or 1 (target) */
	const char *listen;    /* forked mode: the target's listen address template */
	const char *server;    /* --server ADDR: be the target, listen there */
	const char *connect;   /* --connect ADDR: be the reader, connect there */
	size_t min_size, max_size;
	int iters;
	int lat_iters;
	uint64_t max_bytes;    /* cap on bytes moved per size (iterations shrink for big sizes) */
	int outstanding;
	const char *json;      /* path ("-": stdout, the tables then go to stderr), or NULL */
	bool baseline;
	pn_secret secret;      /* forked mode: random per run; split roles: environment or file */
};

/* One row of results. */
struct bench_row {
	size_t bytes;
	int iters, lat_iters;
	double bw_peak_mib, bw_avg_mib, bw_avg_gbit, mpps;
	double lat_min, lat_med, lat_avg, lat_p99, lat_p999; /* microseconds */
	double base_mib;   /* baseline average, 0 if none */
};

/* options.c: -1 to run, else the exit status (0 after --help/--version, 2 when refused) */
int bench_parse(int argc, char **argv, struct bench_opts *o);
int bench_iters_for(const struct bench_opts *o, size_t size);
/* Landing slots of `size` bytes that reads rotate through (same for pull and baseline, so
 * both touch the same amount of memory). */
#define BENCH_LANDING_MAX (64u << 20)
size_t bench_landing_bytes(const struct bench_opts *o);
size_t bench_slots_for(const struct bench_opts *o, size_t size);

/* target.c: serve a region until the reader says quit. Returns process exit code. */
int bench_target(const struct bench_opts *o, const char *listen_addr, int addr_fd);

struct bench_baseline;
/* reader.c: connect and sweep. rows[] gets one entry per size. The baseline (if any) runs
 * right before each size's pull, so both see the same machine load. */
int bench_reader(const struct bench_opts *o, const char *addr, const struct bench_baseline *base,
		 struct bench_row *rows, int *nrows);

/* baseline.c: raw medium baseline for a backend; NULL name if none. It may run while the
 * transport context is open (a fork from a threaded process: children must only make
 * async-signal-safe calls). */
struct bench_baseline {
	const char *backend; /* backend it is the baseline for */
	const char *name;    /* printed */
	/* Average MiB/s moving iters messages of size bytes; <0 on error. */
	double (*run)(const struct bench_opts *o, size_t size, int iters);
};
const struct bench_baseline *bench_baseline_for(const char *backend);

/* report.c */
void bench_print(FILE *f, const struct bench_opts *o, const char *baseline_name,
		 const struct bench_row *rows, int n);
int bench_write_json(const char *path, const struct bench_opts *o, const char *baseline_name,
		     const struct bench_row *rows, int n);

/* lat_clock.c: the latency pass's clock, one read per interval (the TSC where there is
 * one, as perftest's; else clock_gettime). begin (pinning the thread to its CPU for the
 * TSC), now, end (unpinning): end returns ticks per microsecond, 0 if the TSC did not
 * move forward (then time the pass again with want_tsc false). */
struct lat_clock {
	bool tsc;
	cpu_set_t saved;
	uint64_t mono0, ticks0;
};
void lat_clock_begin(struct lat_clock *k, bool want_tsc);
uint64_t lat_clock_now(const struct lat_clock *k);
double lat_clock_end(struct lat_clock *k);

/* util */
double bench_now_us(void);
pn_tp_ctx *bench_open(const struct bench_opts *o, unsigned rank);

#endif
