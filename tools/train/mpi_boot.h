/* The MPI bootstrap of a job started by mpirun: MPI carries one thing, the aggregator's
 * address from launcher rank 0 to every other rank (like NCCL's unique id; a sharded job:
 * each shard's from its rank 0..K-1, in that order), and nothing else. Built from mpi_boot.c when meson finds MPI, else from mpi_none.c (no MPI:
 * train_mpi_built() is false and the rest is never called). */
#ifndef PENNANT_TOOLS_TRAIN_MPI_BOOT_H
#define PENNANT_TOOLS_TRAIN_MPI_BOOT_H

#include <stdbool.h>
#include <stddef.h>

bool train_mpi_built(void);
/* MPI_Init once; 0, or -1 with a line in err. */
int train_mpi_init(char *err, size_t errlen);
bool train_mpi_started(void);
int train_mpi_size(void);
int train_mpi_rank(void);
/* Rank 0's `len` bytes of buf reach every rank's buf (a collective: every rank calls it
 * once). 0, or -1 with a line in err. */
int train_mpi_bcast(char *buf, int len, char *err, size_t errlen);
/* The same from launcher rank `root` (a sharded job: shard k's address from rank k). */
int train_mpi_bcast_from(int root, char *buf, int len, char *err, size_t errlen);
/* A tree under mpirun: splits the world into groups (every rank calls it once, color < 0:
 * in no group); key orders the group's ranks (0: its node). 0, or -1 with a line in err. */
int train_mpi_group_split(int color, int key, char *err, size_t errlen);
/* The group's rank 0 (the node) broadcasts buf to its group (its workers). */
int train_mpi_group_bcast(char *buf, int len, char *err, size_t errlen);
/* MPI_Finalize when train_mpi_init succeeded. */
void train_mpi_finalize(void);

#endif
