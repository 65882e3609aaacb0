/* Pennant pull scheduling: chunk plans, pull ordering policies and in-flight windows.
 *
 * The aggregator pulls every needed worker's gradient (d floats) in chunks. Per round:
 *
 *     pn_chunk_plan plan;                       // once per model shape
 *     pn_chunk_plan_build(&cp, &plan, err, sizeof err);
 *     pn_puller *pl = pn_pull_create(&cfg, err, sizeof err);   // cfg: plan, windows, policy
 *     ... worker i says "ready":       pn_pull_set_ready(pl, i, now);
 *     ... while (pn_pull_next(pl, &req) == 1) post a read of req (worker, offset, len);
 *     ... a read completes:            pn_pull_complete(pl, w, chunk);  (then next() again)
 *     ... a read failed:               pn_pull_fail(pl, w, chunk, retry);
 *     ... straggler policy says some workers are no longer needed:
 *                                      pn_pull_set_needed(pl, needed, cancel, cap);
 *         and cancel the returned in-flight reads at the transport.
 *     pn_pull_reset(pl) for the next round.
 *
 * Guarantees: each (worker, chunk) is handed out exactly once per round unless a failure
 * is retried; never more than window_per_worker reads in flight for one worker nor
 * window_total overall; cancelled reads leave the windows at once and their late
 * completions are ignored (-ESTALE) and counted, never reported as data.
 * Deterministic: the same calls in the same order give the same requests.
 * The scheduler knows nothing about packets or transports; offsets are in floats.
 */
#ifndef PENNANT_SCHED_H
#define PENNANT_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- chunk plan ---------------------------------------------------------------------- */

typedef struct pn_chunk {
	size_t offset; /* first float */
	size_t len;    /* floats */
	int layer;     /* first layer (tensor) the chunk covers; 0 without layer info */
} pn_chunk;

typedef struct pn_chunk_params {
	size_t d;                /* elements in the gradient (> 0) */
	size_t unit_bytes;       /* transport's preferred read unit, multiple of 4; 0: 64 KiB */
	int workers;             /* workers pulled from each round (>= 1) */
	size_t max_chunk_bytes;  /* upper bound; 0: 8 MiB */
	int target_pulls;        /* reads per round to aim for (pipelining depth); 0: 256 */
	size_t chunk_bytes;      /* explicit chunk size (rounded up to the unit); 0: automatic */
	const size_t *layer_ends;/* optional: end offset (floats) of each layer, increasing, last = d */
	int layers;              /* entries in layer_ends */
	size_t elem_bytes;       /* bytes per element: 0 or 4 float32, 2 bf16/fp16 (sizes in bytes
				  * above become that many elements; offsets count elements) */
} pn_chunk_params;

typedef struct pn_chunk_plan {
	size_t d;
	size_t chunk_floats; /* nominal chunk size (a multiple of the unit) */
	int nchunks;
	pn_chunk *chunks;    /* nchunks, contiguous and covering [0, d) */
} pn_chunk_plan;

/* Chunk size: ceil(target_pulls / workers) chunks per worker (more workers already keep
 * the aggregator busy, so each needs fewer), rounded up to the transport unit and clamped
 * to [unit, max_chunk_bytes]. With layer boundaries, chunks never straddle a layer: large
 * layers are split into equal unit-aligned pieces, consecutive small layers are packed
 * into one chunk. Returns 0 or -EINVAL (message in err) / -ENOMEM. */
int pn_chunk_plan_build(const pn_chunk_params *p, pn_chunk_plan *plan, char *err, size_t errlen);
void pn_chunk_plan_free(pn_chunk_plan *plan);

/* ---- pull ordering policies ---------------------------------------------------------- */

/* Read-only view of the puller's state offered to a policy. */
typedef struct pn_pull_view pn_pull_view;
int pn_pull_view_workers(const pn_pull_view *v);
int pn_pull_view_chunks(const pn_pull_view *v);
/* Ready, still needed, under its window and has a pending chunk inside what it said is
 * final (pn_pull_set_ready_upto; the total window has room whenever a policy is asked). */
bool pn_pull_view_eligible(const pn_pull_view *v, int worker);
double pn_pull_view_ready_time(const pn_pull_view *v, int worker);
/* Lowest-numbered pending chunk of the worker, or -1. */
int pn_pull_view_next_chunk(const pn_pull_view *v, int worker);
int pn_pull_view_chunk_layer(const pn_pull_view *v, int chunk);
int pn_pull_view_inflight(const pn_pull_view *v, int worker);
int pn_pull_view_done(const pn_pull_view *v, int worker);

/* A policy picks the next (worker, chunk) among eligible workers. Adding one is one file
 * defining a const pn_pull_policy (plus a line in the name table, sched/pull_policy.c). */
typedef struct pn_pull_policy {
	const char *name;
	size_t state_size;                       /* bytes of per-puller state, zeroed on reset */
	/* Returns the worker and sets *chunk (one of its pending chunks), or -1 for none. */
	int (*pick)(void *state, const pn_pull_view *v, int *chunk);
} pn_pull_policy;

