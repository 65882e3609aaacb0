/* Internal structures of the verbs backend (rdma-core: libibverbs + librdmacm).
 *
 * Threading: none of its own. The thread that drives the context does everything in
 * post_read/send_ctrl/poll; the NIC serves RDMA READs without any CPU on the target.
 *
 * Objects:
 *   context  one device (chosen by name or by bind address), one PD, ONE CQ shared by
 *            every QP (send and receive), an optional completion channel, one rdma_cm
 *            event channel, an optional listening cm_id.
 *   peer     one RC QP set up through rdma_cm. The connection's private data carries
 *            node ids and nonces, the listener's accept also its proof; the requester's
 *            proof is its first control message (transport/AUTH.md). A listener returns
 *            a peer from accept only once that proof checked.
 *            Send queue: pieces of reads (RDMA READ) and control sends, retired in order
 *            by signalled completions (selective signalling). Receive side: a ring of
 *            pre-posted buffers; the sender spends credits, the receiver returns them.
 *   mr       an ibv_mr; alloc() gives page-aligned memory.
 *
 * Peers are freed only when the context closes, so pointers the caller holds and
 * indexes in in-flight work requests never dangle.
 *
 * Remote keys: each side announces its REMOTE_READ regions (address, length, rkey) to
 * every peer over the control channel, in order with user messages. post_read checks a
 * descriptor against the announcements before it reaches the NIC, so a forged or stale
 * descriptor fails that read alone instead of putting the RC QP into the error state
 * (which would take the whole peer down). The NIC still enforces the rkey. */
#ifndef PENNANT_TRANSPORT_VERBS_H
#define PENNANT_TRANSPORT_VERBS_H

#include "pennant_config.h" /* before backend.h: it declares backends by PN_HAVE_* */
#include "transport/backend.h"
#include "transport/clock.h"
#include "transport/cq.h"
#include "transport/ring.h"

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <stdbool.h>

/* Defaults, overridable by options (verbs_options.c). */
#define VERBS_READS_IN_FLIGHT_DEFAULT 1024u /* posted, uncompleted reads per peer */
#define VERBS_SQ_READS_DEFAULT 256u         /* read pieces on the send queue per peer */
#define VERBS_CTRL_DEPTH_DEFAULT 32u        /* posted receives (= credits) per peer */
#define VERBS_CHUNK_DEFAULT (1u << 20)      /* preferred chunk for the scheduler */
#define VERBS_SPIN_US_DEFAULT 2000u         /* busy-poll this long before sleeping */
#define VERBS_BACKLOG_MAX 8192u             /* pending accepts/ctrl msgs cap */

/* Control message header on the wire (little endian), then the payload. */
#define VERBS_CTRL_HDR 8
#define VERBS_CTRL_BUF (VERBS_CTRL_HDR + PN_TP_CTRL_MAX)
enum verbs_ctrl_type {
	VERBS_MSG_USER = 1,     /* user payload */
	VERBS_MSG_CREDIT = 2,   /* credits only */
	VERBS_MSG_MR_ADD = 3,   /* region announcement: addr u64, len u64, rkey u32 */
	VERBS_MSG_MR_DEL = 4,   /* region withdrawn: rkey u32 */
	VERBS_MSG_AUTH = 5,     /* requester's proof (32 bytes): its first message, always */
};

/* Connection private data (verbs_hello.c). Little endian:
 *   0 magic u32 | 4 version u16 | 6 ctrl_depth u16 | 8 node_id u32 | 12 reject u32 |
 *  16 nonce[16] | 32 proof[32] (ACCEPT only)
 * CONNECT carries 32 bytes (rdma_cm leaves 56 for RDMA_PS_TCP), ACCEPT 64, REJECT 32 with
 * only magic, version and the reason set. */
