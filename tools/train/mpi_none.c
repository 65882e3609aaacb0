/* No MPI in this build (mpi_boot.h): workers under mpirun need another rendezvous. */
#include "mpi_boot.h"

#include <stdio.h>

bool train_mpi_built(void)
{
	return false;
}

int train_mpi_init(char *err, size_t errlen)
{
	snprintf(err, errlen, "this pennant-train was built without MPI");
	return -1;
}

bool train_mpi_started(void)
{
	return false;
}

int train_mpi_size(void)
{
	return 0;
}

int train_mpi_rank(void)
{
	return -1;
}

int train_mpi_bcast(char *buf, int len, char *err, size_t errlen)
{
	(void)buf, (void)len;
	snprintf(err, errlen, "this pennant-train was built without MPI");
	return -1;
}

int train_mpi_bcast_from(int root, char *buf, int len, char *err, size_t errlen)
{
	(void)root;
	return train_mpi_bcast(buf, len, err, errlen);
}

void train_mpi_finalize(void)
{
}

int train_mpi_group_split(int color, int key, char *err, size_t errlen)
{
	(void)color, (void)key;
	snprintf(err, errlen, "this pennant-train was built without MPI");
	return -1;
}

int train_mpi_group_bcast(char *buf, int len, char *err, size_t errlen)
{
	(void)buf, (void)len;
	snprintf(err, errlen, "this pennant-train was built without MPI");
	return -1;
}
