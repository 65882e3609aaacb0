/* Forked children that wait for an address (job/local_launch.c): the one way a local
 * launch starts its processes, for the aggregator's workers (pn_run_local) and a node's
 * children (pn_node_run_local). Children are forked before any transport context exists
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
/* Closes the pipes left (a child still waiting exits), waits for every child (one that
 * hangs 5 s is killed), frees k. Returns how many did not exit 0. */
int pn_local_reap(pn_local_children *k);

#endif
