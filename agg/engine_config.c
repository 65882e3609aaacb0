/* The engine's configuration: defaults and validation (pennant/agg.h). */
#include "engine.h"

#include <errno.h>
#include <math.h>

void pn_agg_config_init(pn_agg_config *cfg, int p, size_t d, pn_rule rule)
{
	*cfg = (pn_agg_config){ .p = p, .d = d, .rule = rule, .flag_mode = PN_FLAG_REFERENCE,
				.max_iters = 100, .tol = 1e-9 };
}

int pn_agg_config_check(const pn_agg_config *c, char *err, size_t errlen)
{
	if (c->p < 1) {
		pn_errf(err, errlen, "need at least one worker (p=%d)", c->p);
		return -EINVAL;
	}
	if (c->d < 1) {
		pn_errf(err, errlen, "dimension must be positive (d=%zu)", c->d);
		return -EINVAL;
	}
	if (!pn_rule_desc_get((int)c->rule)) {
		pn_errf(err, errlen, "unknown rule %d", (int)c->rule);
		return -EINVAL;
	}
	if (c->f < 0 || c->f >= c->p) {
		pn_errf(err, errlen, "f=%d must be in [0, p-1] (p=%d)", c->f, c->p);
		return -EINVAL;
	}
	if (c->m < 0 || c->m > c->p) {
		pn_errf(err, errlen, "m=%d must be in [0, p] (0: p-f-2)", c->m);
		return -EINVAL;
	}
	if (!(c->beta >= 0 && c->beta < 0.5)) {
		pn_errf(err, errlen, "beta=%g must be in [0, 0.5)", c->beta);
		return -EINVAL;
	}
	if (c->r < 0) {
		pn_errf(err, errlen, "r=%d must be >= 0 (0: default)", c->r);
		return -EINVAL;
	}
	if (!(c->lambda >= 0) || isinf(c->lambda)) {
		pn_errf(err, errlen, "lambda=%g must be finite and >= 0", c->lambda);
		return -EINVAL;
	}
	if (c->flag_mode != PN_FLAG_REFERENCE && c->flag_mode != PN_FLAG_CONVERGED) {
		pn_errf(err, errlen, "unknown flag mode %d", (int)c->flag_mode);
		return -EINVAL;
	}
	if (c->max_iters < 0 || !(c->tol >= 0) || c->threads < 0) {
		pn_errf(err, errlen, "max_iters, tol and threads must be >= 0");
		return -EINVAL;
	}
	if (pn_dtype_size(c->grad_dtype) == 0) {
		pn_errf(err, errlen, "unknown gradient dtype %d", (int)c->grad_dtype);
		return -EINVAL;
	}
	return 0;
}
