/* The aggregator role's state and the functions its files share (job/README.md says
 * which file does what). One thread drives everything; the engine's pool does the
 * per-block aggregation work. */
#ifndef PENNANT_JOB_AGGREGATOR_INTERNAL_H
#define PENNANT_JOB_AGGREGATOR_INTERNAL_H

#include "job/parity.h"
#include "job/proto.h"
#include "pennant/codes.h"
#include "pennant/job.h"
#include "pennant/sched.h"
#include "pennant/straggler.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct pn_job_worker {
	pn_tp_peer *peer;
	pn_mr_desc grad;
	bool alive;
	bool ready;           /* READY for the current round seen */
	uint32_t slot;        /* gradient slot named by that READY (or by a PROGRESS before it) */
	double loss;
	int inflight[2];      /* reads in flight into landing slot 0/1 */
	double trust;
	int flagged, straggled;
	int64_t gone_at;
	double last_sent, last_heard; /* liveness (heartbeat) */
	int64_t acked;        /* serving gradients: the last round whose RESULT it has read */
	bool bypassed;        /* a tree's node gone whose workers the root pulls (tree_bypass.c) */
} pn_job_worker;

typedef struct pn_shard_link pn_shard_link;

typedef struct pn_job {
	const pn_agg_job_config *cfg;
	int n;
	size_t d;              /* this shard's coordinates hi - lo (unsharded: the model's d) */
	size_t d_full, lo;     /* the model's d; where this shard's range starts */
	pn_shard_link *link;   /* sharded jobs: the exchange with the other shards, else NULL */
	bool gram;             /* the rule runs on the Gram matrix (pn_job_settings.gram) */
	/* What a worker sends: msg_len = ceil(d/m) floats (comm-efficient codes with m > 1,
	 * job.h), else d (a shard: its range). Landing rows, the chunk plan and the engine are
	 * sized for msg_len; the model and the aggregate for d. */
	int comm_dim;
	size_t msg_len;
	double *ce_A;          /* m > 1: the round's decode matrix A, m×n (decode.c) */
	pn_tp_ctx *ctx;
	pn_tp_mr *model_mr, *land_mr;
	float *model;          /* 2 slots of d (serving gradients: the shadow model) */
	pn_tp_mr *result_mr;   /* serving gradients only, else NULL */
	float *result;         /* serving gradients: round v's aggregate in slot v%2 (2 slots of d) */
	char *land;            /* 2 slots × n rows × msg_len elements of esize bytes */
	size_t esize;          /* bytes per gradient element (cfg->rule.grad_dtype) */
	float *velocity;       /* the momentum */
	float *velocity_saved; /* its spare: the step writes the new momentum here, then swaps */
	float *out;
	pn_job_worker *w;
	pn_code *code;
	pn_chunk_plan plan;
	pn_puller *puller;
	pn_straggler_policy pol;
	bool robust;           /* the rule picks its own weights (pn_job_settings.robust) */
	bool stopping;         /* STOP sent: peers leaving is expected */
	bool pulling;          /* inside the round's pull loop (a tree's late workers join it) */
	double row_scale;      /* robust inputs: 1 / (row sum of B) */
	bool step_fused;       /* this round's step runs inside the combination pass */
	int step_fused_bad;    /* its pieces' pn_sgd_step_checked results, OR'd (atomic) */
	double heartbeat_s, silence_s;
	FILE *log;
	char *err;
	size_t errlen;
	pn_agg *agg;           /* one engine (and its pool) for the whole job, reset per round */
	int64_t rounds_lost;   /* a tree: rounds a node's sum was missing in (tree_bypass.c) */
	int nodes_bypassed;
	uint64_t reads_before_ready; /* reads posted on a PROGRESS, before the worker's READY */
	/* a tree of robust nodes (tree_report.c): this round's reports (leaves entries) and
	 * the roll-up over the job */
	int *leaf_status;
	double *leaf_score;
	bool leaf_reported;
	pn_leaf_stats *leaf_stats;
	/* per round */
	int64_t round;
	pn_round_record *rec;  /* the round's record (the decode's weight function fills in) */
	bool *finished, *failed, *needed, *use, *late;
	uint64_t *landed;      /* pipelining off: cookies of landed chunks, fed after the pulls */
	int nlanded;
	/* scratch of n entries each (no arrays sized by input on the stack) */
	const void **rows;
	double *alpha;
	int *members;
	/* step */
	const float *cur;      /* model slot being stepped from */
	float *next;
} pn_job;

