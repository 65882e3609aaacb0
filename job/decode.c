/* The job's mean through the engine: the engine runs the fixed-weights rule and, at
 * finish, once it knows the usable set (finished, complete, finite: its own NaN/Inf check
 * ran block by block during the pulls), asks this function for the weights. Fractional
 * replicas that disagree with their group's majority are left out first (weight 0), then
 * the code decodes the rest: w_i = a_i / n, so the output is (1/n) Σ a_i c_i, the average
 * of the n partition gradients (include/pennant/job.h, "What is aggregated"). */
#include "job/aggregator_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int pn_job_decode_weights(void *ctx, const bool *usable, int p, double *w, char *err,
			  size_t errlen)
{
	pn_job *j = ctx;
	for (int i = 0; i < p; i++)
		j->use[i] = usable[i];
	j->rec->disagreeing = pn_job_check_replicas(j, j->use);
	pn_decode_info info = {0};
	int rc = pn_code_decode(j->code, j->use, j->alpha, &info);
	j->rec->decode_residual = info.residual;
	if (rc != 0) {
		snprintf(err, errlen, "%s cannot decode the usable workers: %s", pn_code_describe(j->code),
			 strerror(-rc));
		return rc;
	}
	/* a tree's peers are nodes serving sums: divide by the leaves behind them (job.h) */
	double n = j->cfg->leaves > 0 ? j->cfg->leaves : j->n;
	for (int i = 0; i < p; i++)
		w[i] = j->use[i] ? j->alpha[i] / n : 0.0;
	return 0;
}
