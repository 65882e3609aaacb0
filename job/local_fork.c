/* The forked children of a local launch (job/local_fork.h): fork before any transport
 * exists, tell them the address through a pipe, reap them. Used by a node's local launch
 * (node/local.c); the aggregator's own (job/local_launch.c) shares the reaping. */
#include "job/local_fork.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


int pn_local_fork(pn_local_children *k, int n, int first_rank, pn_worker_main child_main, void *ctx,
		  char *err, size_t errlen)
{
	*k = (pn_local_children){0};
	k->pipes = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
	k->pids = malloc(sizeof(pid_t) * (size_t)(n > 0 ? n : 1));
	if (!k->pipes || !k->pids) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	fflush(NULL); /* children must not replay buffered output */
	for (; k->started < n; k->started++) {
		int fd[2];
		if (pipe(fd) != 0) {
			snprintf(err, errlen, "pipe: %s", strerror(errno));
			return -errno;
		}
		pid_t pid = fork();
		if (pid < 0) {
			int rc = -errno;
			snprintf(err, errlen, "fork: %s", strerror(errno));
			close(fd[0]), close(fd[1]);
			return rc;
		}
		if (pid == 0) {
			for (int i = 0; i < k->started; i++)
				close(k->pipes[i]);
			close(fd[1]);
			char addr[256];
			ssize_t got = read(fd[0], addr, sizeof addr - 1);
			close(fd[0]);
			if (got <= 0)
				_exit(0); /* the parent never listened: nothing to do */
			addr[got] = 0;
			_exit(child_main(ctx, first_rank + k->started, addr));
		}
		close(fd[0]);
		k->pipes[k->started] = fd[1];
		k->pids[k->started] = pid;
	}
	return 0;
}

void pn_local_tell(pn_local_children *k, const char *addr)
{
	size_t len = strlen(addr) + 1;
	for (int i = 0; i < k->started; i++) {
		if (k->pipes[i] < 0)
			continue;
		if (write(k->pipes[i], addr, len) != (ssize_t)len)
			perror("pennant: telling a local child its parent's address");
		close(k->pipes[i]);
		k->pipes[i] = -1;
	}
}

int pn_local_reap_pids(const pid_t *pids, int n)
{
	int bad = 0;
	for (int i = 0; i < n; i++) {
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
	return bad;
}

int pn_local_reap(pn_local_children *k)
{
	for (int i = 0; i < k->started; i++)
		if (k->pipes[i] >= 0)
			close(k->pipes[i]); /* a child still waiting for the address exits */
	int bad = pn_local_reap_pids(k->pids, k->started);
	free(k->pipes);
	free(k->pids);
	*k = (pn_local_children){0};
	return bad;
}

typedef struct launch {
	pn_local_children *kids;
	pn_listen_fn user_on_listen;
	void *user_ctx;
} launch;

static void tell_children(void *ctx, const char *addr)
{
	launch *l = ctx;
	pn_local_tell(l->kids, addr);
	if (l->user_on_listen)
		l->user_on_listen(l->user_ctx, addr);
}

int pn_local_launch(int n, int first_rank, pn_worker_main child_main, void *child_ctx,
		    pn_listen_fn *on_listen, void **on_listen_ctx,
		    int (*run)(void *run_ctx, char *err, size_t errlen), void *run_ctx, int *bad_exits,
		    char *err, size_t errlen)
{
	pn_local_children kids;
	int rc = pn_local_fork(&kids, n, first_rank, child_main, child_ctx, err, errlen);
	if (rc == 0) {
		launch l = {.kids = &kids, .user_on_listen = *on_listen, .user_ctx = *on_listen_ctx};
		*on_listen = tell_children;
		*on_listen_ctx = &l;
		rc = run(run_ctx, err, errlen);
		*on_listen = l.user_on_listen;
		*on_listen_ctx = l.user_ctx;
	}
	int bad = pn_local_reap(&kids);
	if (bad_exits)
		*bad_exits = bad;
	return rc;
}
