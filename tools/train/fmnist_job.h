/* The Fashion-MNIST training job's gradient source: n partitions of the training set,
 * a seeded mini-batch per (round, partition) so replicas compute identical gradients. */
#ifndef PENNANT_TOOLS_FMNIST_JOB_H
#define PENNANT_TOOLS_FMNIST_JOB_H

#include "pennant/job.h"
#include "pennant/train.h"

typedef struct fmnist_job {
	pn_dataset train, test;
	pn_model model;
	int partitions;      /* n */
	int batch;           /* examples per partition per round */
	uint64_t seed;
	bool labelflip;      /* Byzantine: compute on labels 9 - y */
	uint8_t *flipped;    /* flipped labels (labelflip only) */
	pn_model_ws *ws;
	float *tmp;          /* one partition's gradient */
	int *idx;
	pn_sgd sgd;          /* serving gradients: the worker's own optimizer */
	float *velocity;     /* its momentum (d), allocated by fmnist_job_prepare */
} fmnist_job;

int fmnist_job_init(fmnist_job *j, const char *dir, const char *model_spec, int partitions,
		    int batch, uint64_t seed, char *err, size_t errlen);
/* Per-process scratch (call in each worker after fork). */
int fmnist_job_prepare(fmnist_job *j, bool labelflip);
void fmnist_job_free(fmnist_job *j);
pn_grad_source fmnist_job_source(fmnist_job *j);
/* Average gradient over all partitions' batches of this round (the reference run). */
double fmnist_full_gradient(fmnist_job *j, uint64_t round, const float *model, float *out);

#endif
