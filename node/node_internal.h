/* The node's state (include/pennant/node.h), shared by its files (node/README.md says
 * which file does what). One thread drives everything: the parent session and the
 * children's transport context are polled in turn, never blocked on for long. */
#ifndef PENNANT_NODE_INTERNAL_H
#define PENNANT_NODE_INTERNAL_H

#include "job/proto.h"
#include "node/fixed_sum.h"
#include "pennant/node.h"
#include "pennant/session.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct node_child {
	pn_tp_peer *peer;
	pn_mr_desc grad;      /* its gradient region (2 slots of d, from HELLO) */
	bool alive;
	bool ready;           /* READY of the current round seen */
	uint32_t slot;        /* the gradient slot that READY named */
	double loss;
	size_t upto;          /* elements of its slot final before READY (its PROGRESS) */
	int next_chunk;       /* the next chunk of it to pull this round */
	int landed;           /* its chunks summed this round */
	double last_sent, last_heard;
	/* robust: over the run */
	int64_t nonfinite, top_suspect;
	double score_sum;
	/* replica (node/replica.c): the order its READY came in this round, whether its check
	 * found a difference, and over the run how its checks ended */
	int ready_seq;
	bool differs;
	bool rejected;        /* this round: a candidate given up (it differs from a quorum) */
	int64_t agreed, disagreed, unchecked, rejected_rounds;
} node_child;

/* One landing slot of the pool: free, or holding a read of (child, chunk) in flight. */
typedef struct node_slot {
	bool busy;
	int child, chunk;
	int gen;              /* replica: the candidate it was read for (node/replica.c) */
} node_slot;

typedef struct pn_node {
	const pn_node_config *cfg;
	int g;                /* children */
	size_t d, chunk;      /* floats; floats per chunk */
	int nchunks;
	pn_session *parent;
	pn_tp_ctx *ctx;       /* the one context: the children's side and the parent session's */
	bool accepting;       /* children still joining: HELLOs are taken */
	int deferred_rc;      /* a child's failure found while the session polled */
	pn_tp_mr *model_mr, *pool_mr;
	float *model;         /* 2 slots of d: model v in slot v%2, READ by the children */
	float *pool;          /* nslots × chunk floats: where the children's chunks land */
	node_slot *slots;
	int nslots;
	node_child *kids;
	double heartbeat_s, silence_s;
	/* the round */
	int64_t round;
	float *sum;           /* the parent-facing gradient slot of the round (the session's) */
	double *acc;          /* d: the round's sum in float64, rounded once into `sum` when
			       * complete, so it does not depend on the chunks' arrival order */
	int landed;           /* chunks summed this round, over all children */
	/* sum: per chunk, the children summed into it; the chunks below `prefix` are complete
	 * and rounded into `sum`; the parent was told the first `told` of them (PROGRESS) */
	int *chunk_kids;
	int prefix, told;
	bool streaming;       /* sum mode, float32 served, not --serve whole: PROGRESS is sent */
	int64_t progress_sent;
	uint64_t reads_before_ready;
	bool stopping;        /* STOP forwarded: children leaving is expected */
	int lost;             /* the child found gone (-1: none) */
	uint64_t bytes_pulled;
	/* --fixed-point: the sum kept in block fixed point too (the float32 one is the
	 * reference its quantisation error is measured against) */
	bool fixed_on;
	pn_fixed_sum fixed;
	double fixed_err_max;     /* the largest per-round relative error against float32 */
	/* robust (node/robust.c): the children's whole gradients, G × d, and the engine */
	float *rows;          /* registered (rows_mr): each child's chunks land in its row */
	pn_tp_mr *rows_mr;
	float **rowp;         /* rows of each child, for the engine */
	struct pn_agg *agg;
	/* replica: the child served this round (-1: none yet), READYs seen this round, the
	 * round's checks still to be counted, children lost while the others went on */
	int primary;
	int ready_seen;
	bool checks_open;
	bool served;          /* the parent may read this round's slot (quorum reached) */
	int gen;              /* candidates tried this round: reads of an earlier one are ignored */
	int agree, differ;    /* complete checks against the candidate: equal, different */
	int children_lost;
	char *err;
	size_t errlen;
} pn_node;

