/* The job's mean through the engine: the engine runs the fixed-weights rule and, at
 * finish, once it knows the usable set (finished, complete, finite: its own NaN/Inf check
 * ran block by block during the pulls), asks this function for the weights. Fractional
 * replicas that disagree with their group's majority are left out first (weight 0), then
 * the code decodes the rest: w_i = a_i / n, so the output is (1/n) Σ a_i c_i, the average
 * of the n partition gradients (include/pennant/job.h, "What is aggregated").
 * Comm-efficient codes with m > 1 decode to a matrix A (m×n): block u of the aggregate
 * is Σ_i A[u,i] f_i, so no one weight vector gives it. The weight function keeps A and
 * hands the engine block 0's weights (the engine still finds the usable set and checks
 * every message for NaN/Inf); pn_job_ce_combine then writes every block. */
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
	bool matrix = j->comm_dim > 1;
	int rc = matrix ? pn_code_ce_decode(j->code, j->use, j->ce_A, &info)
			: pn_code_decode(j->code, j->use, j->alpha, &info);
	j->rec->decode_residual = info.residual;
	j->rec->decode_cond = info.cond;
	if (rc == 0 && matrix && !info.from_cache) /* pn_code_decode warns by itself when ill-conditioned */
		pn_job_log(j, "round %lld: %s decode of %d finished: condition number %.3g, residual %.2g%s\n",
			   (long long)j->round, pn_code_describe(j->code), info.nfinished, info.cond,
			   info.residual, info.ill_conditioned ? " (ill-conditioned: float32 loses precision)" : "");
	if (rc == 0 && matrix && !info.exact)
		rc = -ENODATA; /* fewer than n - s messages: the matrix decode has no approximation */
	if (rc == 0 && matrix)
		memcpy(j->alpha, j->ce_A, sizeof(double) * (size_t)p); /* block 0's weights */
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

int pn_job_ce_combine(pn_job *j, float *out)
{
	/* the round's landing rows (begin_round), read in place: no copy */
	return pn_code_ce_combine(j->code, j->ce_A, (const float *const *)j->rows, j->d, out);
}
