/* Aggregator (or K aggregator shards) + n forked workers on one host (the training demo,
 * tests, benchmarks). Everything is forked before any transport exists (DPDK forbids
 * fork after EAL init); addresses reach the children through pipes. */
#include "job/local_fork.h"
#include "pennant/job.h"
#include "util/util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Each worker has one pipe; every shard k writes "k address\n" into all of them once it
 * listens (one write of at most PIPE_BUF bytes: never interleaved with another shard's). */
typedef struct launch {
	int n, shard;
	int *pipes; /* write ends, one per worker; -1 once closed */
	int *shard_pipes; /* shard 0: write ends to shards 1..K-1 (their shard 0 address) */
	int nshard_pipes;
	void (*user_on_listen)(void *, const char *);
	void *user_ctx;
} launch;

static void tell(int fd, const char *line, size_t len)
{
	if (fd >= 0 && write(fd, line, len) != (ssize_t)len)
		perror("pennant: telling a child the aggregator's address");
}

static void tell_children(void *ctx, const char *addr)
{
	launch *l = ctx;
	char line[300];
	int len = snprintf(line, sizeof line, "%d %s\n", l->shard, addr);
	for (int i = 0; i < l->n; i++)
		tell(l->pipes[i], line, (size_t)len);
	for (int k = 0; k < l->nshard_pipes; k++)
		tell(l->shard_pipes[k], addr, strlen(addr) + 1);
	if (l->user_on_listen)
		l->user_on_listen(l->user_ctx, addr);
}

/* In a worker: the K addresses, in shard order, as "a0,a1,..." (the session's list). */
static int read_addresses(int fd, int K, char *out, size_t outlen)
{
	char buf[PN_SHARD_MAX * 260], *addr[PN_SHARD_MAX] = {0};
	size_t have = 0;
	int got = 0;
	while (got < K) {
		ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
		if (r <= 0)
			return -1; /* an aggregator never listened: nothing to do */
		have += (size_t)r;
		buf[have] = 0;
		got = 0;
		for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1)
			got++;
	}
	for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
		*nl = 0;
		int k = atoi(p);
		char *sp = strchr(p, ' ');
		if (k < 0 || k >= K || !sp)
			return -1;
		addr[k] = sp + 1;
	}
	size_t used = 0;
	for (int k = 0; k < K; k++) {
		if (!addr[k])
			return -1;
		used += (size_t)snprintf(out + used, outlen - used, "%s%s", k ? "," : "", addr[k]);
		if (used >= outlen)
			return -1;
	}
	return 0;
}

/* A forked shard k > 0: shard 0's address from its pipe, then the aggregator role on
 * its range; errors on stderr, exit status 0 or 1. */
static int shard_child(pn_agg_job_config *cfg, int k, const pn_shard_range *rg, int from0, launch *l)
{
	char addr0[256];
	ssize_t got = read(from0, addr0, sizeof addr0 - 1);
	close(from0);
	if (got <= 0)
		return 0; /* shard 0 never listened: it says why */
	addr0[got] = 0;
	if (cfg->log)
		fprintf(cfg->log, "aggregator shard %d is process %d\n", k, (int)getpid());
	pn_agg_job_config c = *cfg;
	c.tp.node_id = (uint32_t)(cfg->n + k); /* unique: workers are 1..n, shard 0 is 0 */
	c.shard.index = k;
	c.shard.lo = rg[k].lo;
	c.shard.hi = rg[k].hi;
	c.shard.shard0 = addr0;
	c.on_round = NULL; /* shard 0 reports the job */
	c.on_listen = tell_children;
	c.on_listen_ctx = l;
	l->shard = k;
	l->nshard_pipes = 0;
	l->user_on_listen = NULL;
	pn_agg_job_result res;
	char err[512];
	int rc = pn_aggregator_run(&c, &res, err, sizeof err);
	if (rc && rc != -EINTR)
		fprintf(stderr, "pennant: aggregator shard %d: %s\n", k, err);
	pn_agg_job_result_free(&res);
	return rc == 0 || rc == -EINTR ? 0 : 1;
}

/* n pipes: read ends in rd, write ends in wr; *made counts those opened (even on error). */
static int open_pipes(int *rd, int *wr, int n, int *made, char *err, size_t errlen)
{
	for (*made = 0; *made < n; (*made)++) {
		int fd[2];
		if (pipe(fd) != 0)
			return pn_fail(err, errlen, -errno, "pipe: %s", strerror(errno));
		rd[*made] = fd[0], wr[*made] = fd[1];
	}
	return 0;
}

