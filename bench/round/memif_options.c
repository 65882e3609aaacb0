/* --memif: the local memif topology for pennant-bench-round's forked job. The aggregator
 * (node 0) gets one memif server port per worker, worker i (node i + 1) one client port on
 * socket i; abstract sockets (nothing on disk), no hugepages, a file prefix per process. */
#include "memif_options.h"

#include <stdio.h>

void bench_memif_options(int n, size_t d, uint32_t node_id, int job_pid, char *buf, size_t len)
{
	/* registered memory: the aggregator's double-buffered landing rows and model slots, a
	 * worker's two gradient slots and the model it reads; + 256 MB for the frames */
	size_t agg_mb = ((size_t)2 * ((size_t)n + 1) * d * 4 >> 20) + 256, worker_mb = ((size_t)3 * d * 4 >> 20) + 256;
	size_t used = 0;
	if (node_id == 0) {
		for (int i = 0; i < n && used < len; i++) /* the vdev key repeats: one port each */
			used += (size_t)snprintf(buf + used, len - used,
						 "vdev=net_memif%d,role=server,id=0,socket=pn-bround-%d/m%d.sock,"
						 "socket-abstract=yes,bsize=9216;", i, job_pid, i);
		if (used < len)
			snprintf(buf + used, len - used, "mem=no-huge:%zu;mbufs=2047;prefix=pn-bragg-%d;"
							 "jumbo=on;ip=%s;udp=7000", agg_mb, job_pid, BENCH_MEMIF_AGG_IP);
		return;
	}
	snprintf(buf, len, "vdev=net_memif0,role=client,id=0,socket=pn-bround-%d/m%u.sock,"
			   "socket-abstract=yes,bsize=9216;mem=no-huge:%zu;mbufs=2047;prefix=pn-brw%u-%d;"
			   "jumbo=on;ip=10.89.1.%u", job_pid, node_id - 1, worker_mb, node_id, job_pid, node_id);
}
