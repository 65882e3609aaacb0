/* Internal state of the DPDK backend. One context per process (DPDK's EAL is
 * process-global). A service thread owns the ports: it alone receives and transmits,
 * serves READs (responder), lands DATA and runs the requester's timers. Application
 * calls (post_read, send_ctrl, poll, ...) only queue work or take results, under
 * ctx->lock. */
#ifndef PN_DPDK_DP_H
#define PN_DPDK_DP_H

/* external mbuf helpers are marked experimental in some DPDK releases */
#ifndef ALLOW_EXPERIMENTAL_API
#define ALLOW_EXPERIMENTAL_API
#endif
#include "pennant_config.h"
#include "transport/backend.h"
#include "transport/clock.h"
#include "transport/cq.h"
#include "frame.h"
#include "dpdk_debug.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <rte_mbuf.h>

#define DP_MAX_PORTS 16
#define DP_MAX_PEERS 256
#define DP_MAX_REGIONS 1024
#define DP_MAX_OPS 1024     /* reads outstanding per context */
#define DP_SUB_SHIFT 20     /* req_id = op id << 20 | sub-request index */
#define DP_BURST 32
#define DP_CTRL_WINDOW 64   /* unacknowledged control messages per peer */
#define DP_MAX_FRAMES_PER_REQ 64
#define DP_MAX_HALF_OPEN 64             /* listener: handshakes waiting for the requester's proof */
#define DP_HALF_OPEN_NS 5000000000ull   /* how long one may wait */

/* Frame flag: set by the side that called connect(), so two connections between the same
 * pair of nodes (or a node and itself) are never confused. */
#define DP_FLAG_FROM_CONNECTOR 1u

enum dp_mem_mode { DP_MEM_HUGE, DP_MEM_INMEM, DP_MEM_NOHUGE };

struct dp_opts {
	char vdev[DP_MAX_PORTS][256];
	int nvdev;
	enum dp_mem_mode mem;
	unsigned mem_mb;          /* -m: size for no-huge; preallocation otherwise, when set */
	bool mem_mb_set;
	char prefix[64];
	char lcores[64];
	char log_level[32];
	char eal_extra[256];      /* extra EAL args, space separated */
	uint32_t ip;              /* host order */
	uint16_t udp_port;
	uint8_t mac[6];
	bool have_mac;
	bool jumbo;
	uint32_t mtu;             /* IP MTU; 0 = from jumbo flag */
	uint32_t frames_per_req;  /* DATA frames per READ request (<= 64) */
	uint64_t peer_window;     /* bytes requested and not yet landed, per peer */
	uint64_t total_window;    /* same, whole context */
	uint32_t rto_init_us, rto_min_us, rto_max_us;
	uint32_t retries;         /* re-requests of one range before the peer is declared down */
	uint32_t connect_retry_ms;
	uint32_t idle_sleep_us;   /* service thread nap when idle; 0 = pure busy polling */
	uint32_t lossless_rto_us; /* RTO floor on lossless ports (memif, ring) */
	int lossless;             /* -1 auto (by driver), 0 off, 1 on: every port */
	uint32_t nb_mbufs;
	bool single_file;         /* --single-file-segments (memif zero-copy needs it) */
};

struct dp_mr {
	struct pn_tp_mr base;
	uint32_t key;
	int slot;
	bool dpdk_mem;            /* inside DPDK memory: eligible for zero-copy transmit */
	atomic_uint tx_refs;      /* DATA frames still pointing into this region */
};

struct dp_sub {                   /* one READ request's worth of an op */
	uint64_t start;           /* offset within the op */
	uint32_t len;
	uint8_t nframes;
	uint8_t state;            /* DP_SUB_* */
	uint8_t retries;          /* attempts after the first (echoed by DATA) */
	uint8_t timeouts;         /* of those, after a full timeout (bounded by 'retries') */
	uint8_t spurious;         /* a premature timeout was detected (once per request) */
	uint8_t last_by_timeout;  /* the latest re-request came from a timeout, not RACK */
	uint64_t got;             /* bitmap of frames landed */
	uint64_t sent_ns, deadline_ns;
	uint64_t xmit_seq;        /* peer-wide order of (re)sends, for RACK */
};
enum { DP_SUB_PENDING, DP_SUB_INFLIGHT, DP_SUB_DONE };

struct dp_peer;
struct dp_op {
	uint64_t id;              /* generation << 10 | slot; 0 = free */
	struct dp_peer *peer;
	struct dp_op *next;       /* in the peer's list */
	uint8_t *dst;
	uint32_t key;
	uint64_t roff, len, cookie;
	uint32_t nsub, next_sub, done_subs;
	struct dp_sub *subs;
};

