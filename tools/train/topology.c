/* The job's transport topology (see topology.h). */
#include "topology.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* One memif server port per worker on the aggregator, one client port per worker; each
 * process its own DPDK memory (no hugepages needed) and file prefix. */
static void memif_options(const train_opts *o, uint32_t node_id, char *buf, size_t len)
{
	size_t n = 0;
	if (node_id == 0) {
		for (int i = 0; i < o->n && n < len; i++) /* the vdev key repeats: one port each */
			n += (size_t)snprintf(buf + n, len - n,
					      "vdev=net_memif%d,role=server,id=0,socket=%s/m%d.sock,socket-abstract=no,bsize=9216;",
					      i, o->memif_dir, i);
		snprintf(buf + n, len - n, "mem=no-huge:1024;mbufs=2047;prefix=pn-agg-%d;jumbo=on;ip=10.89.0.250;"
					   "udp=7000;idle_sleep_us=200", (int)getpid());
	} else {
		snprintf(buf, len,
			 "vdev=net_memif0,role=client,id=0,socket=%s/m%u.sock,socket-abstract=no,bsize=9216;"
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
	char dir[] = "/tmp/pennant-probe-XXXXXX";
	if (!mkdtemp(dir))
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
			 "vdev=net_memif0,role=server,id=0,socket=%s/p.sock,socket-abstract=no;mem=no-huge:128;"
			 "mbufs=1023;prefix=pn-probe-%d", dir, (int)getpid());
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
	char sock[96];
	snprintf(sock, sizeof sock, "%s/p.sock", dir);
	unlink(sock);
	rmdir(dir);
	return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int topology_prepare(train_opts *o)
{
	bool local = o->role == TRAIN_LOCAL;
	if (strcmp(o->backend, "auto") == 0) {
		/* the demo's default: DPDK over memif when this host can run it, else TCP */
		o->backend = local && dpdk_usable() ? "dpdk" : "tcp";
		if (local)
			fprintf(stderr, "%s: backend %s (%s)\n", o->prog, o->backend,
				strcmp(o->backend, "dpdk") == 0 ? "DPDK over net_memif"
							       : "DPDK/memif not usable here, TCP fallback");
	}
	if (!local || strcmp(o->backend, "dpdk") || o->tp_options)
		return -1;
	if (o->n > 16) {
		fprintf(stderr, "%s: the local memif topology gives the aggregator one DPDK port per "
				"worker, at most 16; use --backend tcp, or --tp-options for another DPDK "
				"topology (e.g. af_packet)\n", o->prog);
		return 2;
	}
	snprintf(o->memif_dir, sizeof o->memif_dir, "/tmp/pennant-memif-XXXXXX");
	if (!mkdtemp(o->memif_dir)) {
		fprintf(stderr, "%s: memif socket folder: %m\n", o->prog);
		o->memif_dir[0] = 0;
		return 1;
	}
	o->listen = "10.89.0.250:7000";
	return -1;
}

/* The memif socket folder holds only the sockets the ports created. */
void topology_cleanup(train_opts *o)
{
	if (!o->memif_dir[0])
		return;
	DIR *d = opendir(o->memif_dir);
	for (struct dirent *e; d && (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	if (rmdir(o->memif_dir) != 0)
		fprintf(stderr, "%s: could not remove %s: %m\n", o->prog, o->memif_dir);
	o->memif_dir[0] = 0;
}
