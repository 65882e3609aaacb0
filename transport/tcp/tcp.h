/* Internal structures of the TCP backend.
 *
 * One progress thread per context owns the epoll set and does all socket I/O that is not
 * done inline by the caller: it serves READ requests from registered memory (the
 * responder), lands READ responses in the requester's buffers, and queues control
 * messages and completions. One mutex (tcp_ctx.lock) protects all shared state; the caller
 * thread takes it in post_read/send_ctrl/poll. Peers are freed only when the context
 * closes, so a peer pointer held by epoll or a completion never dangles. */
#ifndef PENNANT_TRANSPORT_TCP_H
#define PENNANT_TRANSPORT_TCP_H

#include "transport/backend.h"
#include "transport/clock.h"
#include "transport/cq.h"
#include "transport/ring.h"
#include "transport/tcp/wire.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/uio.h>

/* Defaults, overridable by options (see tcp_options.c). */
#define TCP_PIECE_DEFAULT (1u << 20)        /* reads are split into pieces of this size */
#define TCP_WINDOW_BYTES_DEFAULT (8u << 20) /* piece bytes in flight per peer */
#define TCP_WINDOW_PIECES_DEFAULT 256u      /* pieces in flight per peer */
#define TCP_READS_IN_FLIGHT_DEFAULT 1024u   /* posted, uncompleted reads per peer */
#define TCP_TXQ_HARD_CAP 65536u             /* queued frames per peer before it is cut off */
#define TCP_HANDSHAKE_MS 5000               /* per-connection handshake deadline */
#define TCP_HS_SLOTS 64                     /* handshakes in progress on a listener */
#define TCP_PEER_TIMEOUT_DEFAULT 30000u     /* ms without acks before a peer is declared down */

struct tcp_mr {
	struct pn_tp_mr base;
	void *alloc_base; /* what pn_tp_alloc allocated, NULL if registered */
	struct tcp_mr *next;
};

/* One frame waiting to be written: a header, then optionally payload that points straight
 * into a registered region (READ response) or into the inline copy (control message). */
struct tcp_tx_item {
	struct tcp_wire_hdr h;
	uint8_t hdr[TCP_WIRE_HDR_SIZE];
	const uint8_t *data; /* region payload; NULL when inline or none */
	struct tcp_mr *mr;   /* region the payload points into */
	uint32_t data_len;
	uint32_t sent;       /* bytes of header + payload already written */
	bool is_inline;
	uint8_t inline_data[PN_TP_CTRL_MAX];
};

struct tcp_op; /* one posted read */

/* A piece of a read that has been requested on the wire and awaits its response. Responses
 * come back in request order (one stream, the responder serves FIFO), so pending pieces
 * form a FIFO too. */
struct tcp_piece {
	uint64_t req_id;
	struct tcp_op *op;
	uint8_t *dst;
	uint32_t len;
};

struct tcp_op {
	uint64_t cookie;
	const struct pn_tp_mr *local; /* landing region: it may not be deregistered under us */
	uint8_t *dst;
	uint64_t remote_off;
	uint32_t key;
	uint32_t len, issued, pieces_out;
	int status;
	bool in_issue_queue;
	struct tcp_op *next_issue;
	struct tcp_op *prev, *next; /* all live ops of the peer */
};

enum tcp_rx_mode { RX_HEADER, RX_LAND, RX_CTRL };

struct tcp_peer {
	struct pn_tp_peer base;
	int fd;
	bool down, epollout;
	struct tcp_peer *next; /* ctx list */

	struct pn_ring txq; /* of struct tcp_tx_item, at most TCP_TXQ_HARD_CAP */

	/* receive state machine */
	enum tcp_rx_mode rx_mode;
	uint8_t rx_hdr[TCP_WIRE_HDR_SIZE];
	uint32_t rx_got;
	struct tcp_wire_hdr rx;
	uint8_t *rx_dst;
	uint8_t rx_ctrl[PN_TP_CTRL_MAX];

	/* requester */
	uint64_t next_req_id;
	struct pn_ring pend; /* of struct tcp_piece: requested, response not yet landed */
	uint64_t pend_bytes;
	struct tcp_op *issue_head, *issue_tail;
	struct tcp_op *ops; /* all live ops */
	uint32_t ops_live;
};

struct tcp_ctx {
	struct pn_tp_ctx base;
	pthread_mutex_t lock;
	pthread_cond_t cq_cond;
	pthread_t thread;
	bool thread_started;
	bool stop;
	int epfd, wakefd, listen_fd;

	uint32_t piece, window_pieces, window_bytes, reads_in_flight, peer_timeout_ms;

