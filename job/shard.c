/* pennant/shard.h: the coordinate plan of a sharded job and the merge of the shards'
 * round facts into one decision. */
#include "pennant/shard.h"
#include "pennant/agg.h"
#include "util/util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

static bool bounds_ok(size_t d, const size_t *bounds, int nb)
{
	for (int j = 0; j < nb; j++)
		if (bounds[j] == 0 || bounds[j] >= d || (j > 0 && bounds[j] <= bounds[j - 1]))
			return false;
	return true;
}

/* The boundary nearest to `ideal` among bounds[from .. nb - left), so that `left` later
 * cuts still have a boundary each. */
static int nearest_bound(const size_t *bounds, int nb, int from, int left, size_t ideal)
{
	int best = from;
	for (int j = from; j < nb - left; j++) {
		size_t dj = bounds[j] > ideal ? bounds[j] - ideal : ideal - bounds[j];
		size_t db = bounds[best] > ideal ? bounds[best] - ideal : ideal - bounds[best];
		if (dj < db)
			best = j;
	}
	return best;
}

int pn_shard_plan(size_t d, int K, const size_t *bounds, int nb, pn_shard_range *out,
		  char *err, size_t errlen)
{
	if (K < 1 || K > PN_SHARD_MAX || !out) {
		pn_errf(err, errlen, "shards: K = %d is out of [1, %d]", K, PN_SHARD_MAX);
		return -EINVAL;
	}
	if (d < (size_t)K) {
		pn_errf(err, errlen, "shards: d = %zu is smaller than K = %d", d, K);
		return -EINVAL;
	}
	if (nb < 0 || (nb > 0 && !bounds) || !bounds_ok(d, bounds, nb)) {
		pn_errf(err, errlen,
			"shards: layer boundaries must be strictly increasing and inside (0, %zu)", d);
		return -EINVAL;
	}
	if (nb > 0 && nb < K - 1) {
		pn_errf(err, errlen, "shards: %d layer boundaries cannot cut %d shards", nb, K);
		return -EINVAL;
	}
	bool aligned = d / PN_SHARD_ALIGN >= (size_t)K;
	size_t lo = 0;
	int next = 0;
	for (int k = 0; k < K; k++) {
		size_t hi = d;
		if (k < K - 1) {
			/* floor(d·(k+1)/K) without overflowing d·(k+1) */
			size_t q = d / (size_t)K, r = d % (size_t)K;
			size_t ideal = q * (size_t)(k + 1) + r * (size_t)(k + 1) / (size_t)K;
			if (nb > 0) {
				int j = nearest_bound(bounds, nb, next, K - 2 - k, ideal);
				hi = bounds[j];
				next = j + 1;
			} else if (aligned) {
				hi = (ideal + PN_SHARD_ALIGN / 2) / PN_SHARD_ALIGN * PN_SHARD_ALIGN;
				if (hi <= lo)
					hi = lo + PN_SHARD_ALIGN;
			} else {
				hi = ideal;
			}
		}
		out[k].lo = lo;
		out[k].hi = hi;
		lo = hi;
	}
	return 0;
}

int pn_shard_merge(int K, int p, const int *statuses, const double *grams, int *status,
		   double *G)
{
	if (K < 1 || K > PN_SHARD_MAX || p < 1 || !statuses || !status || (!grams) != (!G))
		return -EINVAL;
	int used = 0;
	for (int i = 0; i < p; i++) {
		status[i] = PN_AGG_USED;
		for (int k = 0; k < K && status[i] == PN_AGG_USED; k++)
			status[i] = statuses[(size_t)k * p + i];
		used += status[i] == PN_AGG_USED;
	}
	if (G) {
		size_t pp = (size_t)p * (size_t)p;
		for (size_t e = 0; e < pp; e++) {
			double s = 0.0;
			for (int k = 0; k < K; k++)
				s += grams[(size_t)k * pp + e];
			G[e] = s;
		}
	}
	return used;
}
