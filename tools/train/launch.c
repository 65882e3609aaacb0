/* Roles from the launcher's environment (see launch.h). */
#include "launch.h"

#include "mpi_boot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void train_launch_layout(int shards, int launcher_rank, train_role *role, int *rank)
{
	*role = launcher_rank < shards ? TRAIN_AGGREGATOR : TRAIN_WORKER;
	*rank = launcher_rank < shards ? -1 : launcher_rank - shards;
}

/* 1 and the value when `name` holds a decimal in [0, 2^31), 0 when unset, -1 when malformed. */
static int env_count(const char *name, long long *out)
{
	const char *v = getenv(name);
	if (!v)
		return 0;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || *end || x < 0 || x > 0x7fffffffLL)
		return -1;
	*out = x;
	return 1;
}

/* An srun job step: SLURM_STEP_ID names a step, not the batch script (0xfffffffe), the
 * extern step (0xfffffffd) or an interactive allocation's shell (0xfffffffc). */
static bool slurm_job_step(void)
{
	long long step;
	return env_count("SLURM_STEP_ID", &step) == 1 && step < 0xfffffff0LL;
}

/* --tree G under a launcher: rank 0 the root, ranks 1..n/G the nodes, the rest the n
 * workers (node j's are the job's ranks j·G .. j·G+G-1). A node keeps the worker role
 * with o->node_index = j (and o->rank = j) until main dispatches it. */
static int tree_layout(train_opts *o, long long lrank, long long lsize, const char *size_var)
{
	int G = o->tree;
	if (o->shards > 1)
		return train_refuse(o, "--tree under %s has one aggregator: --shards %d with a tree is not "
				 "built", o->launcher, o->shards);
	if (lsize < 2 + G || (lsize - 1) % (G + 1) != 0 || (lsize - 1) / (G + 1) * G > 1000)
		return train_refuse(o, "--tree %d under %s needs 1 + n/%d + n processes (the root, the nodes, "
				 "the workers; n a multiple of %d up to 1000), not %lld (%s)", G, o->launcher, G,
			      G, lsize, size_var);
	int nodes = (int)((lsize - 1) / (G + 1)), n = nodes * G;
	if (lrank >= lsize)
		return train_refuse(o, "rank %lld is not below the job size %lld (%s)", lrank, lsize, size_var);
	if (o->workers_given && o->n != n)
		return train_refuse(o, "--workers %d disagrees with the %s job: %lld processes are the root, "
				 "%d nodes and %d workers", o->n, o->launcher, lsize, nodes, n);
	train_role role = lrank == 0 ? TRAIN_AGGREGATOR : TRAIN_WORKER;
	if (o->role_given && o->role != role)
		return train_refuse(o, "%s rank %lld is %s in this tree's layout, not %s", o->launcher, lrank,
			      lrank == 0 ? "the root aggregator" : lrank <= nodes ? "a node" : "a worker",
			      train_role_name(o->role));
	o->node_index = lrank >= 1 && lrank <= nodes ? (int)lrank - 1 : -1;
	o->role = role;
	o->rank = lrank == 0 ? -1 : o->node_index >= 0 ? o->node_index : (int)lrank - 1 - nodes;
	o->n = n;
	o->shard_index = lrank == 0 ? 0 : -1;
	o->launch_rank = (int)lrank;
	o->launch_size = (int)lsize;
	return -1;
}