	struct tcp_mr *mrs;
	uint32_t next_key;
	struct tcp_peer *peers;

	struct pn_cq cq;

	pn_tp_stats live; /* counters, under lock; copied to base.stats on refresh */
	struct tcp_hs *hs; /* TCP_HS_SLOTS handshakes in progress (tcp_auth.c), on the caller's thread */
};

static inline struct tcp_ctx *tcp_ctx_of(pn_tp_ctx *c) { return (struct tcp_ctx *)c; }
static inline struct tcp_peer *tcp_peer_of(pn_tp_peer *p) { return (struct tcp_peer *)p; }
static inline struct tcp_ctx *tcp_peer_ctx(struct tcp_peer *p) { return (struct tcp_ctx *)p->base.ctx; }

/* tcp_options.c */
int tcp_parse_options(struct tcp_ctx *c, const pn_tp_config *cfg, char *err, size_t errlen);

/* tcp_mr.c */
int tcp_alloc(pn_tp_ctx *ctx, size_t len, unsigned access, void **buf, pn_tp_mr **mr);
int tcp_reg(pn_tp_ctx *ctx, void *buf, size_t len, unsigned access, pn_tp_mr **mr);
int tcp_dereg(pn_tp_mr *mr);
struct tcp_mr *tcp_mr_lookup(struct tcp_ctx *c, uint32_t key);
void tcp_mr_free_all(struct tcp_ctx *c);

/* tcp_txq.c (under lock) */
struct tcp_tx_item *tcp_txq_push(struct tcp_peer *p); /* NULL when at the hard cap */
int tcp_flush(struct tcp_peer *p); /* write what the socket takes; <0 on a dead socket */
void tcp_peer_kick(struct tcp_peer *p); /* flush, arm/disarm EPOLLOUT, take a dead peer down */

/* tcp_conn.c */
int tcp_listen(pn_tp_ctx *ctx, const char *addr);
int tcp_local_addr(pn_tp_ctx *ctx, char *buf, size_t len);
int tcp_accept(pn_tp_ctx *ctx, pn_tp_peer **peer, int timeout_ms);
int tcp_connect(pn_tp_ctx *ctx, const char *addr, pn_tp_peer **peer, int timeout_ms);
int tcp_disconnect(pn_tp_peer *peer);
/* Take a peer down (under lock): outstanding reads complete with err, then PEER_DOWN if
 * announce. Idempotent. */
void tcp_peer_down(struct tcp_peer *p, int err, bool announce);
void tcp_peer_free(struct tcp_peer *p);
/* An authenticated socket becomes a peer (takes fd, closes it on failure). */
int tcp_make_peer(struct tcp_ctx *c, int fd, uint32_t id, pn_tp_peer **out);

/* tcp_auth.c: the handshake (transport/AUTH.md) */
int tcp_auth_connect(struct tcp_ctx *c, int fd, const char *addr, int64_t deadline, uint32_t *peer_id);
int tcp_auth_accept(struct tcp_ctx *c, pn_tp_peer **peer, int timeout_ms);
void tcp_auth_free(struct tcp_ctx *c);

/* tcp_requester.c (under lock) */
int tcp_post_read(pn_tp_peer *peer, pn_tp_mr *local, size_t local_off,
		  const pn_mr_desc *remote, uint64_t remote_off, size_t len, uint64_t cookie);
void tcp_pump_requests(struct tcp_peer *p);
/* A READ_RESP header arrived: returns 0 and sets the rx state, <0 on protocol error. */
int tcp_on_read_resp(struct tcp_peer *p, const struct tcp_wire_hdr *h);
void tcp_on_piece_landed(struct tcp_peer *p);
void tcp_fail_all_ops(struct tcp_peer *p, int err);

/* tcp_responder.c (under lock) */
int tcp_on_read_req(struct tcp_peer *p, const struct tcp_wire_hdr *h);

/* tcp_ctrl.c */
int tcp_send_ctrl(pn_tp_peer *peer, const void *msg, size_t len);
void tcp_on_ctrl(struct tcp_peer *p);

/* tcp_cq.c */
void tcp_cq_push(struct tcp_ctx *c, const pn_tp_completion *comp, const void *data);
int tcp_poll(pn_tp_ctx *ctx, pn_tp_completion *out, int max, int timeout_ms);

/* tcp_progress.c */
int tcp_progress_start(struct tcp_ctx *c, char *err, size_t errlen);
void tcp_progress_stop(struct tcp_ctx *c);
int tcp_epoll_add(struct tcp_ctx *c, struct tcp_peer *p);

#endif