#define VERBS_HELLO_MAGIC 0x50524e50u /* "PNRP" */
#define VERBS_HELLO_VERSION 2
#define VERBS_HELLO_SIZE 32
#define VERBS_ACCEPT_SIZE 64
#define VERBS_NONCE_LEN 16
#define VERBS_PROOF_LEN 32
#define VERBS_HANDSHAKE_MS 10000 /* a listener waits this long for an accepted peer's proof */
enum verbs_reject {
	VERBS_REJ_NONE = 0,
	VERBS_REJ_MALFORMED = 2,
	VERBS_REJ_DEVICE = 3,
	VERBS_REJ_RESOURCES = 4,
};
struct verbs_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t ctrl_depth; /* receives the sender keeps posted = initial credits */
	uint32_t node_id;
	uint32_t reject;     /* enum verbs_reject, in a REJECT's private data */
	uint8_t nonce[VERBS_NONCE_LEN];
	uint8_t proof[VERBS_PROOF_LEN]; /* ACCEPT only */
};
/* Writes VERBS_ACCEPT_SIZE bytes when with_proof, else VERBS_HELLO_SIZE. */
void verbs_hello_pack(const struct verbs_hello *h, bool with_proof, uint8_t out[VERBS_ACCEPT_SIZE]);
/* 0 if len holds a record (with its proof when with_proof) of our magic and version,
 * -EPROTO otherwise. */
int verbs_hello_unpack(const void *in, size_t len, bool with_proof, struct verbs_hello *h);

/* What an rdma_cm_id's context points at. */
enum verbs_obj_kind { VERBS_OBJ_PEER = 1, VERBS_OBJ_REQUEST = 2 };
struct verbs_obj {
	enum verbs_obj_kind kind;
};

struct verbs_mr {
	struct pn_tp_mr base;
	struct ibv_mr *mr;
	void *alloc_base;           /* pn_tp_alloc memory, NULL if registered */
	struct verbs_mr *prev, *next;
};

/* One posted read, possibly split into pieces at the port's max message size. */
struct verbs_op {
	uint64_t cookie;
	uint8_t *dst;
	uint32_t lkey, rkey;
	uint64_t raddr;
	uint32_t len, issued, pieces_out;
	int status;                 /* first error seen on one of its pieces */
	struct verbs_op *next;      /* free list or issue queue */
	struct verbs_op *live_prev, *live_next;
};

enum verbs_sq_kind { SQ_READ = 1, SQ_SEND = 2 };
struct verbs_sq_entry {
	struct verbs_op *op;        /* SQ_READ */
	uint32_t len;
	uint8_t kind;
};

/* A region the peer announced (remote key check before posting). */
struct verbs_remote_region {
	uint64_t addr, len;
	uint32_t rkey;
};

/* PEER_AUTH: listener side, connection established, requester's proof not seen yet. */
enum verbs_peer_state { PEER_CONNECTING, PEER_ADDR_OK, PEER_ROUTE_OK, PEER_AUTH, PEER_UP, PEER_DOWN };

enum verbs_rbuf_state { RBUF_POSTED, RBUF_HELD, RBUF_DELIVERED };

struct verbs_pending_msg {
	uint16_t type, len;
	uint8_t data[PN_TP_CTRL_MAX];
};

struct verbs_peer {
	struct pn_tp_peer base;
	struct verbs_obj obj;
	uint32_t index;             /* in ctx->peers, encoded in wr_id */
	struct rdma_cm_id *id;
	struct ibv_qp *qp;
	enum verbs_peer_state state;
	bool active;                /* we connected (vs. accepted) */
	int down_err;               /* why it went down (negative errno) */
	char why[512];
	uint8_t initiator_depth, responder_resources; /* negotiated */
	/* handshake (verbs_conn.c, verbs_cm.c, verbs_ctrl.c) */
	struct pn_auth_transcript auth;
	bool established;           /* rdma_cm ESTABLISHED seen */
	bool proven;                /* listener: the requester's proof checked */
	bool returned;              /* listener: handed out by pn_tp_accept */
	int64_t hs_deadline_ms;     /* listener: proof due by then */

	/* send queue, in posting order */
	struct verbs_sq_entry *sq;
	uint32_t sq_cap, sq_head, sq_count, sq_reads, sq_unsignalled;

	/* reads */
	struct verbs_op *op_pool, *op_free;
	struct verbs_op *issue_head, *issue_tail; /* ops with pieces left to post */
	struct verbs_op *live_head, *live_tail;   /* every live op, in posting order */
	uint32_t ops_live, signal_every;