int train_launch_detect(train_opts *o)
{
	if (o->role == TRAIN_REFERENCE)
		return -1; /* one process on its own, wherever it runs */
	const char *rank_var, *size_var = NULL;
	if (getenv("OMPI_COMM_WORLD_RANK")) {
		o->launcher = "mpirun";
		rank_var = "OMPI_COMM_WORLD_RANK", size_var = "OMPI_COMM_WORLD_SIZE";
	} else if (getenv("SLURM_PROCID")) {
		if (!slurm_job_step()) {
			/* an sbatch script or salloc shell exports SLURM_PROCID=0 too: never turn it
			 * into a listening aggregator by accident */
			if (o->role == TRAIN_LOCAL)
				fprintf(stderr, "%s: SLURM_PROCID is set but this is not an srun job step (%s): "
						"running a local job on this host; for a multi-host job launch "
						"with srun\n", o->prog,
					getenv("SLURM_STEP_ID") ? "SLURM_STEP_ID names the batch/extern step"
								: "no SLURM_STEP_ID");
			return -1;
		}
		o->launcher = "srun";
		rank_var = "SLURM_PROCID", size_var = "SLURM_NTASKS";
	} else if (getenv("PMIX_RANK")) {
		/* Open MPI 4.1 exports PMIX_RANK but no PMIX_SIZE */
		o->launcher = "PMIx";
		rank_var = "PMIX_RANK";
		size_var = getenv("PMIX_SIZE") ? "PMIX_SIZE" : getenv("OMPI_COMM_WORLD_SIZE") ? "OMPI_COMM_WORLD_SIZE" : NULL;
	} else {
		return -1;
	}
	long long lrank, lsize = 0;
	if (env_count(rank_var, &lrank) != 1)
		return train_refuse(o, "%s='%s' is not a rank", rank_var, getenv(rank_var));
	if (size_var) {
		if (env_count(size_var, &lsize) != 1)
			return train_refuse(o, "%s='%s' is not a job size", size_var, getenv(size_var) ? getenv(size_var) : "");
	} else if (o->workers_given) {
		lsize = o->n + 1, size_var = "--workers + 1";
	} else if (train_mpi_built()) {
		char err[256];
		if (train_mpi_init(err, sizeof err))
			return train_refuse(o, "%s is set without PMIX_SIZE or OMPI_COMM_WORLD_SIZE, and %s: give "
					 "--workers N", rank_var, err);
		lsize = train_mpi_size(), size_var = "MPI_Comm_size";
	} else {
		return train_refuse(o, "%s is set but the job size is not (no PMIX_SIZE, no OMPI_COMM_WORLD_SIZE, "
				 "and this pennant-train has no MPI to ask): give --workers N", rank_var);
	}
	int K = o->shards > 1 ? o->shards : 1;
	if (o->tree)
		return tree_layout(o, lrank, lsize, size_var);
	if (lsize < K + 1 || lsize > 1000 + K)
		return train_refuse(o, "the %s job size %lld (%s) leaves no worker in [1, 1000] next to the "
				 "%d aggregator(s)%s", o->launcher, lsize, size_var, K,
			      strcmp(size_var, "MPI_Comm_size") == 0
				      ? " (MPI sees this process alone: its launcher is not one MPI "
					"reaches; give --workers N)"
				      : "");
	if (lrank >= lsize)
		return train_refuse(o, "%s=%lld is not below the job size %lld (%s)", rank_var, lrank, lsize, size_var);
	train_role role;
	int rank;
	train_launch_layout(K, (int)lrank, &role, &rank);
	if (o->workers_given && o->n != (int)lsize - K)
		return train_refuse(o, "--workers %d disagrees with the %s job: %lld processes (%s) are %d "
				 "aggregator(s) and %lld workers", o->n, o->launcher, lsize, size_var, K, lsize - K);
	if (o->role_given && o->role != role)
		return train_refuse(o, "%s rank %lld is %s in this job's layout (ranks 0..%d aggregate, the "
				 "others are workers), not %s", o->launcher, lrank, train_role_name(role), K - 1,
			      train_role_name(o->role));
	if (o->rank >= 0 && o->rank != rank)
		return train_refuse(o, "--rank %d disagrees with %s rank %lld (worker %d)", o->rank, o->launcher,
			      lrank, rank);
	o->role = role;
	o->rank = rank;
	o->n = (int)lsize - K;
	o->shard_index = role == TRAIN_AGGREGATOR ? (int)lrank : -1;
	o->launch_rank = (int)lrank;
	o->launch_size = (int)lsize;
	return -1;
}
