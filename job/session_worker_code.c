/* The job's code on the worker side of a session: m from WELCOME and, for a
 * comm-efficient code with m > 1, the code itself rebuilt from (n, s, m, seed) so that
 * the worker can encode its message (pn_session_encode). WELCOME carries a check of this
 * worker's row: a code rebuilt differently (another build's LAPACK choosing another
 * generator) is refused at join, never sent as garbage. */
#include "job/session_worker.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pn_sess_free_code(pn_session *s)
{
	pn_code_free(s->code);
	s->code = NULL;
}

static int rebuild_code(pn_session *s, const pn_job_msg *w)
{
	pn_code_params cp;
	pn_code_params_init(&cp, PN_CODE_COMM_EFFICIENT, (int)w->n, (int)w->code_s);
	cp.comm_dim = (int)w->comm_dim;
	cp.seed = w->code_seed;
	char e[256];
	int rc = pn_code_create(&cp, &s->code, e, sizeof e);
	if (rc)
		return pn_sess_fail(s, -EINVAL, "cannot rebuild the job's code: %s", e);
	size_t nm = (size_t)w->n * w->comm_dim;
	if (s->rank >= (int)w->n ||
	    pn_job_code_row_check(pn_code_ce_matrix(s->code) + (size_t)s->rank * nm, nm) != w->code_check) {
		snprintf(e, sizeof e, "%s", pn_code_describe(s->code));
		pn_sess_free_code(s);
		return pn_sess_fail(s, -EINVAL, "the code rebuilt here (%s) is not the aggregator's: "
				    "refusing to send messages it could not decode", e);
	}
	return 0;
}

int pn_sess_adopt_code(pn_session *s, const pn_job_msg *w)
{
	int m = (int)w->comm_dim;
	size_t len = (s->d + (size_t)m - 1) / (size_t)m;
	if (s->comm_dim_wanted && s->comm_dim_wanted != m)
		return pn_sess_fail(s, -EINVAL, "the aggregator's code sends messages of d/%d values; this "
				    "worker was set up for d/%d", m, s->comm_dim_wanted);
	if (2 * len > s->grad_cap)
		return pn_sess_fail(s, -EINVAL, "gradient region too small for messages of %zu floats", len);
	if (m > 1 && !s->code && rebuild_code(s, w) != 0)
		return -EINVAL;
	s->comm_dim = m;
	s->slot_len = len;
	return 0;
}

int pn_session_comm_dim(const pn_session *s) { return s->comm_dim; }
size_t pn_session_message_len(const pn_session *s) { return s->slot_len; }

int pn_session_encode(pn_session *s, const float *const *grads, float *out)
{
	if (!s->have_round)
		return pn_sess_fail(s, -EPROTO, "encode: no round begun");
	if (!grads || !out)
		return pn_sess_fail(s, -EINVAL, "encode: need the partitions' gradients and an output");
	for (int k = 0; k < s->cur.nparts; k++)
		if (!grads[k])
			return pn_sess_fail(s, -EINVAL, "encode: no gradient for partition %d", s->cur.parts[k]);
	if (s->code) /* m > 1: mixes the blocks of the held partitions (pn_code_ce_encode) */
		return pn_code_ce_encode(s->code, s->rank, grads, s->d, out);
	for (size_t x = 0; x < s->d; x++) { /* m = 1: c_i = Σ_k coefs[k]·grad(parts[k]) */
		double v = 0;
		for (int k = 0; k < s->cur.nparts; k++)
			v += s->cur.coefs[k] * (double)grads[k][x];
		out[x] = (float)v;
	}
	return 0;
}
