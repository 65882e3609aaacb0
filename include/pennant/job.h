/* Pennant job roles: one aggregator and n workers running rounds over a transport.
 *
 * Round v (the message sequence, with the heartbeat, is in job/README.md):
 *   aggregator: model v is in its model buffer slot v%2 (registered, remote-READ only);
 *               sends ROUND(v, slot, this worker's code row) to every live worker.
 *   worker:     READs the model slot, computes its coded gradient
 *               c_i = Σ_j B[i,j]·grad_j(model_v, batch(v, j)) into its gradient slot v%2
 *               (registered, remote-READ only), sends READY(v, slot).
 *   aggregator: plans chunk pulls with the scheduler, READs chunks into its landing
 *               buffers and feeds each landed chunk to the aggregation engine at once
 *               (pipelining on), stops when the straggler policy says the code has
 *               enough, aggregates, takes the SGD step (refused if not finite),
 *               publishes model v+1. Serving gradients (serve = PN_SERVE_GRADIENT) it
 *               publishes round v's aggregate instead and every worker steps its own
 *               optimizer (session.h; job/README.md has the messages).
 *
 * What is aggregated (the exact semantics). Every rule goes through one aggregation
 * engine (agg.h), created once per job and reset each round; workers whose gradient holds
 * NaN/Inf are found by the engine as their chunks land and are left out (flagged).
 *   rule = mean (or weighted): the gradient-coding decode. With a the decode vector of the
 *     set F of finished workers with finite gradients (aᵀB_F = 1ᵀ), the step direction is
 *     (1/n)·Σ_{i∈F} a_i c_i: the average of the n partition gradients, exactly
 *     (fractional/cyclic once decodable), or its least-squares approximation (approximate
 *     codes, uncoded with stragglers ignored). The engine runs it as its fixed-weights
 *     rule with w_i = a_i / n, decoded at finish once F is known.
 *   robust rules: their inputs are the messages m_i = c_i / Σ_j B[i,j] for i ∈ F; each m_i
 *     is one worker's estimate of the average partition gradient. Codes whose rows have
 *     the same positive sum (uncoded, fractional, expander, BIBD) qualify; cyclic and
 *     GC-DC rows mix partitions with arbitrary signed coefficients, so a single row is
 *     not a gradient estimate and robust rules refuse them.
 *   comm-efficient codes with m > 1 (comm_dim): worker i sends f_i, ceil(d/m) floats
 *     mixing block u of its s+m partitions' gradients; from the finished set F the
 *     decode matrix A (m×n) gives block u of Σ_j grad_j as Σ_{i∈F} A[u,i] f_i, and the
 *     step direction is that sum / n: the same average, exactly. Only the mean: a message
 *     is not an estimate of anything, so robust rules refuse the code.
 *   fractional repetition: replicas of a group compute the same partitions and must
 *     agree bit-for-bit; a replica that differs from the majority of its arrived group is
 *     flagged as disagreeing and left out of the rule's inputs (for the mean, among the
 *     replicas with finite gradients).
 *   Flag's output is a direction with its own scale; the step rescales it to the median
 *   norm of the messages it used, so the learning rate means the same for every rule.
 */
#ifndef PENNANT_JOB_H
#define PENNANT_JOB_H

#include "pennant/agg.h"
#include "pennant/shard.h"
#include "pennant/transport.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PN_JOB_MAX_PARTS 20 /* partitions one worker may be assigned in a round */

/* What the aggregator serves after each round (pn_agg_job_config.serve; the workers
 * learn it in WELCOME). MODEL: it takes the SGD step and serves model v+1. GRADIENT: it
 * serves round v's aggregated gradient (the direction its own step would take, Flag
 * rescaled) and each worker steps its own optimizer (session.h). */
typedef enum pn_serve { PN_SERVE_MODEL = 0, PN_SERVE_GRADIENT = 1 } pn_serve;

/* What a worker computes: the application's side of the job. */
typedef struct pn_grad_source {
	void *ctx;
	size_t d;
	/* Coded gradient for round `round`: out = Σ_k coefs[k]·grad(parts[k]) at `model`.
	 * Returns 0 and the mean loss over the batches in *loss, or a negative errno. */
	int (*compute)(void *ctx, uint64_t round, const float *model, const int *parts,
		       const double *coefs, int nparts, float *out, double *loss);
	/* Only for an aggregator serving gradients (PN_SERVE_GRADIENT), NULL otherwise:
	 * applies round `round`'s served aggregate to `model` (d floats, in place) with the
	 * worker's own optimizer. Returns 0 or a negative errno. pn_worker_run refuses a
	 * gradient-serving job without it. */
	int (*step)(void *ctx, uint64_t round, const float *aggregate, float *model);
} pn_grad_source;

