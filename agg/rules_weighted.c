/* Fixed weights: output = Σ w_i g_i with w chosen by the caller (pn_agg_set_weights or a
 * weight function called at finish with the usable set, e.g. a gradient code's decode).
 * Per block the engine only checks the data for NaN/Inf while pulls are in flight; the
 * combination pass is the engine's. Magnitude never matters: coefficients outside
 * float32's normal range are applied in float64 (combine.c). */
#include "agg_internal.h"

static int one_min(const pn_agg_config *c)
{
	(void)c;
	return 1;
}

const pn_rule_desc pn_rule_desc_weighted = {
	.id = PN_RULE_WEIGHTED, .name = "weighted", .kind = PN_KIND_FIXED,
	.min_workers = one_min, .min_workers_text = "1",
};
