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

void bench_template(char *out, size_t len, const char *tmpl, unsigned rank)
{
	size_t o = 0;
	for (const char *p = tmpl; *p && o + 1 < len;) {
		if (strncmp(p, "{rank}", 6) == 0) {
			int n = snprintf(out + o, len - o, "%u", rank);
			o += n > 0 ? (size_t)n : 0;
			p += 6;
		} else {
			out[o++] = *p++;
		}
	}
	out[o < len ? o : len - 1] = '\0';
}

pn_tp_ctx *bench_open(const struct bench_opts *o, unsigned rank)
{
	char opts[1024], err[512];
	bench_template(opts, sizeof(opts), o->options, rank);
	pn_tp_config cfg = { .backend = o->backend, .node_id = rank, .secret = BENCH_SECRET, .secret_len = sizeof BENCH_SECRET - 1,
			     .options = opts };
	pn_tp_ctx *ctx = pn_tp_open(&cfg, err, sizeof(err));
	if (!ctx)
		fprintf(stderr, "pennant-bench-pull: open %s: %s\n", o->backend, err);
	return ctx;
}