extern const pn_pull_policy pn_policy_round_robin;   /* cycle over workers */
extern const pn_pull_policy pn_policy_earliest_ready;/* worker ready longest first */
extern const pn_pull_policy pn_policy_layer_priority;/* lowest layer first across workers */

/* "round-robin", "earliest-ready", "layer-priority"; NULL if unknown. */
const pn_pull_policy *pn_pull_policy_by_name(const char *name);
/* NULL-terminated list of all policies. */
const pn_pull_policy *const *pn_pull_policies(void);

/* ---- puller: one round's pull state -------------------------------------------------- */

typedef struct pn_pull_config {
	int workers;
	const pn_chunk_plan *plan;    /* must outlive the puller */
	int window_per_worker;        /* max reads in flight per worker (>= 1) */
	int window_total;             /* max reads in flight overall (>= 1) */
	const pn_pull_policy *policy; /* NULL: round robin */
} pn_pull_config;

typedef struct pn_pull_req {
	int worker;
	int chunk;
	size_t offset; /* floats */
	size_t len;    /* floats */
} pn_pull_req;

typedef struct pn_pull_stats {
	uint64_t issued;       /* requests handed out (including retries) */
	uint64_t completed;    /* chunks landed */
	uint64_t cancelled;    /* in-flight reads cancelled */
	uint64_t dropped;      /* pending chunks never issued because the worker was dropped */
	uint64_t stale;        /* completions of cancelled reads, ignored */
	uint64_t bogus;        /* completions/failures for reads not in flight, ignored */
	uint64_t retries;      /* failed reads re-queued */
	int max_inflight_total;/* high-water marks, for checking the windows */
	int max_inflight_worker;
} pn_pull_stats;

typedef struct pn_puller pn_puller;

pn_puller *pn_pull_create(const pn_pull_config *cfg, char *err, size_t errlen);
void pn_pull_free(pn_puller *p);
/* New round with the same plan: every worker not ready, needed, all chunks pending. Stats
 * are kept (cumulative); in-flight reads of the old round must have been cancelled. */
void pn_pull_reset(pn_puller *p);

/* A worker that joins mid-round (dropped or failed so far, nothing in flight, nothing
 * done): as after reset, needed and all chunks pending. -EBUSY if it has reads in flight
 * or done. */
int pn_pull_readmit(pn_puller *p, int worker);

/* Worker's gradient is ready to be pulled; t is the caller's clock (for earliest-ready). */
int pn_pull_set_ready(pn_puller *p, int worker, double t);
/* Only the worker's first `upto` elements (of the plan's) are final yet: a streaming
 * producer (an aggregation node's sum) announces its completed prefix. Chunks that end
 * within it may be issued; the rest wait for a larger upto or pn_pull_set_ready. A
 * smaller upto than announced before changes nothing; the first call's t is the worker's
 * ready time. */
int pn_pull_set_ready_upto(pn_puller *p, int worker, size_t upto, double t);
/* Next read to post: returns 1 and fills req, 0 if nothing may be issued now (windows full,
 * nothing ready or all done), negative errno if the policy misbehaved (-EPROTO). */
int pn_pull_next(pn_puller *p, pn_pull_req *req);
/* A read landed. Returns 1 if this completed the worker's gradient, 0 otherwise,
 * -ESTALE for a cancelled read (ignored), -EINVAL for a read not in flight (ignored). */
int pn_pull_complete(pn_puller *p, int worker, int chunk);
/* A read failed. retry: the chunk is re-queued; otherwise the worker is marked failed and
 * its other reads are cancelled (written to cancel[], up to cap; returns their count). */
int pn_pull_fail(pn_puller *p, int worker, int chunk, bool retry, int *cancel, int cap);
/* Stop pulling from a worker: pending chunks are dropped, in-flight chunks are cancelled
 * and written to cancel[] (up to cap) for the caller to cancel at the transport. Returns
 * how many were in flight. */
int pn_pull_drop_worker(pn_puller *p, int worker, int *cancel, int cap);
/* Drop every worker with needed[w] == false that is not finished. Cancelled reads are
 * written to cancel[] as (worker, chunk) pairs (2 ints each, up to cap pairs); returns the
 * number of pairs. */
int pn_pull_set_needed(pn_puller *p, const bool *needed, int *cancel, int cap);

bool pn_pull_worker_finished(const pn_puller *p, int worker);
bool pn_pull_worker_failed(const pn_puller *p, int worker);
/* n flags: worker's whole gradient landed / worker failed. */
void pn_pull_finished_set(const pn_puller *p, bool *finished);
void pn_pull_failed_set(const pn_puller *p, bool *failed);
int pn_pull_inflight(const pn_puller *p, int worker); /* worker < 0: total */
void pn_pull_get_stats(const pn_puller *p, pn_pull_stats *st);

#ifdef __cplusplus
}
#endif
#endif