/* Fault injection, for tests and demos (applied by the worker to what it exposes). */
typedef enum pn_byzantine {
	PN_BYZ_NONE = 0,
	PN_BYZ_UNIFORM,   /* uniform random in [0, 1) */
	PN_BYZ_REVERSE,   /* -10·g */
	PN_BYZ_SCALED,    /* 100·g */
	PN_BYZ_SIGNFLIP,  /* -g */
	PN_BYZ_LABELFLIP, /* computed on flipped labels (the grad source implements it) */
	PN_BYZ_NAN,       /* NaN in every 1000th coordinate */
	PN_BYZ_GAUSSIAN,  /* g + N(0, 1) per coordinate */
	/* Colluding attacks that need honest gradients (pn_byzantine_needs_honest): */
	PN_BYZ_ALIE,      /* "a little is enough": mean − z·std per coordinate of the honest ones */
	PN_BYZ_IPM,       /* inner-product manipulation: −ε·mean of the honest ones (ε = 0.1) */
	PN_BYZ_MIMIC,     /* a copy of one honest worker's gradient */
} pn_byzantine;

typedef enum pn_delay_kind {
	PN_DELAY_NONE = 0,
	PN_DELAY_FIXED,   /* ms */
	PN_DELAY_EXP,     /* exponential with mean ms */
	PN_DELAY_MARKOV,  /* two-state: slow (ms) with P(fast→slow)=p_slow, P(slow→fast)=p_fast */
} pn_delay_kind;

typedef struct pn_faults {
	pn_byzantine byzantine;
	pn_delay_kind delay;
	double delay_ms, p_slow, p_fast;
	int64_t exit_at_round;   /* worker exits abruptly at this round (-1: never) */
	int colluders;           /* attackers in the job (ALIE's z); 0: this worker alone */
	uint64_t seed;
} pn_faults;

int pn_byzantine_from_name(const char *name);
const char *pn_byzantine_name(pn_byzantine b);
/* "fixed:MS", "exp:MS", "markov:MS,P_SLOW,P_FAST" */
int pn_delay_parse(const char *spec, pn_faults *f, char *err, size_t errlen);

typedef struct pn_worker_config {
	pn_tp_config tp;        /* backend, node id (= rank + 1), job token, options */
	const char *connect;    /* aggregator address; a sharded job's K shards: "a0,a1,..." */
	int rank;               /* 0..n-1 */
	pn_faults faults;
	int connect_timeout_ms;
	/* The job's comm-efficient m (0: whatever WELCOME says). m > 1: the gradient region
	 * is 2 slots of ceil(d/m) floats, and src->compute is called once per held partition
	 * (one part, coefficient 1); the worker encodes the message (pn_session_encode). */
	int comm_dim;
	/* Silence from the aggregator this long means it is gone: the worker exits with a
	 * message (-ETIMEDOUT). 0: the limit the aggregator sends in WELCOME. */
	int silence_ms;
	bool verbose;
	/* Optional (d floats): when the job ends with STOP, the worker's model: its own one
	 * stepped from the served aggregates (PN_SERVE_GRADIENT), or the last model read. */
	float *final_model;
	/* Element type of the gradient this worker exposes (must be the job's
	 * rule.grad_dtype): the float32 gradient is converted into it at submit. */
	pn_dtype grad_dtype;
	/* A tree's leaf: the root to join as peer fallback_rank if the node at `connect`
	 * goes away (pn_session_config.fallback); NULL: none. */
	const char *fallback;
	int fallback_rank;
} pn_worker_config;

/* Runs a worker until the aggregator says STOP (returns 0) or is gone: disconnected
 * (-ECONNRESET) or silent past the silence limit (-ETIMEDOUT, whatever the medium). */
int pn_worker_run(const pn_worker_config *cfg, const pn_grad_source *src);

typedef struct pn_round_record {
	int64_t round;
	double loss;            /* mean of the workers' reported batch losses */
	double test_loss, test_acc; /* NAN when not evaluated this round */
	double t_round_s, t_pull_s, t_aggregate_s, t_publish_s;
	double gram_busy_s;     /* engine thread-seconds of per-block work (Gram or coordinate) */
	double solve_combine_s; /* the engine's k×k solve (or decode) + combination pass */
	double drain_s;         /* the engine's wait, after the pull, for block work still queued */
	int finished, stragglers, failed, nonfinite, disagreeing;
	int byzantine_used;     /* known-Byzantine workers among the rule's inputs (demo info) */
	bool skipped;           /* no step this round: model (and momentum) unchanged */
	const char *skip_reason;/* why (a static string), NULL when not skipped */
	double decode_residual;
	double decode_cond;     /* the mean's decode: condition number of what it solved (0: none) */
	/* n entries, valid during on_round only: the rule's weight of each worker this round
	 * (pn_agg_weights; 0 for workers left out). NULL when the rule did not run. */
	const double *weights;
	/* A tree of robust nodes (their NODE_REPORTs), leaves entries, valid during on_round
	 * only: each worker's status in its node's rule (pn_agg_worker_status; -1: not
	 * reported this round) and score (lower is more trusted; NaN: not reported). NULL
	 * when no node reported this round. */
	const int *leaf_status;
	const double *leaf_score;
} pn_round_record;

