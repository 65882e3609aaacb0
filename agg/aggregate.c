/* One-shot aggregation over a row-major p×d array: create + reset + land every row +
 * finish (pennant/agg.h: pn_aggregate, pn_aggregate_typed). */
#include "engine.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int pn_aggregate(const pn_agg_config *cfg, const float *x, float *out, pn_agg_report *rep,
		 double *weights, char *err, size_t errlen)
{
	if (cfg && cfg->grad_dtype != PN_DTYPE_F32) {
		pn_errf(err, errlen, "rows are %s: use pn_aggregate_typed", pn_dtype_name(cfg->grad_dtype));
		return -EINVAL;
	}
	return pn_aggregate_typed(cfg, x, out, rep, weights, err, errlen);
}

int pn_aggregate_typed(const pn_agg_config *cfg, const void *x, float *out, pn_agg_report *rep,
		       double *weights, char *err, size_t errlen)
{
	if (!cfg || !x || !out) {
		pn_errf(err, errlen, "null argument");
		return -EINVAL;
	}
	if (pn_agg_config_check(cfg, err, errlen) != 0)
		return -EINVAL;
	const void **rows = malloc(sizeof(void *) * (size_t)cfg->p);
	size_t row_bytes = cfg->d * pn_dtype_size(cfg->grad_dtype);
	pn_agg *a = rows ? pn_agg_create(cfg, err, errlen) : NULL;
	int rc = a ? 0 : -ENOMEM;
	if (a) {
		for (int i = 0; i < cfg->p; i++)
			rows[i] = (const char *)x + (size_t)i * row_bytes;
		/* A coordinate rule writes its blocks into out as they are computed, unless out
		 * overlaps the rows it reads: no d-float buffer to fault in and copy. */
		uintptr_t xb = (uintptr_t)x, xe = xb + (size_t)cfg->p * row_bytes;
		uintptr_t ob = (uintptr_t)out, oe = ob + cfg->d * sizeof(float);
		if (oe <= xb || ob >= xe)
			pn_agg_output_direct(a, out);
		rc = pn_agg_reset_typed(a, rows);
		if (rc != 0)
			pn_errf(err, errlen, "%s", pn_agg_errmsg(a));
	}
	free(rows);
	if (!a)
		return -ENOMEM;
	if (rc != 0) {
		pn_agg_free(a);
		return rc;
	}
	for (int i = 0; i < cfg->p && rc == 0; i++)
		rc = pn_agg_landed(a, i, 0, cfg->d);
	if (rc == 0)
		rc = pn_agg_finish(a, out);
	if (rc != 0)
		pn_errf(err, errlen, "%s", pn_agg_errmsg(a));
	if (rep)
		pn_agg_get_report(a, rep);
	if (weights && rc == 0)
		memcpy(weights, pn_agg_weights(a), sizeof(double) * cfg->p);
	pn_agg_free(a);
	return rc;
}