	/* control channel: ctrl_mem holds rq_depth receive buffers then rq_depth send buffers */
	uint8_t *ctrl_mem;
	struct ibv_mr *ctrl_mr;
	uint32_t rq_depth, sbuf_count;
	enum verbs_rbuf_state *rbuf_state;
	uint32_t sbuf_next, sbuf_used;
	uint32_t credits;           /* receives the remote has posted for us */
	uint32_t owed;              /* receives we reposted and not yet told the remote */
	struct pn_ring pend;         /* of struct verbs_pending_msg: waiting for credits */

	struct verbs_remote_region *regions;
	uint32_t nregions, regions_cap;
};

/* A connection request waiting for pn_tp_accept. */
struct verbs_request {
	struct verbs_obj obj;
	struct rdma_cm_id *id;
	struct verbs_hello hello;
	uint8_t initiator_depth, responder_resources; /* what the requester offered */
	struct verbs_request *next;
	bool gone;                  /* requester gave up before we accepted */
};

/* A receive buffer whose message the caller took at the last poll (reposted at the next). */
struct verbs_held {
	struct verbs_peer *peer;
	uint32_t rbuf;
};

struct verbs_ctx {
	struct pn_tp_ctx base;

	/* options */
	char dev_name[64];
	char bind_ip[64];
	uint8_t port_num;
	int gid_index;
	uint32_t reads_in_flight, sq_reads, ctrl_depth, chunk, spin_us, max_msg_opt;
	bool event_wait;            /* sleep on the completion channel once spinning ends */
	bool busy_only;             /* never sleep: pure busy polling */
	bool trace;                 /* PN_VERBS_TRACE=1: connection/peer events on stderr */

	/* device */
	struct ibv_context **devlist;
	struct ibv_context *verbs;
	struct ibv_device_attr dev_attr;
	struct ibv_port_attr port_attr;
	uint32_t max_msg;           /* reads are split at this size */
	struct ibv_pd *pd;
	struct ibv_comp_channel *channel;
	struct ibv_cq *cq;
	uint32_t cq_depth, cq_reserved;
	bool cq_armed;
	int64_t cm_checked_us;      /* last look at the rdma_cm channel from poll */
	uint32_t polls;             /* poll calls (the clock is read at every 32nd's first look) */

	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen_id;
	struct verbs_request *req_head, *req_tail;
	uint32_t nreq;

	struct verbs_peer **peers;
	uint32_t npeers, peers_cap;
	struct verbs_mr *mrs;

	/* software completions (read done, cancelled, peer down, ctrl received); a CTRL_RECV
	 * points into the peer's receive buffer, held until the caller has seen it */
	struct pn_cq comps;
	/* receive buffers handed out by the last poll, reposted at the next */
	struct verbs_held *delivered;
	uint32_t ndelivered, delivered_cap;
};

static inline struct verbs_ctx *verbs_ctx_of(pn_tp_ctx *c) { return (struct verbs_ctx *)c; }
static inline struct verbs_peer *verbs_peer_of(pn_tp_peer *p) { return (struct verbs_peer *)p; }
static inline struct verbs_ctx *verbs_peer_ctx(struct verbs_peer *p)
{
	return (struct verbs_ctx *)p->base.ctx;
}
static inline uint8_t *verbs_rbuf(struct verbs_peer *p, uint32_t i)
{
	return p->ctrl_mem + (size_t)i * VERBS_CTRL_BUF;
}
static inline uint8_t *verbs_sbuf(struct verbs_peer *p, uint32_t i)
{
	return p->ctrl_mem + (size_t)(p->rq_depth + i) * VERBS_CTRL_BUF;
}

/* wr_id layout: peer index (32) | kind (8) | slot (24). */
enum verbs_wr_kind { WR_SQ = 1, WR_RECV = 2 };
static inline uint64_t verbs_wr_id(uint32_t peer, enum verbs_wr_kind kind, uint32_t slot)
{
	return (uint64_t)peer << 32 | (uint64_t)kind << 24 | (slot & 0xffffffu);
}

