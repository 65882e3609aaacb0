/* Serving gradients (PN_SERVE_GRADIENT): the round's aggregate, scaled as the step would
 * scale it, goes into the registered result slot v%2 the workers READ; RESULT(v) tells
 * them (with its checksum, or "skipped" when the round has no aggregate, so that no
 * worker steps on it). The aggregator's own model is a shadow stepped with the same SGD
 * for evaluation and the job's result. Before STOP every live worker acknowledges the
 * last result, so the job's last step is taken everywhere. */
#include "job/aggregator_internal.h"
#include "util/util.h"

#include <string.h>

const char *pn_job_serve_aggregate(pn_job *j, float *g, double scale)
{
	const char *bad = pn_job_scale_aggregate(j, g, scale);
	if (bad)
		return bad;
	memcpy(j->result + (size_t)pn_job_slot(j->round) * j->d, g, j->d * sizeof(float));
	const char *shadow = pn_job_step(j, g, 1.0);
	if (shadow) /* the workers step their own optimizers: the round is served anyway */
		pn_job_log(j, "round %lld: shadow model not stepped: %s\n", (long long)j->round, shadow);
	return NULL;
}

void pn_job_announce_result(pn_job *j, bool skipped)
{
	pn_job_msg m = {.type = PN_MSG_RESULT, .round = j->round, .slot = pn_job_slot(j->round),
			.skipped = skipped};
	if (!skipped)
		m.checksum = pn_job_result_checksum(j->result + (size_t)m.slot * j->d, j->d);
	for (int i = 0; i < j->n; i++)
		if (j->w[i].alive)
			pn_job_send(j, i, &m);
}

void pn_job_await_result_acks(pn_job *j, int64_t last_round)
{
	double t0 = pn_now_s();
	for (;;) {
		int owing = 0;
		for (int i = 0; i < j->n; i++)
			owing += j->w[i].alive && j->w[i].acked < last_round;
		if (owing == 0)
			return;
		if (pn_now_s() - t0 > j->silence_s) {
			pn_job_log(j, "%d worker(s) did not confirm the last result within %.1f s\n", owing,
				   j->silence_s);
			return;
		}
		pn_job_drive(j, 5);
	}
}
