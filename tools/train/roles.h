/* The roles of the training job: a worker, the aggregator (alone, or with n forked local
 * workers), and the single-process reference. Each returns the process's exit status. */
#ifndef PENNANT_TOOLS_TRAIN_ROLES_H
#define PENNANT_TOOLS_TRAIN_ROLES_H

#include "fmnist_job.h"
#include "options.h"

#include "pennant/node.h"

#include <signal.h>

/* `stop` holds the signal (SIGINT/SIGTERM) that asked the job to stop, 0 until then. */
int train_run_worker(train_opts *o, fmnist_job *job, int64_t kill_round);
int train_run_aggregator(train_opts *o, fmnist_job *job, const volatile sig_atomic_t *stop);
int train_run_reference(train_opts *o, fmnist_job *job, const volatile sig_atomic_t *stop);

/* A local run's forked processes (pn_worker_main): a worker of rank `rank`, and (tree.c)
 * node `rank` of a --tree run, with its G workers forked under it. */
typedef struct train_local {
	train_opts *o;
	fmnist_job *job;
	char root_addr[256];    /* a tree's node: its parent, its workers' fallback (else "") */
} train_local;
int train_local_worker(void *ctx, int rank, const char *addr);
int train_local_node(void *ctx, int node, const char *addr);

/* tree.c: node `node`'s configuration (its children node·G .., the job's n leaves), and
 * its closing line (1 when rc failed, with err). */
pn_node_config train_node_config(const train_opts *o, int node, const char *parent, const char *listen,
				 size_t d, pn_agg_config *rule, char *optbuf, size_t optlen);
int train_node_report(const train_opts *o, const pn_node_config *nc, int rc, const pn_node_result *res,
		      const char *err);
/* tree_mpi.c: a node rank of a tree under mpirun (o->node_index): joins the root MPI told
 * it, listens, tells its group's workers (MPI) where, runs until the root stops. */
int train_run_node(train_opts *o, fmnist_job *job);

#endif
