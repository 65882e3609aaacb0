/* pennant-bench-pull: small shared helpers. */
#include "bench_pull.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

double bench_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

pn_tp_ctx *bench_open(const struct bench_opts *o, unsigned rank)
{
	char opts[1024], err[512];
	bench_expand_rank(opts, sizeof(opts), o->options, rank);
	pn_tp_config cfg = { .backend = o->backend, .node_id = rank, .options = opts,
			     .secret = o->secret.bytes, .secret_len = o->secret.len };
	pn_tp_ctx *ctx = pn_tp_open(&cfg, err, sizeof(err));
	if (!ctx)
		fprintf(stderr, "pennant-bench-pull: open %s: %s\n", o->backend, err);
	return ctx;
}