enum dp_peer_state { DP_PEER_CONNECTING, DP_PEER_UP, DP_PEER_DOWN };

struct dp_ctrl_msg {
	uint32_t seq;
	uint16_t len;
	uint8_t data[PN_DP_CTRL_MAX];
};

struct dp_peer {
	struct pn_tp_peer base;
	enum dp_peer_state state;
	bool connector;           /* we called connect() for this connection */
	uint16_t port_idx;        /* index into ctx->port_ids */
	uint8_t mac[6];
	uint32_t ip;
	uint16_t udp_port;
	uint64_t nonce;           /* pairs the handshake frames of this connection */
	uint64_t hello_next_ns, hello_deadline_ns;
	bool refused;             /* the handshake failed (refused, or a proof did not check) */
	/* authentication (handshake.c) */
	bool auth_failed;         /* requester: the listener's proof did not check */
	uint8_t hs_stage;         /* requester: 0 = sending HELLO, 1 = sending CONFIRM */
	uint8_t hs_tries;         /* requester: CONFIRMs sent without READY */
	uint8_t nonce_r[PN_DP_NONCE_LEN], nonce_l[PN_DP_NONCE_LEN];
	uint8_t proof_r[PN_DP_PROOF_LEN]; /* requester: what CONFIRM carries */
	uint64_t tx_tag, rx_tag;  /* session tags: put on our frames / required on theirs */
	/* control messages: ring of unacked messages [ctrl_acked, ctrl_next) */
	struct dp_ctrl_msg ctrl_q[DP_CTRL_WINDOW];
	uint32_t ctrl_next, ctrl_acked, ctrl_sent;
	uint64_t ctrl_deadline_ns;
	uint32_t ctrl_tries;
	uint32_t ctrl_rx_next;
	/* reads */
	struct dp_op *ops_head, *ops_tail;
	uint32_t nops;             /* reads outstanding (cfg.max_reads_in_flight caps it) */
	uint64_t inflight, cwnd;
	double srtt_ns, rttvar_ns;
	uint64_t rto_ns;
	uint64_t rto_floor_ns;     /* raised when a re-request proves spurious */
	uint64_t xmit_seq;          /* counter of request (re)sends */
	uint64_t delivered_seq;     /* highest xmit_seq of a request that got a frame */
	uint64_t last_cut_ns;       /* last window decrease (at most one per RTT) */
	double reo_rtts;            /* RACK reordering allowance, in round trips */
};

/* Listener: a requester that sent HELLO and has not proven itself yet (not a peer). */
struct dp_half_open {
	bool used;
	uint32_t src_id;
	uint64_t pair;
	uint64_t expires_ns;
	uint16_t port_idx;
	uint8_t mac[6];
	uint32_t ip;
	uint16_t udp_port;
	uint8_t nonce_r[PN_DP_NONCE_LEN], nonce_l[PN_DP_NONCE_LEN];
	uint8_t proof_l[PN_DP_PROOF_LEN];
};

struct dp_raw_job {               /* benchmark: blast RAW frames (no protocol) */
	struct dp_peer *peer;
	struct dp_mr *mr;
	uint64_t frames_left;
	uint32_t payload;
};

#define DP_GATE_MAX_FDS 64
/* intr_gate.c: keeps the PMD's control path (EAL interrupt thread) out while we burst */
struct dp_gate {
	bool enabled, initialised, armed;
	bool held;                /* service thread side: we may burst */
	uint64_t held_since_ns;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool parked;              /* the interrupt thread waits in our alarm callback */
	bool release, closing, broken;
	/* the process's unix sockets: readable = the PMD has control work pending */
	struct pollfd watch[DP_GATE_MAX_FDS];
	int nwatch;               /* -1: unknown (too many, or no /proc) */
	bool rescan;
	uint64_t next_scan_ns;
};
int dp_gate_init(struct dp_gate *g, bool enabled);
bool dp_gate_acquire(struct dp_gate *g, uint64_t now);
void dp_gate_release(struct dp_gate *g);
void dp_gate_maybe_release(struct dp_gate *g, uint64_t now);
void dp_gate_close(struct dp_gate *g);
/* intr_retire.c: park the EAL interrupt thread for good, before rte_eal_cleanup() */
bool dp_intr_thread_retire(void);

