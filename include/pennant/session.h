/* Pennant worker session: the worker side of a job, driven by the caller one call at a
 * time instead of through a callback (pn_worker_run in job.h is a loop over it).
 *
 * One round v, as the caller sees it:
 *
 *     pn_session_join(cfg, &s, err, sizeof err);          once
 *     for (;;) {
 *         rc = pn_session_begin(s, &r, model, timeout);   ROUND(v): r.parts/r.coefs
 *         if (rc == 1) break;                             the job ended (STOP)
 *         g = pn_session_gradient(s);                     L floats, registered (L = d
 *         g = Σ_k r.coefs[k]·grad(r.parts[k])             unless r.comm_dim > 1: below)
 *         pn_session_submit(s, loss, 0);                  READY(v)
 *         rc = pn_session_wait(s, out, timeout);          the round's result
 *         if (rc == 0) step with out (PN_SERVE_GRADIENT), or out is model v+1
 *         if (rc == 1) break;
 *     }
 *     pn_session_leave(s);
 *
 * Communication-efficient codes (r.comm_dim = m > 1, the aggregator's --comm-dim): the
 * message is not Σ coefs·grad. The gradient slot holds L = ceil(d/m) floats
 * (pn_session_message_len); the caller computes the full gradient of each partition in
 * r.parts separately and calls pn_session_encode(s, grads, pn_session_gradient(s)),
 * which mixes the blocks with the code's coefficients (rebuilt from WELCOME). r.coefs
 * are NaN then (and pn_session_round_parts refuses to give coefficients), so a caller
 * that ignores m sends NaN, which the aggregator flags, never a wrong gradient.
 *
 * What the aggregator serves (WELCOME tells the worker; r.serve):
 *   PN_SERVE_MODEL: the aggregator steps the model; round v's result is model v+1.
 *   PN_SERVE_GRADIENT: the aggregator does not step for the workers; round v's result is
 *     the round's aggregated gradient (after the code's decode or the robust rule; Flag's
 *     output rescaled as the aggregator's own step rescales it, job.h), and each worker
 *     steps its own optimizer with it. A round whose aggregate is not finite, or that had
 *     no usable gradient, is served as skipped (pn_session_wait returns
 *     PN_SESSION_SKIPPED): the worker must not step on it.
 *
 * Liveness. The session has no thread of its own: between calls nobody answers the
 * aggregator or sends our heartbeat. The caller must call into the session (any of
 * begin, submit, wait, or pn_session_poll) at least once per heartbeat period (WELCOME's
 * heartbeat_ms, 1000 ms by default; pn_session_heartbeat_ms), and never stay away longer
 * than the silence limit (5000 ms by default; pn_session_silence_ms), or the aggregator
 * treats this worker as gone. A long gradient computation should call pn_session_poll
 * from time to time (it is cheap: it sends a PING when due and queues what arrived).
 *
 * Threading: one thread drives a session. All functions returning int return 0 (or the
 * documented positive codes) on success and a negative errno on failure, with one line
 * in pn_session_error(s). A session whose aggregator is gone (-ECONNRESET, -ETIMEDOUT)
 * stays usable only for pn_session_leave.
 */
#ifndef PENNANT_SESSION_H
#define PENNANT_SESSION_H

#include "pennant/job.h" /* pn_serve, PN_JOB_MAX_PARTS, pn_tp_config */
#include "pennant/transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pn_session pn_session;

/* pn_session_begin / pn_session_wait return codes besides 0 and -errno */
#define PN_SESSION_STOPPED 1 /* the aggregator said STOP: the job ended */
#define PN_SESSION_SKIPPED 2 /* wait, PN_SERVE_GRADIENT: this round has no result, do not step */