/* A tree of robust nodes: one worker's record over the job, from its node's reports. */
typedef struct pn_leaf_stats {
	int64_t reports;     /* rounds its node reported it */
	int64_t dropped;     /* of those, rounds its node's rule excluded it (NaN/Inf, incomplete) */
	int64_t top_suspect; /* of those, rounds it had its group's highest finite score */
	double score_sum;    /* its finite scores, summed */
} pn_leaf_stats;

typedef struct pn_agg_job_config {
	pn_tp_config tp;
	const char *listen;
	int n;                  /* workers */
	/* Workers behind the n direct peers in all (0: n). A tree (node.h): each peer is a
	 * node serving the SUM of its children's gradients, so the mean divides by the
	 * leaves (w_i = a_i / leaves), not by n. */
	int leaves;
	/* A tree that bypasses a dead node (0: none, a node gone ends the job). The first
	 * tree_nodes peers are nodes, node k over the workers k·G .. k·G + G - 1 (G = leaves /
	 * tree_nodes); peer tree_nodes + r is where worker r joins the root itself once its
	 * node is gone (n = tree_nodes + leaves; only the nodes are waited for at the start).
	 * The round a node is lost in is skipped (counted in rounds_lost); before the next,
	 * the root waits a bounded time for the node's workers, then pulls them as peers of
	 * weight 1 / leaves (job/README.md, "Trees"). */
	int tree_nodes;
	int64_t rounds;
	pn_agg_config rule;     /* p, d are filled by the job */
	int code_kind;          /* pn_code_kind */
	int s;                  /* stragglers tolerated */
	/* comm-efficient code only (0 or 1: whole gradients): each worker sends a message of
	 * L = ceil(d/comm_dim) floats; rule mean only ("Communication-efficient codes"). */
	int comm_dim;
	uint64_t seed;
	const char *wait;       /* straggler policy: "all", "code", "deadline" */
	double deadline_ms;     /* deadline policy; also the cap for waiting on any round */
	const char *pull_policy;/* "round-robin", "earliest-ready", "layer-priority" */
	int window_per_worker, window_total;
	bool pipelining;
	double lr, momentum, weight_decay;
	int accept_timeout_ms;
	/* Liveness over the job protocol itself (whatever the medium says): the aggregator
	 * sends PING to a worker it has sent nothing to for heartbeat_ms (0: 1000), and a
	 * worker silent for silence_ms (0: 5000) is treated as gone. Workers get both in
	 * WELCOME and apply the same limit to the aggregator, so silence_ms must exceed the
	 * longest aggregation step and the longest gradient computation. */
	int heartbeat_ms, silence_ms;
	/* Optional (NULL: none): once *stop_requested is nonzero (e.g. set by a signal
	 * handler), the round in progress is abandoned, every worker is told STOP, the result
	 * holds the last completed model and pn_aggregator_run returns -EINTR. */
	const volatile sig_atomic_t *stop_requested;
	const bool *byzantine_ranks; /* optional (n flags), only for reporting */
	/* Called after each round with the new model (for evaluation and progress). */
	void (*on_round)(void *ctx, const float *model, pn_round_record *rec);
	void *on_round_ctx;
	/* PN_SERVE_MODEL (0, the default) or PN_SERVE_GRADIENT. With GRADIENT the aggregator
	 * publishes each round's aggregate in a registered result region the workers READ
	 * (RESULT(v) tells them, with "skipped" when the round has none), and keeps a shadow
	 * model stepped with the same SGD (lr, momentum, weight_decay) from the same
	 * aggregates: that is what on_round, evaluation and the result's model see. It equals
	 * the workers' models when they step the same SGD (pennant-train's workers do). */
	pn_serve serve;
	/* Initial model (d floats). */
	const float *init_model;
	size_t d;
	FILE *log;              /* progress/diagnostics, may be NULL */
	/* Called once listening, with the bound address (e.g. to tell forked workers). */
	void (*on_listen)(void *ctx, const char *addr);
	void *on_listen_ctx;
	/* A sharded job (pennant/shard.h; count 0 or 1: unsharded): this process is shard
	 * `index` of `count` and owns the coordinates [lo, hi) of the d-float model (a
	 * pn_shard_plan range; init_model is still all d floats). It pulls only that range of
	 * every worker, serves only that range of the model, and every round exchanges its
	 * facts with shard 0 (which it reaches at `shard0`; shard 0 accepts the other shards
	 * on `listen`, with the workers) so that every shard uses the same workers and Gram
	 * rules solve the same p×p problem. Serving the model only, with wait = "all". on_round
	 * is called with a NULL model (no shard holds the whole one during the job); after
	 * the last round shard 0 gathers the whole model into the result (the other shards'
	 * result model is NULL). A shard that is lost ends the job on every shard
	 * (-ECONNRESET, no result model: never half a model). */
	struct {
		int count, index;
		size_t lo, hi;
		const char *shard0;
	} shard;
} pn_agg_job_config;