struct dp_ctx {
	struct pn_tp_ctx base;
	struct dp_opts o;
	bool eal_up;
	uint16_t nports;
	uint16_t port_ids[DP_MAX_PORTS];
	uint8_t port_mac[DP_MAX_PORTS][6];
	bool any_memif_zc;
	bool any_memif;
	bool port_lossless[DP_MAX_PORTS];  /* memif/ring: no loss, in order, back-pressure */
	bool port_watch_link[DP_MAX_PORTS];/* link down = the peer process is gone (memif) */
	bool port_link_up[DP_MAX_PORTS];   /* last seen status (service thread) */
	int memif_down;                    /* memif ports not connected (yet, or any more) */
	struct dp_gate gate;
	struct rte_mempool *pkt_pool;  /* rx, headers, copied payloads */
	struct rte_mempool *ext_pool;  /* payload segments attached to registered memory */
	uint32_t payload_max;          /* DATA payload bytes per frame */
	uint32_t frame_max;

	pthread_t svc;
	bool svc_started;
	atomic_bool stop;
	atomic_int reclaim_wanted;     /* deregister waits for frames to be released */
	pthread_mutex_t lock;
	pthread_cond_t cond;

	struct dp_mr *regions[DP_MAX_REGIONS];
	struct dp_peer *peers[DP_MAX_PEERS];
	int npeers;
	struct dp_op ops[DP_MAX_OPS];
	uint64_t op_gen;
	int ops_used;
	uint64_t total_inflight;

	struct pn_cq cq;               /* the core's completion queue, under lock */
	uint64_t why[PN_DP_WHY_N];     /* reasons behind retransmits and drops (dpdk_debug.h) */

	struct dp_peer *accept_q[DP_MAX_PEERS];
	int accept_len;
	bool listening;
	struct dp_half_open half_open[DP_MAX_HALF_OPEN]; /* handshake.c */

	/* per-port transmit staging, flushed by the service thread */
	struct rte_mbuf *txq[DP_MAX_PORTS][DP_BURST];
	uint16_t txn[DP_MAX_PORTS];

	uint64_t next_timer_ns;

	/* debug/benchmark hooks (dpdk_debug.h) */
	bool mute_responder;
	struct { uint8_t *buf; size_t len; } inject[64];
	int ninject;
	struct dp_raw_job raw;
	atomic_uint_fast64_t raw_rx_frames, raw_rx_bytes, raw_rx_first_ns, raw_rx_last_ns;
};

static inline struct dp_ctx *dp_ctx(pn_tp_ctx *c) { return (struct dp_ctx *)c; }

/* Count a drop or a retransmission in the public counter and under its reason. */
static inline void dp_dup(struct dp_ctx *c, enum pn_dp_why w)
{
	c->base.stats.drop_duplicate++;
	c->why[w]++;
}
static inline void dp_nobuf(struct dp_ctx *c, enum pn_dp_why w, uint64_t n)
{
	c->base.stats.drop_no_buffer += n;
	c->why[w] += n;
}
static inline void dp_rexmit(struct dp_ctx *c, enum pn_dp_why w, uint64_t n)
{
	c->base.stats.retransmits += n;
	c->why[w] += n;
}

/* The library's monotonic clock (util/util.h), in nanoseconds. */
static inline uint64_t dp_now_ns(void) { return pn_now_ns(); }

/* debug.c: PENNANT_DPDK_WHY=1 prints the reason counters at close */
void dp_print_why(struct dp_ctx *c);

/* options.c */
int dp_parse_options(const char *opts, uint32_t node_id, struct dp_opts *o, char *err, size_t errlen);

/* eal.c */
int dp_eal_start(struct dp_ctx *c, char *err, size_t errlen);
void dp_eal_stop(struct dp_ctx *c);
/* Stop and close the ports: drivers release the mbufs they hold. */
void dp_ports_close(struct dp_ctx *c);

/* tx.c: all of these run on the service thread, under ctx->lock */
void dp_tx_mbuf(struct dp_ctx *c, uint16_t port_idx, struct rte_mbuf *m);
void dp_tx_flush(struct dp_ctx *c);
int dp_send_hdr(struct dp_ctx *c, struct dp_peer *p, struct pn_dp_hdr *h,
		const void *payload, uint32_t payload_len);
int dp_send_hdr_probe(struct dp_ctx *c, struct dp_peer *p, struct pn_dp_hdr *h,
		      const void *payload, uint32_t payload_len);
void dp_addr_for_peer(const struct dp_ctx *c, const struct dp_peer *p, struct pn_dp_addr *a);
void dp_hdr_init(const struct dp_ctx *c, const struct dp_peer *p, struct pn_dp_hdr *h, uint8_t type);
int dp_send_zero_copy(struct dp_ctx *c, struct dp_peer *p, struct pn_dp_hdr *h,
		      struct dp_mr *mr, uint64_t off, uint32_t len);