/* children.c: a completion of the children's side the parent session's poll found
 * (pn_session_config.foreign); one poll of the shared context, the parent's completions
 * handed to the session: the count polled, or -errno (the node failed). */
void pn_node_foreign(void *arg, const pn_tp_completion *c);
int pn_node_poll(pn_node *n, int timeout_ms);

/* node.c */
void pn_node_log(pn_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int pn_node_fail(pn_node *n, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Keeps the parent session alive (its heartbeat): 0, PN_SESSION_STOPPED once the parent
 * said STOP, or -errno once the parent is gone. */
int pn_node_parent_alive(pn_node *n);

/* children.c: the aggregator's side toward the children */
int pn_node_accept_children(pn_node *n);
/* ROUND(v) with each child's own code row (uncoded: its rank's partition). */
int pn_node_announce(pn_node *n, int64_t round);
/* One poll of the children's context (up to timeout_ms): READY, PING, landed reads,
 * peers down; then the heartbeat. 0, or -errno once a child is gone or a read failed. */
int pn_node_drive(pn_node *n, int timeout_ms);
/* STOP to every child, then up to 2 s for them to leave. */
void pn_node_stop_children(pn_node *n);

/* sum.c: the streaming sum of one round */
void pn_node_sum_begin(pn_node *n, int64_t round, float *sum);
/* Posts reads while a slot is free and a ready child has chunks left (a child that sent
 * PROGRESS: chunks inside its final prefix). */
int pn_node_sum_post(pn_node *n);
/* Streaming: PROGRESS to the parent when the complete prefix grew by 1/16 of the chunks
 * (at most 16 messages a round; the last chunk is READY's). 0 or -errno. */
int pn_node_sum_progress(pn_node *n);
/* A read landed in `slot`: add it into the sum, free the slot. */
int pn_node_sum_landed(pn_node *n, int slot, int status, uint32_t len);
bool pn_node_sum_complete(const pn_node *n);
/* The complete round: with --fixed-point, the fixed-point sum replaces the float32 one in
 * the parent-facing slot and its error against it is recorded. */
void pn_node_sum_finish(pn_node *n);

/* robust.c: mode robust. rows set: sum.c lands each read in its child's row instead of
 * a pool slot, and adds nothing. */
int pn_node_robust_setup(pn_node *n);
/* Every child's gradient is in: the rule over them, × G, into the parent-facing slot. */
int pn_node_robust_finish(pn_node *n);
void pn_node_robust_teardown(pn_node *n);

/* replica.c: mode replica. ROUND rows name the group's G partitions (children.c). */
void pn_node_replica_begin(pn_node *n, int64_t round, float *sum);
/* Posts reads: the served replica's chunks first, then, once it is complete, the other
 * ready replicas' chunks for the check. Called in the round and while the node waits
 * for the parent's next round, so the check overlaps the parent's pull. */
int pn_node_replica_post(pn_node *n);
/* this_round false: a check read of an earlier round, given up on (its slot is freed) */
int pn_node_replica_landed(pn_node *n, int slot, int status, uint32_t len, bool this_round);
/* The served replica is complete: the parent may be told READY. */
bool pn_node_replica_served(const pn_node *n);
/* Before the next round (and at the end): finish the checks of the replicas that said
 * READY in time, then count how each ended. 0, or -errno. */
int pn_node_replica_close(pn_node *n);
/* Child c is gone: 0 when another replica can go on (a served replica lost before it
 * completes is replaced by the next ready one), else the node fails. */
int pn_node_replica_lose(pn_node *n, int c, const char *how);

/* Floats in chunk `chunk` (the last one may be short). */
static inline size_t pn_node_chunk_len(const pn_node *n, int chunk)
{
	size_t off = (size_t)chunk * n->chunk;
	return n->d - off < n->chunk ? n->d - off : n->chunk;
}

/* The read cookie: the round's low 32 bits and the pool slot. */
static inline uint64_t pn_node_cookie(int64_t round, int slot)
{
	return (uint64_t)(uint32_t)round << 32 | (uint32_t)slot;
}

#endif
