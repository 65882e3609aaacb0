/* Roles from a launcher (mpirun, srun, PMIx): which process of the job this one is, and
 * the one layout of ranks onto roles. */
#ifndef PENNANT_TOOLS_TRAIN_LAUNCH_H
#define PENNANT_TOOLS_TRAIN_LAUNCH_H

#include "options.h"

/* The layout of a launched job of `size` processes with `shards` aggregators: launcher
 * ranks 0..shards-1 aggregate (rank k is shard k), ranks shards..size-1 are the workers
 * 0..size-shards-1 (--shards K; 1 without it). */
void train_launch_layout(int shards, int launcher_rank, train_role *role, int *rank);

/* Reads the launcher's environment after the command line is parsed and, inside a
 * launched job, settles o->role, o->rank and o->n by train_launch_layout (refusing flags
 * that disagree). A plain shell with SLURM_PROCID set but no srun job step stays a local
 * job and says so. Returns -1 to go on, else an exit status after a message. */
int train_launch_detect(train_opts *o);

#endif
