/* pennant-bench-dpdk-raw: see bench_dpdk_raw.h and scripts/dpdk-bench. */
#include "bench_dpdk_raw.h"

#include <stdbool.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct bench_opts o;
	int st = bench_parse(argc, argv, &o);
	if (st >= 0)
		return st;
	bool target = strcmp(o.role, "target") == 0;
	pn_tp_ctx *ctx = bench_open(&o, target ? o.node : 0, o.role);
	if (!ctx)
		return 1;
	st = target ? bench_target(&o, ctx) : bench_reader(&o, ctx);
	pn_tp_close(ctx);
	return st;
}
