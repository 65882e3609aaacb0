/* Control messages between aggregator and workers (each fits PN_TP_CTRL_MAX bytes).
 * Little-endian fixed layouts, packed and parsed field by field. The parser takes
 * untrusted peer bytes: anything that does not parse, or any field out of its range, is
 * -EBADMSG (the caller drops and counts it). */
#ifndef PENNANT_JOB_PROTO_H
#define PENNANT_JOB_PROTO_H

#include "pennant/job.h"
#include "pennant/transport.h"

#include <stddef.h>
#include <stdint.h>

#define PN_JOB_PROTO_VERSION 7
#define PN_JOB_MAX_WORKERS 4095      /* ranks 0..4094; also the read cookie's worker field */
#define PN_JOB_MAX_TIMER_MS 86400000u /* heartbeat / silence limits: at most one day */

enum pn_job_msg_type {
	PN_MSG_HELLO = 1,   /* worker → aggregator: rank, d, gradient region */
	PN_MSG_WELCOME = 2, /* aggregator → worker: n, d, model region, heartbeat, silence limit */
	PN_MSG_ROUND = 3,   /* aggregator → worker: round, model slot, code row */
	PN_MSG_READY = 4,   /* worker → aggregator: round, gradient slot, loss */
	PN_MSG_STOP = 5,    /* aggregator → worker: leave (exit 0) */
	PN_MSG_PING = 6,    /* either way: "still here", sent when nothing else was for a while */
	PN_MSG_RESULT = 7,  /* aggregator → worker, serving gradients: round v's aggregate is in
			     * result slot v%2 (or the round is skipped), with its checksum */
	PN_MSG_RESULT_ACK = 8, /* worker → aggregator: I have read (or skipped) RESULT(v) */
	/* Between aggregator shards (pennant/shard.h; job/shard_link.c): */
	PN_MSG_SHARD_HELLO = 9,   /* shard k > 0 → shard 0: k, K, n, d, its range, its facts
				   * region (region) and its model region (result) */
	PN_MSG_SHARD_WELCOME = 10, /* shard 0 → shard k: K, n, d, its range, the decision region */
	PN_MSG_FACTS = 11,        /* shard k → shard 0: round v's facts are in facts slot v%2 */
	PN_MSG_DECISION = 12,     /* shard 0 → shard k: round v's decision is in decision slot v%2 */
	PN_MSG_SHARD_DONE = 13,   /* shard k → shard 0: the job's last model is in model slot
				   * `slot` after `round` rounds; `bytes` it pulled */
	/* A robust node → its parent, before READY(v): its rule's verdict on children
	 * rank .. rank + nparts - 1 (global worker ranks): parts[k] the pn_agg_worker_status,
	 * coefs[k] the score (lower is more trusted; +inf when excluded). At most
	 * PN_JOB_MAX_PARTS children per message: a larger group sends several. */
	PN_MSG_NODE_REPORT = 14,
	/* A streaming worker (an aggregation node's sum) → its aggregator, before READY(v):
	 * the first `d` elements of gradient slot `slot` are final and may be read now. The
	 * rest waits for READY (which stays the word that the whole gradient is there). */
	PN_MSG_PROGRESS = 15,
};
#define PN_MSG_LAST PN_MSG_PROGRESS

typedef struct pn_job_msg {
	uint8_t type;
	uint32_t rank, n, slot;
	int64_t round;
	uint64_t d;                 /* HELLO, WELCOME: the gradient's length; PROGRESS: elements final */
	pn_mr_desc region;          /* HELLO: gradient region; WELCOME: model region */
	uint8_t serve;              /* WELCOME: pn_serve */
	uint8_t grad_dtype;         /* HELLO: pn_dtype of the gradient region's elements */
	pn_mr_desc result;          /* WELCOME, serving gradients: the result region (2 slots of d);
				     * serving the model: all zero */
	bool skipped;               /* RESULT: no aggregate this round (do not step) */
	uint64_t checksum;          /* RESULT: pn_job_result_checksum of the slot's d floats */
	uint32_t heartbeat_ms;      /* WELCOME: the aggregator pings at least this often */
	uint32_t silence_ms;        /* WELCOME: silence this long means the peer is gone */
	int status;                 /* READY: 0, or a negative errno from compute; STOP: 0, or
				     * -ECONNRESET when the job ended because shard `shard` was lost */
	uint32_t shard, shards;     /* WELCOME, SHARD_*: the sender's shard index and the job's K
				     * (1: unsharded); STOP: the lost shard */
	uint64_t lo, hi;            /* WELCOME, SHARD_*: the sender's coordinates [lo, hi) of d */
	uint64_t bytes;             /* SHARD_DONE */
	/* WELCOME, comm-efficient codes (comm_dim m > 1): messages are ceil(d/m) floats and the
	 * worker rebuilds the code from (n, code_s, m, code_seed) to encode; code_check is
	 * pn_job_code_row_check of its row, so a worker whose rebuilt code differs refuses
	 * instead of sending garbage. m = 1: whole gradients, the other three are zero. */
	uint32_t comm_dim, code_s;
	uint64_t code_seed, code_check;
	double loss, compute_s;     /* READY */
	int nparts;                 /* ROUND */
	int parts[PN_JOB_MAX_PARTS];
	double coefs[PN_JOB_MAX_PARTS];
} pn_job_msg;

/* Of a range [lo, lo + len) of a streaming worker's slot, the elements PROGRESS(d) says
 * are final, counted from lo (0: none). Never all of them: the last element is READY's,
 * so the reader finishes the worker, and has its loss, only with its READY. */
static inline size_t pn_job_progress_final(uint64_t d, uint64_t lo, size_t len)
{
	if (d <= lo)
		return 0;
	return d - lo < len ? (size_t)(d - lo) : len - 1;
}

/* The checksum a RESULT carries: a 64-bit mix of the d floats' bits, so that a worker
 * can tell a result slot overwritten while it read it from the one announced. */
uint64_t pn_job_result_checksum(const float *x, size_t d);

/* A 64-bit mix of worker `rank`'s row of the code's encode matrix (pn_code_ce_matrix). */
uint64_t pn_job_code_row_check(const double *row, size_t len);

/* Returns the encoded length (<= PN_TP_CTRL_MAX). */
size_t pn_job_msg_pack(const pn_job_msg *m, uint8_t *buf);
/* 0, or -EBADMSG for anything malformed (length, version, type, a field out of range). */
int pn_job_msg_unpack(const void *buf, size_t len, pn_job_msg *m);

#endif