typedef struct pn_agg_job_result {
	int64_t rounds_done, rounds_skipped;
	/* A tree: rounds skipped because a node's sum was missing (among rounds_skipped), and
	 * the nodes whose workers the root took over (tree_nodes > 0) */
	int64_t rounds_lost;
	int nodes_bypassed;
	/* Reads of a streaming worker's (a sum node's) completed prefix posted before its
	 * READY, on its PROGRESS messages (job/README.md "Trees") */
	uint64_t reads_before_ready;
	/* A tree of robust nodes: `leaves` entries (caller frees, pn_agg_job_result_free), each
	 * worker's record from its node's reports; NULL otherwise. */
	int leaves;
	pn_leaf_stats *leaf_stats;
	double *trust;          /* n entries (caller frees): EMA of each worker's share of the rule's weight */
	int *flagged;           /* n entries: rounds in which the worker was excluded (nonfinite/disagreeing) */
	int *straggled;         /* n entries: rounds in which the worker was not waited for */
	int64_t *gone_at;       /* n entries: round in which the worker went away, -1 if it stayed, -2 never joined */
	float *model;           /* final model (caller frees) */
	double t_total_s;
	pn_tp_stats tp_stats;
	/* Sharded jobs, on shard 0: payload bytes each shard pulled (count entries, this
	 * shard's first; the others' as they reported them at the end) and the bytes of the
	 * facts/decision exchange this shard read. */
	int shards;
	uint64_t shard_bytes_pulled[PN_SHARD_MAX];
	uint64_t exchange_bytes;
} pn_agg_job_result;

/* Checks, without opening anything, what the aggregator would otherwise find only once it
 * runs: n in range; the rule's parameters (cfg->rule with p = n) and its minimum of usable
 * workers against n and against n - s (the rounds where the code lets s stragglers go);
 * that the code exists for (code_kind, n, s) and, for a robust rule, that its rows are
 * gradient estimates; the wait and pull policy names; the heartbeat and silence limits.
 * The model (d, init_model) and the transport are not looked at. Returns 0, or -errno
 * with one line in err. pn_aggregator_run calls it first. */
int pn_agg_job_config_check(const pn_agg_job_config *cfg, char *err, size_t errlen);
int pn_aggregator_run(const pn_agg_job_config *cfg, pn_agg_job_result *res, char *err, size_t errlen);
void pn_agg_job_result_free(pn_agg_job_result *res);

/* One host, n workers: forks the workers BEFORE any transport context exists (DPDK
 * forbids fork after EAL init), runs the aggregator here, hands each worker the bound
 * address, and reaps them (a worker that hangs after STOP is killed). worker_main runs
 * in the child and its return value is the child's exit status. Returns the
 * aggregator's result; *bad_exits counts workers that did not exit 0 (may be NULL).
 * A configuration pn_agg_job_config_check refuses forks nothing (same error). */
typedef int (*pn_worker_main)(void *ctx, int rank, const char *aggregator_addr);
int pn_run_local(pn_agg_job_config *cfg, pn_worker_main worker_main, void *ctx,
		 pn_agg_job_result *res, int *bad_exits, char *err, size_t errlen);
/* The same with K aggregator shards (pennant/shard.h): this process is shard 0 (its
 * result is the job's: the whole model gathered, or an error), shards 1..K-1 are forked
 * too, each on ranges[k] (a pn_shard_plan of cfg->d), and worker_main gets the K
 * addresses in shard order as "a0,a1,..." (what pn_worker_config.connect takes). A
 * shard child that does not exit 0 makes the job's result an error. K = 1 is pn_run_local. */
int pn_run_local_shards(pn_agg_job_config *cfg, int K, const pn_shard_range *ranges,
			pn_worker_main worker_main, void *ctx, pn_agg_job_result *res, int *bad_exits,
			char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
