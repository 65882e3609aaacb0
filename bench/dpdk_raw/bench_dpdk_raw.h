/* pennant-bench-dpdk-raw: pull throughput of the dpdk backend against a raw frame blast
 * over the same vdev in the same run (rounds alternate raw, pull, raw, pull, ...). */
#ifndef PN_BENCH_DPDK_RAW_H
#define PN_BENCH_DPDK_RAW_H

#include "secret.h"
#include "pennant/transport.h"

#include <stddef.h>
#include <stdint.h>


struct bench_opts {
	const char *role;      /* "reader" or "target" */
	const char *options;   /* dpdk backend options */
	const char *addr;      /* target: listen here; reader: connect here */
	unsigned node;
	size_t size;           /* region size = bytes per round */
	int rounds;
	int outstanding;       /* reads in flight */
	size_t chunk;          /* bytes per read; 0 = 4 x preferred chunk */
	const char *json;      /* path, "-" for stdout (the table then goes to stderr) */
	const char *label;
	pn_secret secret;      /* PENNANT_JOB_TOKEN or --token-file: both roles need the same */
};

/* -1 to run, else the exit status (0 after --help/--version, 2 when refused) */
int bench_parse(int argc, char **argv, struct bench_opts *o);
/* The dpdk context of node_id with the options and secret given; NULL with the reason on
 * stderr after "who: ". */
pn_tp_ctx *bench_open(const struct bench_opts *o, uint32_t node_id, const char *who);
/* The two roles, on the context main opened for them (main closes it). Exit status. */
int bench_target(const struct bench_opts *o, pn_tp_ctx *ctx);
int bench_reader(const struct bench_opts *o, pn_tp_ctx *ctx);
double bench_now_s(void);

/* copy_limit.c: single-core memcpy of frame-sized blocks into a landing buffer */
struct copy_limit;
struct copy_limit *copy_limit_new(size_t size, uint32_t payload);
void copy_limit_free(struct copy_limit *c);
double copy_limit_round(struct copy_limit *c); /* Gbit/s */

#endif
