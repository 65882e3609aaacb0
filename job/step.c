/* The optimizer step, guarded: model next = one SGD step (train/model.c's, the only
 * implementation) from model cur along scale·g. The aggregate is checked before and the
 * result after: a step that is not finite is refused with model and momentum unchanged,
 * so the model never becomes non-finite whatever the rule produced. */
#include "job/aggregator_internal.h"
#include "pennant/train.h"
#include "util/util.h"

#include <string.h>

const char *pn_job_scale_aggregate(pn_job *j, float *g, double scale)
{
	if (scale != 1.0)
		for (size_t k = 0; k < j->d; k++)
			g[k] *= (float)scale;
	return pn_all_finite(g, j->d) ? NULL : "the aggregate is not finite";
}

const char *pn_job_step(pn_job *j, float *g, double scale)
{
	const char *bad = pn_job_scale_aggregate(j, g, scale);
	if (bad)
		return bad;
	const pn_sgd sgd = {.lr = j->cfg->lr, .momentum = j->cfg->momentum, .weight_decay = j->cfg->weight_decay};
	memcpy(j->next, j->cur, j->d * sizeof(float));
	memcpy(j->velocity_saved, j->velocity, j->d * sizeof(float));
	pn_sgd_step(&sgd, j->next, j->velocity, g, j->d);
	if (pn_all_finite(j->next, j->d) && pn_all_finite(j->velocity, j->d))
		return NULL;
	memcpy(j->velocity, j->velocity_saved, j->d * sizeof(float));
	memcpy(j->next, j->cur, j->d * sizeof(float));
	return "the step would make the model non-finite";
}