/* A worker's gradient slot (what it registers twice): d_full floats when sharded (each
 * shard pulls its range of it), else msg_len. */
static inline size_t pn_job_worker_slot_len(const pn_job *j)
{
	return j->link ? j->d_full : j->msg_len;
}

/* What a configuration means for the job, settled once before anything is opened (the
 * same function backs pn_agg_job_config_check, so the check and the job cannot drift). */
typedef struct pn_job_settings {
	pn_code *code;                /* the job's code; the caller frees it */
	pn_agg_config engine;         /* the engine's configuration: p = n, the rule it runs */
	bool robust;                  /* the rule picks its own weights from the data: its
				       * inputs must be gradient estimates (code rows checked) */
	bool gram;                    /* the rule solves on the Gram matrix (sharded: exchanged) */
	pn_straggler_policy wait;
	const pn_pull_policy *pull;
	double heartbeat_s, silence_s;
} pn_job_settings;

/* settings.c: 0, or -errno with the reason in err (code freed on error). */
int pn_job_settle(const pn_agg_job_config *c, pn_job_settings *s, char *err, size_t errlen);

/* decode.c: the job's mean as the engine's weight function (pn_agg_weight_fn): fractional
 * replicas that disagree are left out, the code decodes the rest, w_i = a_i / n. */
int pn_job_decode_weights(void *ctx, const bool *usable, int p, double *w, char *err,
			  size_t errlen);
/* decode.c, m > 1: the round's aggregate (d floats) from the messages and the decode
 * matrix the weight function found; 0 or -errno. */
int pn_job_ce_combine(pn_job *j, float *out);

