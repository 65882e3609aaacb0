/* Sharded aggregation: K aggregator shards each own a contiguous coordinate range of the
 * d-float model and run the aggregation engine over that range only. Gram rules stay
 * exact because G = Σ_k G_k: every shard settles its round (pn_agg_settle), the shards'
 * facts are merged into one decision (pn_shard_merge: who is used, the summed Gram), and
 * every shard finishes on that decision (pn_agg_finish_shared), so a worker is never used
 * in one shard and dropped in another.
 *
 * The job over the network (K aggregator processes, `pennant-train --shards K`) is
 * pn_agg_job_config.shard in pennant/job.h, its exchange job/shard_link.c (job/README.md).
 */
#ifndef PENNANT_SHARD_H
#define PENNANT_SHARD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most shards a job may have. */
#define PN_SHARD_MAX 64
/* Cuts without layer boundaries fall on multiples of this many floats (the engine's
 * block), so no engine block straddles two shards. */
#define PN_SHARD_ALIGN 4096

typedef struct pn_shard_range {
	size_t lo, hi; /* coordinates [lo, hi) */
} pn_shard_range;

/* Splits [0, d) into K contiguous, non-empty ranges, in order. With layer boundaries
 * (bounds[0..nb), strictly increasing, each in (0, d)) every cut is the boundary nearest
 * to the even cut k·d/K (each used once, so ranges stay non-empty); without (nb == 0),
 * cuts are even cuts rounded to PN_SHARD_ALIGN, or exact even cuts when d is too small
 * for that. Returns 0, or -EINVAL with the reason in err (K out of [1, PN_SHARD_MAX],
 * d < K, fewer than K-1 boundaries, boundaries out of order or range). */
int pn_shard_plan(size_t d, int K, const size_t *bounds, int nb, pn_shard_range *out,
		  char *err, size_t errlen);

/* One decision from K shards' facts for p workers. statuses: K×p, shard k's
 * pn_agg_settle status row at statuses[k·p]; grams: K×p×p partial Grams (NULL when the
 * rule needs none). status[i] = PN_AGG_USED only when every shard used worker i, else
 * the first shard's (in shard order) reason it is out. G = Σ_k G_k summed in shard order
 * (the same bits on every shard that merges the same facts); G may be NULL iff grams is.
 * Returns the number of workers used, or -EINVAL. */
int pn_shard_merge(int K, int p, const int *statuses, const double *grams, int *status,
		   double *G);

#ifdef __cplusplus
}
#endif
#endif
