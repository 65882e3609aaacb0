/* The worker session's state (include/pennant/session.h), shared by its files:
 * session_worker_io.c (polling, the message queue, liveness, reads),
 * session_worker_join.c (join, the ctypes constructors, accessors, leave) and
 * session_worker_round.c (begin, submit, wait, poll). */
#ifndef PENNANT_JOB_SESSION_WORKER_H
#define PENNANT_JOB_SESSION_WORKER_H

#include "job/proto.h"
#include "pennant/codes.h"
#include "pennant/session.h"
#include "pennant/shard.h"

#include <stdbool.h>

/* Messages from the aggregator that wait for the caller (ROUND, RESULT, STOP): a round
 * has at most a ROUND per shard and a RESULT in flight, so two rounds of the most shards
 * and then some is plenty; when full, the oldest is dropped (and said). */
#define PN_SESSION_QUEUE (2 * PN_SHARD_MAX + 16)

typedef enum session_phase {
	PHASE_IDLE,      /* no round begun, or the last one waited for */
	PHASE_BEGUN,     /* begin returned round v: the caller computes */
	PHASE_SUBMITTED, /* READY(v) sent: wait may be called */
} session_phase;

/* One aggregator shard this worker joined (an unsharded job has one, shard 0): its
 * address, its peer, and from its WELCOME the range of the model it owns and serves. */
typedef struct pn_sess_shard {
	char *addr;
	pn_tp_peer *peer;
	bool welcomed;
	pn_mr_desc model_desc;   /* 2 slots of hi - lo floats */
	size_t lo, hi;
	double last_heard, last_sent;
} pn_sess_shard;

struct pn_session {
	int rank;
	int hello_rank;          /* the rank our HELLO names: rank, or fallback_rank after failing over */
	char *fallback;          /* pn_session_config.fallback (a tree's root), or NULL */
	int fallback_rank;
	bool failed_over;        /* joined the fallback (session_worker_failover.c) */
	bool retake;             /* after failing over: the root may announce our round again */
	size_t d;
	bool verbose;
	int connect_timeout_ms, silence_override_ms;
	char *connect;           /* the address list as given ("a" or "a0,a1,..." in shard order) */
	pn_tp_ctx *ctx;
	bool ctx_shared;         /* cfg.ctx: the caller's, not closed here */
	void (*foreign)(void *arg, const pn_tp_completion *c);
	void *foreign_arg;
	int nshards;             /* K: the addresses in `connect` */
	pn_sess_shard sh[PN_SHARD_MAX];
	pn_tp_mr *grad_mr, *model_mr, *result_mr;
	float *grad;             /* 2 slots of slot_len, remote-READ (float32; each shard pulls its
				  * range); half: 1 slot, private */
	pn_dtype dtype;          /* the registered gradient's element type */
	uint16_t *wire;          /* half: 2 slots of slot_len, remote-READ; float32: NULL */
	size_t grad_cap;         /* elements registered: 2·ceil(d/m) for the m configured, else 2·d */
	int comm_dim_wanted;     /* pn_session_config.comm_dim (0: WELCOME's) */
	/* the job's code as WELCOME says: m, the message (slot) length ceil(d/m), and for
	 * m > 1 the comm-efficient code rebuilt here to encode (session_worker_code.c) */
	int comm_dim;
	size_t slot_len;
	pn_code *code;
	float *model, *result;   /* local landing buffers, d each (shard k's range at lo_k) */
	/* from WELCOME (the same in every shard's) */
	bool welcomed;           /* every shard's WELCOME arrived */
	int n;
	pn_serve serve;
	pn_mr_desc result_desc;
	double heartbeat_s, silence_s;
	/* liveness */
	bool gone;               /* PEER_DOWN seen, or the silence limit passed */
	bool stopped;            /* STOP received */
	/* the round */
	session_phase phase;
	pn_job_msg cur;          /* the ROUND begun */
	bool have_round;
	bool prefetched;         /* serving the model: wait already read the next ROUND's model */
	pn_job_msg next;         /* that ROUND */
	bool model_read_once;    /* serving gradients: the first begin read the model */
	int64_t waited;          /* serving gradients: the last round whose result was taken */
	bool behind;             /* serving gradients: a result was missed, resync at begin */
	uint64_t dropped;        /* queued messages dropped (queue full) */
	double t_begun;
	/* reads: one batch at a time, cookies read_seq + 0 .. read_seq + reads_posted - 1 */
	uint64_t read_seq;
	int reads_posted, reads_left;
	int read_status;
	/* queue */
	pn_job_msg q[PN_SESSION_QUEUE];
	int qn;
	char err[256];
};

/* session_worker_code.c: settle m from WELCOME (and rebuild the code when m > 1);
 * 0 or -EINVAL with the reason in s->err */
int pn_sess_adopt_code(pn_session *s, const pn_job_msg *welcome);
void pn_sess_free_code(pn_session *s);

/* session_worker_join.c: connect to shard k, HELLO until WELCOME (retrying within the
 * connect timeout from t0); 0, or -errno with the reason said */
int pn_sess_connect_shard(pn_session *s, int k, double t0);

/* session_worker_failover.c: whether the aggregator's loss can be taken by joining the
 * fallback, and doing it (0: joined; else the reason is said) */
bool pn_sess_can_fail_over(const pn_session *s);
int pn_sess_fail_over(pn_session *s, const char *why);

/* session_worker_io.c */
int pn_sess_fail(pn_session *s, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* To every shard (READY, RESULT_ACK go to all of them). */
int pn_sess_send(pn_session *s, const pn_job_msg *m);
/* "the aggregator" when unsharded, else "aggregator shard k (address)" */
const char *pn_sess_who(const pn_session *s, int k, char *buf, size_t len);
/* The shard whose peer this is, or -1. */
int pn_sess_shard_of(const pn_session *s, const pn_tp_peer *p);
/* One pass: poll the transport for up to timeout_ms, queue what came, send a PING when
 * due, judge silence. 0, or -errno once the aggregator is gone. */
int pn_sess_pump(pn_session *s, int timeout_ms);
/* pn_tp_poll on the session's context keeping only its own completions (a shared context's
 * others go to the caller's foreign handler): the count kept, or -errno. */
int pn_sess_poll(pn_session *s, pn_tp_completion *c, int max, int timeout_ms);
/* READ len bytes at off of the aggregator's region `desc` into `into` (registered
 * `mr`, offset 0), pumping meanwhile. 0, -EIO when the read failed, or -errno. */
int pn_sess_read(pn_session *s, pn_tp_mr *mr, const pn_mr_desc *desc, uint64_t off, size_t len);
/* READ model slot `slot` of every shard: shard k's range lands at lo_k of the model
 * buffer (K reads in flight at once). 0, -EIO, or -errno. */
int pn_sess_read_model(pn_session *s, uint32_t slot);
/* A control message from the aggregator: WELCOME settles the session (-EINVAL for
 * another d), ROUND/RESULT/STOP are queued, malformed ones dropped (and said). */
int pn_sess_on_ctrl(pn_session *s, const pn_tp_completion *c);
void pn_sess_queue_remove(pn_session *s, int k);
/* Milliseconds left until `deadline` (pn_now_s; < 0: none) capped for one pump. */
int pn_sess_slice_ms(const pn_session *s, double deadline);

#endif
