/* The MPI bootstrap (mpi_boot.h), built when meson finds MPI. */
#include "mpi_boot.h"

#include <mpi.h>
#include <stdio.h>

static bool started;
static MPI_Comm group = MPI_COMM_NULL; /* a tree's node and its workers */

bool train_mpi_built(void)
{
	return true;
}

int train_mpi_init(char *err, size_t errlen)
{
	if (started)
		return 0;
	int rc = MPI_Init(NULL, NULL);
	if (rc != MPI_SUCCESS) {
		snprintf(err, errlen, "MPI_Init failed (error %d)", rc);
		return -1;
	}
	/* a failing call returns its error here instead of aborting the whole job */
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	started = true;
	return 0;
}

bool train_mpi_started(void)
{
	return started;
}

int train_mpi_size(void)
{
	int n = 0;
	MPI_Comm_size(MPI_COMM_WORLD, &n);
	return n;
}

int train_mpi_rank(void)
{
	int r = -1;
	MPI_Comm_rank(MPI_COMM_WORLD, &r);
	return r;
}

int train_mpi_bcast(char *buf, int len, char *err, size_t errlen)
{
	return train_mpi_bcast_from(0, buf, len, err, errlen);
}

static int bcast_on(MPI_Comm comm, int root, char *buf, int len, char *err, size_t errlen)
{
	int rc = MPI_Bcast(buf, len, MPI_CHAR, root, comm);
	if (rc != MPI_SUCCESS) {
		char msg[MPI_MAX_ERROR_STRING];
		int ml = 0;
		MPI_Error_string(rc, msg, &ml);
		snprintf(err, errlen, "MPI_Bcast of the aggregator's address failed: %.*s", ml, msg);
		return -1;
	}
	return 0;
}

int train_mpi_bcast_from(int root, char *buf, int len, char *err, size_t errlen)
{
	return bcast_on(MPI_COMM_WORLD, root, buf, len, err, errlen);
}

int train_mpi_group_split(int color, int key, char *err, size_t errlen)
{
	int rc = MPI_Comm_split(MPI_COMM_WORLD, color < 0 ? MPI_UNDEFINED : color, key, &group);
	if (rc != MPI_SUCCESS) {
		snprintf(err, errlen, "MPI_Comm_split into the tree's groups failed (error %d)", rc);
		return -1;
	}
	return 0;
}

int train_mpi_group_bcast(char *buf, int len, char *err, size_t errlen)
{
	if (group == MPI_COMM_NULL) {
		snprintf(err, errlen, "no tree group to broadcast in");
		return -1;
	}
	return bcast_on(group, 0, buf, len, err, errlen);
}

void train_mpi_finalize(void)
{
	if (started && group != MPI_COMM_NULL)
		MPI_Comm_free(&group);
	if (started)
		MPI_Finalize();
	started = false;
}