int pn_run_local_shards(pn_agg_job_config *cfg, int K, const pn_shard_range *ranges,
			pn_worker_main worker_main, void *ctx, pn_agg_job_result *res, int *bad_exits,
			char *err, size_t errlen)
{
	memset(res, 0, sizeof *res);
	if (K < 1 || K > PN_SHARD_MAX || (K > 1 && !ranges))
		return pn_fail(err, errlen, -EINVAL, "shards: K = %d is out of [1, %d]", K, PN_SHARD_MAX);
	/* A configuration the aggregator would refuse forks nothing: the aggregator below then
	 * refuses it with the same reason (and fills res as it always does). */
	pn_agg_job_config c0 = *cfg;
	if (K > 1) {
		c0.shard.count = K, c0.shard.index = 0;
		c0.shard.lo = ranges[0].lo, c0.shard.hi = ranges[0].hi;
		c0.shard.shard0 = NULL;
	}
	bool ok = pn_agg_job_config_check(&c0, err, errlen) == 0;
	/* a tree with bypass slots: the processes are its nodes (their workers join later) */
	int n = ok ? (cfg->tree_nodes > 0 ? cfg->tree_nodes : cfg->n) : 0, nsh = ok ? K - 1 : 0;
	int *pipes = malloc(sizeof(int) * (size_t)(n + 1)), *spipes = malloc(sizeof(int) * (size_t)(nsh + 1));
	int *sread = malloc(sizeof(int) * (size_t)(nsh + 1));
	pid_t *pids = malloc(sizeof(pid_t) * (size_t)(n + nsh + 1));
	int *wread = malloc(sizeof(int) * (size_t)(n + 1));
	int rc = 0, npipes = 0, nspipes = 0, started = 0;
	if (!pipes || !spipes || !sread || !pids || !wread) {
		rc = pn_fail(err, errlen, -ENOMEM, "out of memory");
		n = nsh = 0;
	}
	/* every pipe first: each shard writes to every worker */
	if (rc == 0)
		rc = open_pipes(wread, pipes, n, &npipes, err, errlen);
	if (rc == 0)
		rc = open_pipes(sread, spipes, nsh, &nspipes, err, errlen);
	launch l = {.n = npipes, .pipes = pipes, .shard_pipes = spipes, .nshard_pipes = nspipes,
		    .user_on_listen = cfg->on_listen, .user_ctx = cfg->on_listen_ctx};
	fflush(NULL); /* children must not replay buffered output */
	for (int k = 1; rc == 0 && k <= nsh; k++, started++) {
		pid_t pid = fork();
		if (pid < 0) {
			rc = pn_fail(err, errlen, -errno, "fork: %s", strerror(errno));
			break;
		}
		if (pid == 0) {
			for (int i = 0; i < npipes; i++)
				close(wread[i]);
			for (int s = 0; s < nspipes; s++) {
				close(spipes[s]);
				if (s != k - 1)
					close(sread[s]);
			}
			_exit(shard_child(&c0, k, ranges, sread[k - 1], &l));
		}
		pids[started] = pid;
	}
	for (int i = 0; rc == 0 && i < n; i++, started++) {
		pid_t pid = fork();
		if (pid < 0) {
			rc = pn_fail(err, errlen, -errno, "fork: %s", strerror(errno));
			break;
		}
		if (pid == 0) {
			for (int w = 0; w < npipes; w++) {
				close(pipes[w]);
				if (w != i)
					close(wread[w]);
			}
			for (int s = 0; s < nspipes; s++)
				close(spipes[s]), close(sread[s]);
			char addrs[PN_SHARD_MAX * 260];
			int got = read_addresses(wread[i], K, addrs, sizeof addrs);
			close(wread[i]);
			_exit(got ? 0 : worker_main(ctx, i, addrs));
		}
		pids[started] = pid;
	}
	for (int i = 0; i < npipes; i++)
		close(wread[i]);
	for (int s = 0; s < nspipes; s++)
		close(sread[s]);
	if (rc == 0 || !ok) {
		c0.on_listen = tell_children;
		c0.on_listen_ctx = &l;
		rc = pn_aggregator_run(&c0, res, err, errlen);
	}
	for (int i = 0; i < npipes; i++)
		close(pipes[i]); /* a worker still waiting for an address exits */
	for (int s = 0; s < nspipes; s++)
		close(spipes[s]);
	int bad_shards = started > nsh ? pn_local_reap_pids(pids, nsh) : pn_local_reap_pids(pids, started);
	int bad = started > nsh ? pn_local_reap_pids(pids + nsh, started - nsh) : 0;
	if (rc == 0 && bad_shards)
		rc = pn_fail(err, errlen, -ECHILD, "%d aggregator shard(s) did not exit cleanly", bad_shards);
	if (bad_exits)
		*bad_exits = bad;
	free(pipes), free(spipes), free(sread), free(pids), free(wread);
	return rc;
}

int pn_run_local(pn_agg_job_config *cfg, pn_worker_main worker_main, void *ctx,
		 pn_agg_job_result *res, int *bad_exits, char *err, size_t errlen)
{
	return pn_run_local_shards(cfg, 1, NULL, worker_main, ctx, res, bad_exits, err, errlen);
}