typedef struct pn_session_config {
	pn_tp_config tp;        /* backend, node id (= rank + 1), job token, options */
	const char *connect;    /* aggregator address; a sharded job: its K shards' "a0,a1,..." */
	int rank;               /* 0..n-1 */
	size_t d;               /* floats in the gradient (and model) */
	int connect_timeout_ms; /* 0: 30000 */
	int silence_ms;         /* 0: the limit the aggregator sends in WELCOME */
	bool verbose;
	/* The job's comm-efficient m when known (0: learn it from WELCOME): the gradient
	 * region is then 2 slots of ceil(d/m) floats, not d; a job with another m is refused. */
	int comm_dim;
	/* Element type of the registered gradient region (the job's rule.grad_dtype; default
	 * PN_DTYPE_F32). bf16/f16: pn_session_gradient is still d floats (private memory), and
	 * submit converts them into the registered half slot: the one conversion the format
	 * forces; the aggregator pulls d·2 bytes. */
	pn_dtype grad_dtype;
	/* Join over the caller's open context instead of opening one from tp (tp.options then
	 * unused): a process with one transport context for everything, as the dpdk backend
	 * requires (one EAL per process); pennant-node uses it. pn_session_leave does not close
	 * it. Completions the session's polls see from peers that are not its aggregator(s) go
	 * to foreign (in order, CTRL_RECV data valid only during the call); the caller hands the
	 * session's own, found by its polls, to pn_session_deliver. */
	pn_tp_ctx *ctx;
	void (*foreign)(void *arg, const pn_tp_completion *c);
	void *foreign_arg;
	/* A tree's leaf (optional, NULL: none): when the aggregator joined at `connect` (its
	 * node) goes away without STOP, the session joins `fallback` (the tree's root, which
	 * takes this worker as its peer fallback_rank) once and goes on there; the round in
	 * flight is lost. Unsharded jobs only. */
	const char *fallback;
	int fallback_rank;
} pn_session_config;

typedef struct pn_session_round {
	int64_t round;                   /* v */
	int n;                           /* workers in the job */
	pn_serve serve;                  /* what the aggregator serves (from WELCOME) */
	int nparts;
	int parts[PN_JOB_MAX_PARTS];     /* data partitions this worker computes in round v */
	double coefs[PN_JOB_MAX_PARTS];  /* c_i = sum_k coefs[k] * grad(parts[k]) */
	/* PN_SERVE_GRADIENT: begin (re)filled `model` with the aggregator's model of round v:
	 * on the first round, and when this worker had fallen behind and missed results
	 * (the caller should take it as its model; see pn_session_begin). */
	bool resync;
	int comm_dim;                    /* m: 1, or > 1 for pn_session_encode (above) */
} pn_session_round;

/* Opens the transport (cfg->tp), registers the gradient region (2 slots of d floats,
 * remote-READ only) and a landing buffer for what this worker reads, connects to
 * cfg->connect and says HELLO(rank, d, gradient region) until the aggregator answers
 * WELCOME, within connect_timeout_ms: a connection dropped before WELCOME is retried
 * with a growing pause; a refusal (a wrong job token: -EPERM/-EACCES, -ECONNREFUSED) is
 * not. Fails with -EINVAL when the aggregator's d differs from cfg->d. A sharded job
 * (pennant/shard.h): cfg->connect lists its K shards in order, "a0,a1,..."; the session
 * joins each in turn (the same gradient region: shard k pulls its range of it), refuses
 * WELCOMEs whose ranges do not tile [0, d), begins a round once every shard announced
 * it, reads each shard's range into the model, and submits to all. The caller may
 * free cfg (and the secret) after the call. Returns 0 and *out, or -errno with one line
 * in err (and *out = NULL). */
int pn_session_join(const pn_session_config *cfg, pn_session **out, char *err, size_t errlen);

/* ctypes-friendly constructors (no struct layout needed). The job token comes from
 * token_file (its whole content, one trailing newline stripped; refused when empty, not
 * a regular file, over 4096 bytes, or readable by group or others: chmod 600) or, when
 * token_file is NULL, from the PENNANT_JOB_TOKEN environment variable. The node id is
 * rank + 1. connect_timeout_ms 0: 30000. _simple uses the backend's default options;
 * _opts takes them ("key=value;..." as pn_tp_config.options, NULL: none) and a silence
 * limit (0: the aggregator's). Same results as pn_session_join. */
