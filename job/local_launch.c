/* Aggregator + n forked workers on one host (the training demo, tests, benchmarks). */
#include "pennant/job.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct launch {
	int n;
	int *pipes; /* write ends, one per child; -1 once used */
	void (*user_on_listen)(void *, const char *);
	void *user_ctx;
} launch;

static void tell_children(void *ctx, const char *addr)
{
	launch *l = ctx;
	size_t len = strlen(addr) + 1;
	for (int i = 0; i < l->n; i++) {
		if (l->pipes[i] < 0)
			continue;
		if (write(l->pipes[i], addr, len) != (ssize_t)len)
			perror("pennant: telling a worker the aggregator's address");
		close(l->pipes[i]);
		l->pipes[i] = -1;
	}
	if (l->user_on_listen)
		l->user_on_listen(l->user_ctx, addr);
}

int pn_run_local(pn_agg_job_config *cfg, pn_worker_main worker_main, void *ctx,
		 pn_agg_job_result *res, int *bad_exits, char *err, size_t errlen)
{
	/* A configuration the aggregator would refuse forks nothing: the aggregator below then
	 * refuses it with the same reason (and fills res as it always does). */
	int n = pn_agg_job_config_check(cfg, err, errlen) == 0 ? cfg->n : 0;
	int *pipes = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
	pid_t *pids = malloc(sizeof(pid_t) * (size_t)(n > 0 ? n : 1));
	if (!pipes || !pids) {
		free(pipes), free(pids);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int started = 0, rc = 0;
	fflush(NULL); /* children must not replay buffered output */
	for (; started < n; started++) {
		int fd[2];
		if (pipe(fd) != 0) {
			rc = -errno;
			snprintf(err, errlen, "pipe: %s", strerror(errno));
			break;
		}
		pid_t pid = fork();
		if (pid < 0) {
			rc = -errno;
			snprintf(err, errlen, "fork: %s", strerror(errno));
			close(fd[0]), close(fd[1]);
			break;
		}
		if (pid == 0) {
			for (int k = 0; k < started; k++)
				close(pipes[k]);
			close(fd[1]);
			char addr[256];
			ssize_t got = read(fd[0], addr, sizeof addr - 1);
			close(fd[0]);
			if (got <= 0)
				_exit(0); /* the aggregator never listened: nothing to do */
			addr[got] = 0;
			_exit(worker_main(ctx, started, addr));
		}
		close(fd[0]);
		pipes[started] = fd[1];
		pids[started] = pid;
	}
	if (rc == 0) {
		launch l = {.n = n, .pipes = pipes, .user_on_listen = cfg->on_listen,
			    .user_ctx = cfg->on_listen_ctx};
		cfg->on_listen = tell_children;
		cfg->on_listen_ctx = &l;
		rc = pn_aggregator_run(cfg, res, err, errlen);
		cfg->on_listen = l.user_on_listen;
		cfg->on_listen_ctx = l.user_ctx;
	}
	for (int i = 0; i < started; i++)
		if (pipes[i] >= 0)
			close(pipes[i]); /* a worker still waiting for the address exits */
	int bad = 0;
	for (int i = 0; i < started; i++) {
		int st = 0;
		for (int t = 0;; t++) {
			pid_t w = waitpid(pids[i], &st, WNOHANG);
			if (w == pids[i])
				break;
			if (t == 100) { /* 5 s after the job ended */
				kill(pids[i], SIGKILL);
				waitpid(pids[i], &st, 0);
				break;
			}
			usleep(50000);
		}
		bad += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	if (bad_exits)
		*bad_exits = bad;
	free(pipes);
	free(pids);
	return rc;
}
