/* The job's transport topology (see topology.h). */
#include "topology.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* One memif server port per worker on the aggregator, one client port per worker; each
 * process its own DPDK memory (no hugepages needed) and file prefix. The sockets are
 * abstract (o->memif_dir is a name, not a folder): nothing on disk, gone with the
 * process even if it is killed. */
static void memif_options(const train_opts *o, uint32_t node_id, char *buf, size_t len)
{
	size_t n = 0;
	if (node_id == 0) {
		for (int i = 0; i < o->n && n < len; i++) /* the vdev key repeats: one port each */
			n += (size_t)snprintf(buf + n, len - n,
					      "vdev=net_memif%d,role=server,id=0,socket=%s/m%d.sock,socket-abstract=yes,bsize=9216;",
					      i, o->memif_dir, i);
		snprintf(buf + n, len - n, "mem=no-huge:1024;mbufs=2047;prefix=pn-agg-%d;jumbo=on;ip=10.89.0.250;"
					   "udp=7000;idle_sleep_us=200", (int)getpid());
	} else {
		snprintf(buf, len,
			 "vdev=net_memif0,role=client,id=0,socket=%s/m%u.sock,socket-abstract=yes,bsize=9216;"
			 "mem=no-huge:256;mbufs=2047;prefix=pn-w%u-%d;jumbo=on;ip=10.89.%u.%u;idle_sleep_us=200",
			 o->memif_dir, node_id - 1, node_id, (int)getppid(), node_id / 200, node_id % 200 + 1);
	}
}

pn_tp_config topology_tp_config(const train_opts *o, uint32_t node_id, char *optbuf, size_t optlen)
{
	pn_tp_config c = {.backend = o->backend, .node_id = node_id, .options = optbuf,
			  .secret = o->secret.len ? o->secret.bytes : NULL, .secret_len = o->secret.len};
	if (o->memif_dir[0]) {
		memif_options(o, node_id, optbuf, optlen);
		c.backend = "dpdk";
		return c;
	}
	/* {rank} in the options template becomes this process's node id */
	const char *t = o->tp_options ? o->tp_options : "";
	size_t n = 0;
	for (const char *p = t; *p && n + 12 < optlen;) {
		if (strncmp(p, "{rank}", 6) == 0) {
			n += (size_t)snprintf(optbuf + n, optlen - n, "%u", node_id);
			p += 6;
		} else {
			optbuf[n++] = *p++;
		}
	}
	optbuf[n] = 0;
	return c;
}

/* Can this host run DPDK over memif? Asked in a child so that EAL initialisation (which
 * forbids a later fork) never happens in the launcher itself. */
static bool dpdk_usable(void)
{
	if (!strstr(pn_tp_backends_available(), "dpdk"))
		return false;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		char opt[512];
		snprintf(opt, sizeof opt,
			 "vdev=net_memif0,role=server,id=0,socket=pennant-probe-%d.sock,socket-abstract=yes;"
			 "mem=no-huge:128;mbufs=1023;prefix=pn-probe-%d", (int)getpid(), (int)getpid());
		static const char probe_secret[] = "probe";
		pn_tp_config c = {.backend = "dpdk", .node_id = 0, .options = opt,
				  .secret = probe_secret, .secret_len = sizeof probe_secret - 1};
		char err[256];
		pn_tp_ctx *ctx = pn_tp_open(&c, err, sizeof err);
		pn_tp_close(ctx);
		_exit(ctx ? 0 : 1);
	}
	int st = 1;
	if (pid > 0)
		waitpid(pid, &st, 0);
	return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int topology_prepare(train_opts *o)
{
	bool local = o->role == TRAIN_LOCAL;
	if (strcmp(o->backend, "auto") == 0) {
		/* the demo's default: DPDK over memif when this host can run it, else TCP (a
		 * sharded job: TCP, the local memif topology has one aggregator) */
		o->backend = local && o->shards <= 1 && dpdk_usable() ? "dpdk" : "tcp";
		if (local)
			fprintf(stderr, "%s: backend %s (%s)\n", o->prog, o->backend,
				strcmp(o->backend, "dpdk") == 0 ? "DPDK over net_memif"
							       : "DPDK/memif not usable here, TCP fallback");
	}
	if (!local || strcmp(o->backend, "dpdk") || o->tp_options)
		return -1;
	if (o->shards > 1) {
		fprintf(stderr, "%s: the local memif topology has one aggregator port set, not %d shards: "
				"run a local sharded job with --backend tcp\n", o->prog, o->shards);
		return 2;
	}
	/* The bound: one memif port per worker on the aggregator, and the dpdk backend drives
	 * at most 16 ports per process (DPDK itself allows RTE_MAX_ETHPORTS, 32 in Debian's
	 * build). One af_packet port on a bridge carries any number of workers. */
	if (o->n > 16) {
		fprintf(stderr, "%s: the local memif topology gives the aggregator one DPDK port per "
				"worker and a dpdk process drives at most 16 ports, so it stops at 16 "
				"workers; for %d use one af_packet port per process on a bridge (--tp-options "
				"'vdev=net_af_packet0,iface=veth{rank},...;ip=...' --listen IP:PORT, as the "
				"dpdk-train-afpacket-64 test does with 64 workers) or --backend tcp\n",
			o->prog, o->n);
		return 2;
	}
	snprintf(o->memif_dir, sizeof o->memif_dir, "pennant-memif-%d", (int)getpid());
	o->listen = "10.89.0.250:7000";
	return -1;
}

/* Abstract memif sockets leave nothing on disk: only forget the name. */
void topology_cleanup(train_opts *o)
{
	o->memif_dir[0] = 0;
}