int pn_session_join_simple(const char *backend, const char *connect, int rank, size_t d,
			   const char *token_file /* NULL: PENNANT_JOB_TOKEN env */,
			   int connect_timeout_ms, pn_session **out, char *err, size_t errlen);
int pn_session_join_opts(const char *backend, const char *options, const char *connect, int rank,
			 size_t d, const char *token_file, int connect_timeout_ms, int silence_ms,
			 pn_session **out, char *err, size_t errlen);

/* A shared context (cfg.ctx): is c from one of the session's aggregator peers? Then the
 * caller's poll gives it to pn_session_deliver (0, or -errno as pn_session_begin would). */
bool pn_session_owns(const pn_session *s, const pn_tp_completion *c);
int pn_session_deliver(pn_session *s, const pn_tp_completion *c, int n);

size_t pn_session_dim(const pn_session *s);       /* d */
int pn_session_workers(const pn_session *s);      /* n, from WELCOME */
int pn_session_rank(const pn_session *s);
pn_serve pn_session_serve(const pn_session *s);   /* from WELCOME */
int pn_session_heartbeat_ms(const pn_session *s); /* call into the session at least this often */
int pn_session_silence_ms(const pn_session *s);   /* the silence limit in force */

/* Waits for the announcement of the next round v (ROUND) and returns 0 with *r filled
 * (r may be NULL: pn_session_round_parts/_number give the same). A worker that fell
 * behind skips to the newest announced round (the older ones are closed, their slots
 * being reused). Then:
 *   PN_SERVE_MODEL: model v has been READ from the aggregator into the session's model
 *     buffer (pn_session_model) and, unless `model` is NULL, copied into `model` (d
 *     floats).
 *   PN_SERVE_GRADIENT: the worker keeps its own model and `model` is left untouched,
 *     except when r->resync is set: on the first round begun (the aggregator's initial
 *     model at round 0, so that every worker starts from the same point), and when the
 *     result of an earlier round was missed (not waited for, overwritten before it was
 *     read, or skipped over by falling behind). Then the aggregator's model of round v
 *     (its shadow model, job.h) is READ into the session's model buffer and `model`
 *     (unless NULL): it equals the other workers' models when they step the aggregator's
 *     SGD (lr, momentum, weight decay); with another optimizer the caller decides what to
 *     do with it (its optimizer state is its own either way).
 * Returns PN_SESSION_STOPPED (1) when the aggregator said STOP instead, and -ETIMEDOUT
 * when nothing came within timeout_ms (< 0: no limit other than the silence limit; an
 * aggregator silent past it is gone: -ETIMEDOUT as well, the session is then dead),
 * -ECONNRESET when the aggregator went away without STOP, -EPROTO when called twice
 * without pn_session_submit (the round begun is kept). Keeps the heartbeat while it
 * waits. */
int pn_session_begin(pn_session *s, pn_session_round *r, float *model, int timeout_ms);

/* The registered gradient slot of the round begun (round v uses slot v % 2), L floats
 * (pn_session_message_len: d, or ceil(d/m) with a comm-efficient code):
 * write c_i here between pn_session_begin and pn_session_submit. (With a bf16/f16
 * grad_dtype: a private float32 buffer, converted into the registered slot at submit.) The pointer changes
 * from one round to the next (call it after each begin); NULL before the first begin.
 * The aggregator READs it after submit, while the caller may already compute round v+1
 * into the other slot. */
float *pn_session_gradient(pn_session *s);
/* The code's m (1: whole gradients) and the message length L = ceil(d/m), from WELCOME. */
int pn_session_comm_dim(const pn_session *s);
size_t pn_session_message_len(const pn_session *s);
/* Encodes the round begun's message into out (L floats, e.g. pn_session_gradient(s))
 * from grads[k], the full gradient (d floats) of partition r.parts[k] for k < r.nparts,
 * each computed alone: m > 1 mixes block u of each (the comm-efficient code's row);
 * m = 1 gives Σ_k coefs[k]·grads[k]. 0, -EPROTO before begin, -EINVAL for a NULL. */
