/* pennant-bench-dpdk-raw: see bench_dpdk_raw.h and scripts/dpdk-bench. */
#include "bench_dpdk_raw.h"

#include <string.h>

int main(int argc, char **argv)
{
	struct bench_opts o;
	int st = bench_parse(argc, argv, &o);
	if (st >= 0)
		return st;
	return strcmp(o.role, "target") ? bench_reader(&o) : bench_target(&o);
}
