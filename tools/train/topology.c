/* The job's transport topology (see topology.h). */
#include "topology.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* One memif server port per peer on the aggregator, one client port per worker; each
 * process its own DPDK memory (no hugepages needed) and file prefix. The sockets are
 * abstract (o->memif_dir is a name, not a folder): nothing on disk, gone with the
 * process even if it is killed. Worker rank r's socket is m<r>; in a tree (--tree G)
 * the root's server port for node j is r<j>, and node j (node id n + 1 + j) has a client
 * port on r<j> plus the server ports m<r> of its G workers. */
static size_t memif_port(char *buf, size_t len, int port, const char *role, const char *dir,
			 char kind, int sock)
{
	int k = snprintf(buf, len, "vdev=net_memif%d,role=%s,id=0,socket=%s/%c%d.sock,socket-abstract=yes,"
			 "bsize=9216;", port, role, dir, kind, sock);
	return k > 0 && (size_t)k < len ? (size_t)k : len;
}

static void memif_options(const train_opts *o, uint32_t node_id, char *buf, size_t len)
{
	size_t n = 0;
	if (node_id == 0) {
		for (int i = 0; i < train_peers(o) && n < len; i++) /* the vdev key repeats: one port each */
			n += memif_port(buf + n, len - n, i, "server", o->memif_dir, o->tree ? 'r' : 'm', i);
		if (n < len)
			snprintf(buf + n, len - n, "mem=no-huge:1024;mbufs=2047;prefix=pn-agg-%d;jumbo=on;"
				 "ip=10.89.0.250;udp=7000;idle_sleep_us=200", (int)getpid());
	} else if (node_id > (uint32_t)o->n) {
		int j = (int)node_id - o->n - 1;
		n = memif_port(buf, len, 0, "client", o->memif_dir, 'r', j);
		for (int c = 0; c < o->tree && n < len; c++)
			n += memif_port(buf + n, len - n, c + 1, "server", o->memif_dir, 'm', j * o->tree + c);
		if (n < len)
			snprintf(buf + n, len - n, "mem=no-huge:512;mbufs=2047;prefix=pn-n%u-%d;jumbo=on;"
				 "ip=10.89.%u.%u;udp=7000;idle_sleep_us=200", node_id, (int)getpid(),
				 node_id / 200, node_id % 200 + 1);
	} else {
		n = memif_port(buf, len, 0, "client", o->memif_dir, 'm', (int)node_id - 1);
		if (n < len)
			snprintf(buf + n, len - n, "mem=no-huge:256;mbufs=2047;prefix=pn-w%u-%d;jumbo=on;"
				 "ip=10.89.%u.%u;idle_sleep_us=200", node_id, (int)getppid(), node_id / 200,
				 node_id % 200 + 1);
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
	/* {rank} in the options template becomes this process's node id: 0 the root, r + 1
	 * worker r, n + 1 + j node j of a tree (train_node_config), so over net_af_packet
	 * (iface=veth{rank}) a tree of n workers in groups of G takes 1 + n + n/G veths, every
	 * process its own (dpdk-tree-afpacket-* run 4 x 4 on 21) */
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
	if (o->tree && (train_peers(o) > 16 || o->tree + 1 > 16)) {
		fprintf(stderr, "%s: the local memif tree gives the root one DPDK port per node (%d) and "
				"each node one per worker plus one to the root (%d); a dpdk process drives "
				"at most 16 ports\n", o->prog, train_peers(o), o->tree + 1);
		return 2;
	}
	if (!o->tree && o->n > 16) {
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