/* responder.c */
void dp_serve_read(struct dp_ctx *c, struct dp_peer *p, const struct pn_dp_frame *f);
void dp_raw_blast(struct dp_ctx *c);

/* requester.c */
void dp_land_data(struct dp_ctx *c, struct dp_peer *p, const struct pn_dp_frame *f,
		  const struct rte_mbuf *m);
void dp_read_error(struct dp_ctx *c, struct dp_peer *p, const struct pn_dp_frame *f);
void dp_requester_progress(struct dp_ctx *c, uint64_t now);
void dp_requester_timers(struct dp_ctx *c, uint64_t now);
void dp_fail_peer_ops(struct dp_ctx *c, struct dp_peer *p, int status);

/* peer.c */
struct dp_peer *dp_peer_lookup(struct dp_ctx *c, uint32_t id, bool frame_from_connector);
struct dp_peer *dp_peer_new(struct dp_ctx *c);
void dp_peer_down(struct dp_ctx *c, struct dp_peer *p, int status);
/* Retransmission timeout after `retries` timeouts: the peer's estimate, with the
 * lossless-port floor, doubled per timeout, capped by rto_max_us. */
uint64_t dp_peer_rto(const struct dp_ctx *c, const struct dp_peer *p, unsigned retries);

/* handshake.c */
void dp_on_hello(struct dp_ctx *c, uint16_t port_idx, const struct pn_dp_frame *f, const struct rte_mbuf *m);
void dp_on_accept(struct dp_ctx *c, uint16_t port_idx, const struct pn_dp_frame *f, const struct rte_mbuf *m);
void dp_on_confirm(struct dp_ctx *c, uint16_t port_idx, const struct pn_dp_frame *f, const struct rte_mbuf *m);
void dp_on_ready(struct dp_ctx *c, const struct pn_dp_frame *f);
bool dp_on_handshake_error(struct dp_ctx *c, const struct pn_dp_frame *f);
void dp_hello_timers(struct dp_ctx *c, uint64_t now);

/* ctrl.c */
void dp_on_ctrl(struct dp_ctx *c, struct dp_peer *p, const struct pn_dp_frame *f, const struct rte_mbuf *m);
void dp_on_ctrl_ack(struct dp_ctx *c, struct dp_peer *p, const struct pn_dp_frame *f);
void dp_ctrl_progress(struct dp_ctx *c, uint64_t now);

/* context.c, mr.c, connect.c, read.c: the ops (dp_open/dp_close stay in context.c) */
int dp_alloc(pn_tp_ctx *ctx, size_t len, unsigned access, void **buf, pn_tp_mr **mr);
int dp_reg(pn_tp_ctx *ctx, void *buf, size_t len, unsigned access, pn_tp_mr **mr);
int dp_dereg(pn_tp_mr *m);
void dp_region_free(struct dp_mr *mr);
int dp_listen(pn_tp_ctx *ctx, const char *addr);
int dp_local_addr(pn_tp_ctx *ctx, char *buf, size_t len);
int dp_accept(pn_tp_ctx *ctx, pn_tp_peer **peer, int timeout_ms);
int dp_connect(pn_tp_ctx *ctx, const char *addr, pn_tp_peer **peer, int timeout_ms);
int dp_disconnect(pn_tp_peer *peer);
int dp_post_read(pn_tp_peer *peer, pn_tp_mr *local, size_t local_off,
		 const pn_mr_desc *remote, uint64_t remote_off, size_t len, uint64_t cookie);
int dp_send_ctrl(pn_tp_peer *peer, const void *msg, size_t len);

/* cq.c (lock held): queue a completion (data: a CTRL_RECV payload, copied), wake the
 * caller. 0, or -ENOMEM counted in drop_no_buffer. */
int dp_cq_push(struct dp_ctx *c, const pn_tp_completion *comp, const void *data);
int dp_poll(pn_tp_ctx *ctx, pn_tp_completion *out, int max, int timeout_ms);
/* With the lock held: wait on ctx->cond until pred(c, arg) or timeout_ms (0 or -ETIMEDOUT). */
int dp_wait_until(struct dp_ctx *c, int timeout_ms, bool (*pred)(struct dp_ctx *, void *), void *arg);

/* service.c */
int dp_service_start(struct dp_ctx *c);
void dp_service_stop(struct dp_ctx *c);
void dp_rx_frame(struct dp_ctx *c, uint16_t port_idx, struct rte_mbuf *m);

/* Copy bytes [off, off+len) of a (possibly chained) mbuf into dst. */
void dp_mbuf_copy(void *dst, const struct rte_mbuf *m, uint32_t off, uint32_t len);

#endif
