/* Forked children that wait for an address (job/local_fork.c): how a node's local launch
 * starts its children (pn_node_run_local); the aggregator's (job/local_launch.c, which also
 * forks shards) shares the reaping. Children are forked before any transport context exists
 * (DPDK forbids fork after EAL init); each blocks on a pipe until told where to connect,
 * and exits 0 without running if the pipe closes first. */
#ifndef PENNANT_JOB_LOCAL_FORK_H
#define PENNANT_JOB_LOCAL_FORK_H

#include "pennant/job.h"

#include <sys/types.h>

typedef struct pn_local_children {
	int started;
	int *pipes; /* write ends, one per child; -1 once used */
	pid_t *pids;
} pn_local_children;

/* Forks n children; child k runs child_main(ctx, first_rank + k, address). 0, or -errno
 * with the reason in err (the children started so far are in k: reap them). */
int pn_local_fork(pn_local_children *k, int n, int first_rank, pn_worker_main child_main, void *ctx,
		  char *err, size_t errlen);
/* Hands every child still waiting the address. */
void pn_local_tell(pn_local_children *k, const char *addr);
/* The whole local launch: forks n children (as pn_local_fork), points the caller's
 * listen hook (*on_listen, *on_listen_ctx: its configuration's fields) at one that tells
 * the children the bound address and then calls the caller's own hook, runs
 * run(run_ctx, err, errlen) here, restores the hook and reaps the children (*bad_exits, may
 * be NULL: how many did not exit 0). Returns run's result, or the fork's error. */
typedef void (*pn_listen_fn)(void *ctx, const char *addr);
int pn_local_launch(int n, int first_rank, pn_worker_main child_main, void *child_ctx,
		    pn_listen_fn *on_listen, void **on_listen_ctx,
		    int (*run)(void *run_ctx, char *err, size_t errlen), void *run_ctx, int *bad_exits,
		    char *err, size_t errlen);
/* Closes the pipes left (a child still waiting exits), waits for every child (one that
 * hangs 5 s is killed), frees k. Returns how many did not exit 0. */
int pn_local_reap(pn_local_children *k);
/* Waits for n pids (one that hangs 5 s is killed); how many did not exit 0. */
int pn_local_reap_pids(const pid_t *pids, int n);

#endif
