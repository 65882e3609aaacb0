#include "fmnist_job.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int fmnist_job_init(fmnist_job *j, const char *dir, const char *model_spec, int partitions,
		    int batch, uint64_t seed, char *err, size_t errlen)
{
	memset(j, 0, sizeof *j);
	int rc = pn_fmnist_load(dir, 1, &j->train, err, errlen);
	if (!rc)
		rc = pn_fmnist_load(dir, 0, &j->test, err, errlen);
	if (!rc)
		rc = pn_model_from_spec(&j->model, model_spec, j->train.dim, 10, err, errlen);
	if (rc)
		return rc;
	if (partitions < 1 || partitions > j->train.n || batch < 1 || batch > j->train.n / partitions) {
		snprintf(err, errlen, "need 1 <= batch <= %d examples per partition", j->train.n / partitions);
		return -EINVAL;
	}
	j->partitions = partitions;
	j->batch = batch;
	j->seed = seed;
	return 0;
}

int fmnist_job_prepare(fmnist_job *j, bool labelflip)
{
	j->labelflip = labelflip;
	j->ws = pn_model_ws_new(&j->model, j->batch);
	j->tmp = malloc(sizeof(float) * j->model.nparams);
	j->idx = malloc(sizeof(int) * j->batch);
	j->velocity = calloc(j->model.nparams, sizeof(float));
	if (labelflip) {
		j->flipped = malloc((size_t)j->train.n);
		if (j->flipped)
			for (int k = 0; k < j->train.n; k++)
				j->flipped[k] = (uint8_t)(9 - j->train.y[k]);
	}
	return j->ws && j->tmp && j->idx && j->velocity && (!labelflip || j->flipped) ? 0 : -ENOMEM;
}

void fmnist_job_free(fmnist_job *j)
{
	pn_model_ws_free(j->ws);
	free(j->tmp);
	free(j->idx);
	free(j->velocity);
	free(j->flipped);
	pn_dataset_free(&j->train);
	pn_dataset_free(&j->test);
	memset(j, 0, sizeof *j);
}

/* Mini-batch of partition `part` in round `round`: the same for every replica. */
static void batch_indices(const fmnist_job *j, uint64_t round, int part, int *idx)
{
	int lo = (int)((int64_t)j->train.n * part / j->partitions);
	int hi = (int)((int64_t)j->train.n * (part + 1) / j->partitions);
	uint64_t s = j->seed * 0x9e3779b97f4a7c15ull ^ (round + 1) * 0xbf58476d1ce4e5b9ull ^
		     (uint64_t)(part + 1) * 0x94d049bb133111ebull;
	for (int k = 0; k < j->batch; k++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		idx[k] = lo + (int)(s % (uint64_t)(hi - lo));
	}
}

static double partition_grad(fmnist_job *j, uint64_t round, const float *model, int part, float *g)
{
	batch_indices(j, round, part, j->idx);
	pn_dataset ds = j->train;
	if (j->labelflip)
		ds.y = j->flipped;
	return pn_model_grad(&j->model, model, &ds, j->idx, j->batch, g, j->ws);
}

static int compute(void *ctx, uint64_t round, const float *model, const int *parts,
		   const double *coefs, int nparts, float *out, double *loss)
{
	fmnist_job *j = ctx;
	size_t d = j->model.nparams;
	memset(out, 0, sizeof(float) * d);
	double l = 0;
	for (int k = 0; k < nparts; k++) {
		if (parts[k] < 0 || parts[k] >= j->partitions)
			return -EINVAL;
		l += partition_grad(j, round, model, parts[k], j->tmp);
		const float c = (float)coefs[k];
		for (size_t q = 0; q < d; q++)
			out[q] += c * j->tmp[q];
	}
	*loss = nparts ? l / nparts : 0;
	return 0;
}

/* Serving gradients: the worker steps its own SGD (the aggregator's, same parameters)
 * from the served aggregate, so its model follows the one the aggregator would step. */
static int step(void *ctx, uint64_t round, const float *aggregate, float *model)
{
	(void)round;
	fmnist_job *j = ctx;
	pn_sgd_step(&j->sgd, model, j->velocity, aggregate, j->model.nparams);
	return 0;
}

pn_grad_source fmnist_job_source(fmnist_job *j)
{
	return (pn_grad_source){.ctx = j, .d = j->model.nparams, .compute = compute, .step = step};
}

double fmnist_full_gradient(fmnist_job *j, uint64_t round, const float *model, float *out)
{
	size_t d = j->model.nparams;
	memset(out, 0, sizeof(float) * d);
	double l = 0;
	for (int p = 0; p < j->partitions; p++) {
		l += partition_grad(j, round, model, p, j->tmp);
		for (size_t q = 0; q < d; q++)
			out[q] += j->tmp[q] / (float)j->partitions;
	}
	return l / j->partitions;
}