/* aggregator.c */
void pn_job_log(pn_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int pn_job_fail(pn_job *j, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool pn_job_stop_requested(const pn_job *j);
void *pn_job_land_row(pn_job *j, int64_t round, int i);

/* session.c: HELLO/WELCOME, sending, liveness */
int pn_job_accept_workers(pn_job *j);
int pn_job_send(pn_job *j, int i, const pn_job_msg *m);
int pn_job_worker_of_peer(const pn_job *j, const pn_tp_peer *p);
void pn_job_worker_lost(pn_job *j, int i);
void pn_job_heartbeat(pn_job *j, bool drained);

/* session.c: a HELLO from a new peer, at setup or (a tree's bypass) while running */
void pn_job_on_hello(pn_job *j, const pn_tp_completion *c, bool running);

/* tree_bypass.c, a tree's root (cfg->leaves > 0): */
bool pn_job_is_leaf_slot(const pn_job *j, int i); /* peer i is a worker's own slot */
/* NULL when peer slot `rank` may join now, else why not */
const char *pn_job_tree_join_refusal(const pn_job *j, uint32_t rank, bool running);
/* ROUND's partitions for leaf slot i: worker r computes partition r */
int pn_job_tree_leaf_parts(const pn_job *j, int i, int *parts, double *coefs);
void pn_job_tree_accept(pn_job *j);      /* while a node is gone: its workers' connections */
/* a gone node's worker joined mid-round (slot i): it takes part in this round */
void pn_job_tree_join_round(pn_job *j, int i);
/* keep pulling past the policy's verdict: a node gone this round whose workers have not
 * all joined yet, within the straggler deadline (or the rejoin limit) */
bool pn_job_tree_hold(const pn_job *j, double elapsed);
/* before a round: a gone node's workers joined (bounded wait); 0, or the job fails */
int pn_job_tree_await_rejoins(pn_job *j);
/* after the decision: *lost = why the round is lost (a worker's gradient missing), or
 * NULL; without bypass slots the job fails instead (-ECONNRESET) */
int pn_job_tree_check(pn_job *j, const char **lost);

/* tree_report.c, a tree of robust nodes: their NODE_REPORTs per round and over the job */
int pn_job_tree_report_setup(pn_job *j);
void pn_job_tree_report_begin(pn_job *j);
void pn_job_tree_on_report(pn_job *j, int i, const pn_job_msg *m);
void pn_job_tree_report_end(pn_job *j, pn_round_record *rec);
void pn_job_tree_report_result(const pn_job *j, pn_agg_job_result *res);
void pn_job_tree_report_free(pn_job *j);

/* pull.c: reads, completions */
void pn_job_post_reads(pn_job *j);
void pn_job_drive(pn_job *j, int timeout_ms);
void pn_job_drain_slot(pn_job *j, int64_t round);

/* decide.c: pull until the straggler policy decides; -EINTR on a stop request */
int pn_job_pull_until_decided(pn_job *j, double t_round0, pn_round_verdict *verdict);

/* replicas.c: fractional repetition agreement; returns the number flagged */
int pn_job_check_replicas(pn_job *j, bool *use);

/* trust.c */
void pn_job_trust_observe(pn_job_worker *w, double share);

/* step.c: NULL when the step was taken, else why it was refused */
const char *pn_job_step(pn_job *j, float *g, double scale);
/* step.c: g *= scale (the step's own scaling); NULL, or why g cannot be stepped on */
const char *pn_job_scale_aggregate(pn_job *j, float *g, double scale);
/* step.c: before finish, hands this round's step to the engine's combination pass (each
 * piece stepped while in cache, on the thread that made it) when nothing else uses the
 * aggregate first: a plain training round (not serving gradients, not a shard, not the
 * comm-efficient code) with scale 1. Otherwise it clears the consumer and the round
 * steps after finish with pn_job_step. */
void pn_job_step_fuse_begin(pn_job *j, double scale);
/* step.c, after a finish that succeeded: the fused step's verdict (as pn_job_step's). */
const char *pn_job_step_fused_end(pn_job *j);

/* serve.c, serving gradients: publish round v's aggregate (or that it was skipped) and
 * tell every live worker RESULT(v); before STOP, wait for every live worker's
 * RESULT_ACK of the last round (up to the silence limit) */
const char *pn_job_serve_aggregate(pn_job *j, float *g, double scale);
void pn_job_announce_result(pn_job *j, bool skipped);
void pn_job_await_result_acks(pn_job *j, int64_t last_round);

/* shard_link.c, sharded jobs: the exchange with the other shards over the job's
 * transport (regions READ by the other side, control messages naming round and slot) */
int pn_shard_link_open(pn_job *j);     /* after the memory: the regions */
/* once listening (launchers tell addresses then): shard k > 0 connects to shard 0 */
int pn_shard_link_join(pn_job *j);
bool pn_shard_link_ready(const pn_job *j); /* setup: every shard joined */
/* completions from the other shards (false: not a shard's; the caller handles it) */
bool pn_shard_link_on_ctrl(pn_job *j, const pn_tp_completion *c);
bool pn_shard_link_on_read(pn_job *j, const pn_tp_completion *c);
bool pn_shard_link_on_down(pn_job *j, const pn_tp_completion *c);
/* 0, or -ECONNRESET with the reason in j->err once a shard is lost */
int pn_shard_link_check(pn_job *j);
/* The round's aggregate of this shard's range: settle, facts to shard 0, its decision
 * back, finish on it (pn_agg_finish_shared). The engine's rc, or -ECONNRESET/-ETIMEDOUT
 * when the exchange failed (the job ends: pn_shard_link_check says why). */
int pn_shard_link_finish_round(pn_job *j, float *out);
/* After the last round: shard 0 gathers every shard's range into res->model and their
 * pulled bytes; the others hand theirs over. */
int pn_shard_link_gather(pn_job *j, pn_agg_job_result *res);
/* STOP for the workers: status 0, or -ECONNRESET naming the lost shard */
void pn_shard_link_stop_msg(const pn_job *j, int rc, pn_job_msg *stop);
void pn_shard_link_close(pn_job *j);

/* round.c */
int pn_job_run_round(pn_job *j, pn_round_record *rec);

#endif
