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

static pn_sgd job_sgd(const pn_job *j)
{
	return (pn_sgd){.lr = j->cfg->lr, .momentum = j->cfg->momentum, .weight_decay = j->cfg->weight_decay};
}

/* A piece [off, off+len) of the aggregate, from a combination thread: pieces are
 * disjoint, so their writes are too; only the verdict is shared. */
static void step_piece(void *ctx, size_t off, const float *g, size_t len)
{
	pn_job *j = ctx;
	const pn_sgd sgd = job_sgd(j);
	int bad = pn_sgd_step_checked(&sgd, j->cur + off, j->velocity + off, g, j->next + off,
				      j->velocity_saved + off, len);
	if (bad)
		__atomic_fetch_or(&j->step_fused_bad, bad, __ATOMIC_RELAXED);
}

void pn_job_step_fuse_begin(pn_job *j, double scale)
{
	j->step_fused = !j->result && !j->link && j->comm_dim <= 1 && scale == 1.0;
	j->step_fused_bad = 0;
	pn_agg_set_consumer(j->agg, j->step_fused ? step_piece : NULL, j);
}

/* A step into next and the spare momentum (pn_sgd_step_checked's verdict bad) taken or
 * refused: taken, the spare becomes the momentum; refused, next goes back to cur and the
 * momentum was never touched. */
static const char *step_verdict(pn_job *j, int bad)
{
	if (bad) {
		memcpy(j->next, j->cur, j->d * sizeof(float)); /* the model stays */
		return bad & 1 ? "the aggregate is not finite" : "the step would make the model non-finite";
	}
	float *v = j->velocity;
	j->velocity = j->velocity_saved, j->velocity_saved = v;
	return NULL;
}

const char *pn_job_step_fused_end(pn_job *j)
{
	return step_verdict(j, __atomic_load_n(&j->step_fused_bad, __ATOMIC_RELAXED));
}

/* One pass: the step from cur into next and from the momentum into its spare buffer,
 * checked as it goes; the buffers swap only when the step is finite, so a refused step
 * leaves the momentum as it was without a saved copy (the step used to copy model and
 * momentum, step in place, then read both again to check: ~2.4x the memory traffic,
 * 34 ms of a 1e7-parameter round here). */
const char *pn_job_step(pn_job *j, float *g, double scale)
{
	if (scale != 1.0)
		for (size_t k = 0; k < j->d; k++)
			g[k] *= (float)scale;
	const pn_sgd sgd = job_sgd(j);
	return step_verdict(j, pn_sgd_step_checked(&sgd, j->cur, j->velocity, g, j->next,
						    j->velocity_saved, j->d));
}