/* verbs_context.c: optional event trace (PN_VERBS_TRACE=1), for debugging only */
void verbs_trace(const struct verbs_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* verbs_options.c */
int verbs_parse_options(struct verbs_ctx *c, const pn_tp_config *cfg, char *err, size_t errlen);

/* verbs_device.c */
int verbs_device_open(struct verbs_ctx *c, char *err, size_t errlen);
void verbs_device_close(struct verbs_ctx *c);
const char *verbs_device_name(const struct verbs_ctx *c);

/* verbs_mr.c */
int verbs_alloc(pn_tp_ctx *ctx, size_t len, unsigned access, void **buf, pn_tp_mr **mr);
int verbs_reg(pn_tp_ctx *ctx, void *buf, size_t len, unsigned access, pn_tp_mr **mr);
int verbs_dereg(pn_tp_mr *mr);
void verbs_mr_free_all(struct verbs_ctx *c);
int verbs_access_flags(unsigned access); /* pn_access -> IBV_ACCESS_* */

/* verbs_cm.c: rdma_cm events, dispatched by the object their id points at */
int verbs_cm_pump(struct verbs_ctx *c, int timeout_ms); /* handle events; <0 on channel error */
int verbs_cm_fd(const struct verbs_ctx *c);
/* rdma_reject with a reason and nothing else (the id is not destroyed). */
void verbs_reject(struct rdma_cm_id *id, enum verbs_reject why);

/* verbs_conn.c */
int verbs_listen(pn_tp_ctx *ctx, const char *addr);
int verbs_local_addr(pn_tp_ctx *ctx, char *buf, size_t len);
int verbs_accept(pn_tp_ctx *ctx, pn_tp_peer **peer, int timeout_ms);
int verbs_connect(pn_tp_ctx *ctx, const char *addr, pn_tp_peer **peer, int timeout_ms);
int verbs_disconnect(pn_tp_peer *peer);
void verbs_request_drop(struct verbs_ctx *c, struct verbs_request *r, enum verbs_reject why);

/* verbs_peer.c: QP and buffers of one peer */
struct verbs_peer *verbs_peer_new(struct verbs_ctx *c, struct rdma_cm_id *id);
/* QP, control buffers (receives posted), op pool. */
int verbs_peer_setup_qp(struct verbs_peer *p);
/* Take a peer down: outstanding reads complete with err, then PEER_DOWN if announce.
 * The QP is destroyed (no DMA into our memory after this returns). Idempotent. */
void verbs_peer_down(struct verbs_peer *p, int err, bool announce, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void verbs_peer_free(struct verbs_peer *p);

/* verbs_read.c */
int verbs_post_read(pn_tp_peer *peer, pn_tp_mr *local, size_t local_off,
		    const pn_mr_desc *remote, uint64_t remote_off, size_t len, uint64_t cookie);
void verbs_issue_reads(struct verbs_peer *p);
void verbs_fail_all_ops(struct verbs_peer *p, int err);
void verbs_read_piece_done(struct verbs_peer *p, struct verbs_op *op, uint32_t len);
void verbs_remote_region_add(struct verbs_peer *p, uint64_t addr, uint64_t len, uint32_t rkey);
void verbs_remote_region_del(struct verbs_peer *p, uint32_t rkey);

/* verbs_ctrl.c */
int verbs_send_ctrl(pn_tp_peer *peer, const void *msg, size_t len);
/* Queue an internal or user message; it goes out when credits allow. */
int verbs_ctrl_enqueue(struct verbs_peer *p, uint16_t type, const void *msg, size_t len);
void verbs_ctrl_flush(struct verbs_peer *p);
int verbs_post_recv(struct verbs_peer *p, uint32_t slot);
void verbs_on_recv(struct verbs_peer *p, uint32_t slot, uint32_t byte_len);
void verbs_announce_mr(struct verbs_ctx *c, struct verbs_mr *m, bool add);
void verbs_announce_all(struct verbs_peer *p);
void verbs_peer_proven_up(struct verbs_peer *p);

/* verbs_poll.c */
int verbs_poll(pn_tp_ctx *ctx, pn_tp_completion *out, int max, int timeout_ms);
void verbs_cqe_push(struct verbs_ctx *c, const pn_tp_completion *comp, struct verbs_peer *rbuf_peer,
		    uint32_t rbuf);
/* Drain the hardware CQ once; returns entries handled or <0. */
int verbs_drain_cq(struct verbs_ctx *c);
void verbs_sq_retire(struct verbs_peer *p, uint32_t upto_slot);

#endif
