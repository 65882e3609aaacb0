/* The address exchange of a split job: how the workers learn where the aggregator
 * listens when no --connect is given. One source per job, chosen identically on every
 * process from the command line and the environment (train_bootstrap_choose):
 *   --connect ADDR              given
 *   PENNANT_AGGREGATOR=ADDR     the environment of every process (the aggregator listens there)
 *   --rendezvous FILE           a file on a shared filesystem (pennant/rendezvous.h)
 *   MPI                         started by mpirun (or PMIx) and built with MPI: rank 0
 *                               broadcasts its address once it listens
 * Only the address travels: the job secret never does. */
#ifndef PENNANT_TOOLS_TRAIN_BOOTSTRAP_H
#define PENNANT_TOOLS_TRAIN_BOOTSTRAP_H

#include "options.h"

#include <signal.h>

/* During validation: picks o->addr_source and, for the environment, fills o->connect
 * (worker) or the default o->listen (aggregator). Returns -1 to go on, else an exit
 * status after a message (a worker with no way to find its aggregator). */
int train_bootstrap_choose(train_opts *o);
/* Before the role runs (and before any transport, so before DPDK's EAL): starts MPI when
 * it is the source; a worker waits for the aggregator's address (o->connect). Returns -1
 * to go on, else an exit status after a message. */
int train_bootstrap_start(train_opts *o, const volatile sig_atomic_t *stop);
/* The aggregator's pn_agg_job_config.on_listen (ctx: the train_opts): publishes the bound
 * address; the workers' wait ends here. */
void train_bootstrap_listening(void *ctx, const char *bound);
/* At exit, on every path: an aggregator that never listened tells the MPI workers so
 * (an empty address) instead of leaving them blocked; the rendezvous file is removed;
 * MPI_Finalize. */
void train_bootstrap_end(train_opts *o);
const char *train_addr_source_name(train_addr_source s);
/* tree_mpi.c: a tree under mpirun: the groups, and a node's / worker's parent address
 * (o->connect); -1 to go on, else an exit status. The end: a node that never listened
 * tells its workers so. */
int train_tree_mpi_start(train_opts *o);
void train_tree_mpi_end(train_opts *o);

#endif
