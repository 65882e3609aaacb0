/* The worker session's state (include/pennant/session.h), shared by its files:
 * session_worker_io.c (polling, the message queue, liveness, reads),
 * session_worker_join.c (join, the ctypes constructors, accessors, leave) and
 * session_worker_round.c (begin, submit, wait, poll). */
#ifndef PENNANT_JOB_SESSION_WORKER_H
#define PENNANT_JOB_SESSION_WORKER_H

#include "job/proto.h"
#include "pennant/codes.h"
#include "pennant/session.h"

#include <stdbool.h>

/* Messages from the aggregator that wait for the caller (ROUND, RESULT, STOP): a round
 * has at most a ROUND and a RESULT in flight per round, so a few rounds' worth is
 * plenty; when full, the oldest is dropped (and said). */
#define PN_SESSION_QUEUE 16

typedef enum session_phase {
	PHASE_IDLE,      /* no round begun, or the last one waited for */
	PHASE_BEGUN,     /* begin returned round v: the caller computes */
	PHASE_SUBMITTED, /* READY(v) sent: wait may be called */
} session_phase;

struct pn_session {
	int rank;
	size_t d;
	bool verbose;
	int connect_timeout_ms, silence_override_ms;
	char *connect;
	pn_tp_ctx *ctx;
	pn_tp_peer *agg;
	pn_tp_mr *grad_mr, *model_mr, *result_mr;
	float *grad;             /* 2 slots of slot_len, remote-READ (float32); half: 1 slot, private */
	pn_dtype dtype;          /* the registered gradient's element type */
	uint16_t *wire;          /* half: 2 slots of slot_len, remote-READ; float32: NULL */
	size_t grad_cap;         /* elements registered: 2·ceil(d/m) for the m configured, else 2·d */
	int comm_dim_wanted;     /* pn_session_config.comm_dim (0: WELCOME's) */
	/* the job's code as WELCOME says: m, the message (slot) length ceil(d/m), and for
	 * m > 1 the comm-efficient code rebuilt here to encode (session_worker_code.c) */
	int comm_dim;
	size_t slot_len;
	pn_code *code;
	float *model, *result;   /* local landing buffers, d each */
	/* from WELCOME */
	bool welcomed;
	int n;
	pn_serve serve;
	pn_mr_desc model_desc, result_desc;
	double heartbeat_s, silence_s;
	/* liveness */
	double last_heard, last_sent;
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
	/* reads */
	uint64_t read_seq;
	bool read_done;
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

/* session_worker_io.c */
int pn_sess_fail(pn_session *s, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int pn_sess_send(pn_session *s, const pn_job_msg *m);
/* One pass: poll the transport for up to timeout_ms, queue what came, send a PING when
 * due, judge silence. 0, or -errno once the aggregator is gone. */
int pn_sess_pump(pn_session *s, int timeout_ms);
/* READ len bytes at off of the aggregator's region `desc` into `into` (registered
 * `mr`, offset 0), pumping meanwhile. 0, -EIO when the read failed, or -errno. */
int pn_sess_read(pn_session *s, pn_tp_mr *mr, const pn_mr_desc *desc, uint64_t off, size_t len);
/* A control message from the aggregator: WELCOME settles the session (-EINVAL for
 * another d), ROUND/RESULT/STOP are queued, malformed ones dropped (and said). */
int pn_sess_on_ctrl(pn_session *s, const pn_tp_completion *c);
void pn_sess_queue_remove(pn_session *s, int k);
/* Milliseconds left until `deadline` (pn_now_s; < 0: none) capped for one pump. */
int pn_sess_slice_ms(const pn_session *s, double deadline);

#endif
