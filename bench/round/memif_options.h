#ifndef PN_BENCH_ROUND_MEMIF_OPTIONS_H
#define PN_BENCH_ROUND_MEMIF_OPTIONS_H
#include <stddef.h>
#include <stdint.h>

#define BENCH_MEMIF_AGG_IP "10.89.0.250"
#define BENCH_MEMIF_MAX_WORKERS 16 /* one port per worker; a dpdk process drives ≤ 16 ports */

/* Transport options of node node_id (0: the aggregator) in a job of n workers and d floats
 * started by process job_pid (names its sockets and file prefixes). */
void bench_memif_options(int n, size_t d, uint32_t node_id, int job_pid, char *buf, size_t len);
#endif