int pn_session_encode(pn_session *s, const float *const *grads, float *out);
/* The session's copy of the model READ at begin (see pn_session_begin), d floats. */
const float *pn_session_model(const pn_session *s);

/* Says READY for the round begun: its gradient slot holds c_i. status 0, or a negative
 * errno when the computation failed (the aggregator then leaves this worker out of the
 * round); loss: the mean batch loss (information only; NaN allowed, not infinite).
 * A gradient holding NaN/Inf is sent as it is: the aggregator flags the worker. Returns
 * 0, -EPROTO when no round is begun or it was already submitted, -errno from the
 * transport. */
int pn_session_submit(pn_session *s, double loss, int status);

/* Before submit: the first `elements` of the round begun's gradient slot are final and the
 * aggregator may read them now (PROGRESS(v); a streaming producer, e.g. an aggregation
 * node whose sum completes in order, calls it as its prefix grows). They must not change
 * any more; READY (pn_session_submit) still says the whole slot is there. 0, -EPROTO
 * outside begin..submit, -EINVAL past the slot, -ENOTSUP with a bf16/f16 grad_dtype (its
 * slot is converted only at submit), -errno from the transport. */
int pn_session_progress(pn_session *s, size_t elements);

/* Waits for the result of the round submitted last (v) into out (d floats):
 *   PN_SERVE_GRADIENT: the aggregated gradient of round v (RESULT(v) from the
 *     aggregator, then READ from its result region slot v % 2); the session tells the
 *     aggregator it has read it (RESULT_ACK), and the job's last result is always readable
 *     by every live worker before STOP. Returns 0, PN_SESSION_SKIPPED when round v was
 *     skipped (out untouched: do not step), PN_SESSION_STOPPED when the job ended without
 *     a result for round v, -ESTALE when the result slot was overwritten while being read
 *     (this worker fell two rounds behind the aggregator; out untouched, and the next
 *     begin resyncs).
 *   PN_SERVE_MODEL: model v+1 (the announcement of round v+1, whose model is READ then;
 *     the following pn_session_begin returns that round without reading again). Returns
 *     0, or PN_SESSION_STOPPED after the job's last round (the final model is the
 *     aggregator's result). With PN_SERVE_MODEL calling wait is optional: begin reads the
 *     next model anyway.
 * out may be NULL (the result is then only in pn_session_model for PN_SERVE_MODEL and
 * discarded for PN_SERVE_GRADIENT). timeout_ms and errors as pn_session_begin; -EPROTO
 * when nothing was submitted since the last wait. With PN_SERVE_GRADIENT, call wait for
 * every round before the next begin: a result not waited for is dropped (and the next
 * begin resyncs). */
int pn_session_wait(pn_session *s, float *out, int timeout_ms);

/* Keeps the session alive between calls: sends a PING when one is due, answers the
 * aggregator and queues what it sent, without blocking. Returns 0, 1 once STOP has been
 * received (the next begin/wait will return it too), or -errno (aggregator gone). */
int pn_session_poll(pn_session *s);

/* The code row of the round begun: copies up to max partitions and coefficients (either
 * pointer may be NULL) and returns nparts; -EPROTO before the first begin; -ENOTSUP
 * (partitions copied, coefficients NaN) when coefficients are asked of a comm-efficient
 * code with m > 1, whose message is pn_session_encode's, not a sum with coefficients. */
int pn_session_round_parts(const pn_session *s, int *parts, double *coefs, int max);
/* The round begun, -1 before the first begin. */
int64_t pn_session_round_number(const pn_session *s);

/* Last error, one line ("" when none). */
const char *pn_session_error(const pn_session *s);

/* Leaves and frees the session (NULL: nothing). After STOP it first gives the aggregator
 * up to 2 s to close its side (a DPDK memif server polling a client that vanished can
 * crash); before STOP it just disconnects (the aggregator sees the worker go). */
void pn_session_leave(pn_session *s);

#ifdef __cplusplus
}
#endif
#endif
