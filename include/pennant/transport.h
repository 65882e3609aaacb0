/* Pennant transport API: registered memory, peers, one-sided reads, control messages.
 *
 * One API, several backends (verbs, dpdk, tcp). A backend is a table of functions
 * (transport/backend.h); callers never branch on which backend is in use.
 *
 * Model (ARCHITECTURE.md, "Folders and layer rules"):
 *   - A context owns a device/port/socket set and one completion queue.
 *   - Memory is registered with explicit access. Remote peers can only READ regions
 *     registered with PN_ACCESS_REMOTE_READ, within bounds, with the right key.
 *   - A registered region has a portable descriptor (pn_mr_desc) that peers exchange
 *     (usually inside a control message or connection private data).
 *   - post_read() pulls [remote_off, remote_off+len) of a peer's region into a local
 *     registered region. Completion is reported by poll() with the caller's cookie.
 *     With verbs the NIC serves the read; dpdk and tcp run a responder loop on the
 *     target that serves it from registered memory. The caller cannot tell.
 *   - send_ctrl() delivers a small message reliably and in order per peer.
 *
 * Errors: functions return 0 / a non-negative count on success, a negative errno on
 * failure; pn_tp_errmsg(ctx) then holds a human-readable message.
 * Threading: one thread drives a context (post_*, send_ctrl, poll). Backends may run
 * internal progress threads (responders); that is invisible to the caller.
 */
#ifndef PENNANT_TRANSPORT_H
#define PENNANT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pn_tp_ctx pn_tp_ctx;
typedef struct pn_tp_mr pn_tp_mr;
typedef struct pn_tp_peer pn_tp_peer;

/* Access rights of a registered region. LOCAL_WRITE lets local reads land in it. */
enum pn_access {
	PN_ACCESS_LOCAL_WRITE = 1u << 0,
	PN_ACCESS_REMOTE_READ = 1u << 1,
	PN_ACCESS_REMOTE_WRITE = 1u << 2, /* no current feature needs it */
};

/* Portable description of a registered region, exchanged between peers. Fixed
 * little-endian wire layout of 32 bytes (see pn_mr_desc_pack/unpack). */
typedef struct pn_mr_desc {
	uint64_t addr;   /* backend-defined base (virtual address for verbs, region id base otherwise) */
	uint64_t len;    /* bytes */
	uint32_t key;    /* rkey for verbs, region key otherwise */
	uint32_t owner;  /* node id of the owner */
	uint32_t access; /* enum pn_access bits */
	uint32_t reserved;
} pn_mr_desc;

#define PN_MR_DESC_WIRE_SIZE 32
void pn_mr_desc_pack(const pn_mr_desc *d, uint8_t out[PN_MR_DESC_WIRE_SIZE]);
void pn_mr_desc_unpack(const uint8_t in[PN_MR_DESC_WIRE_SIZE], pn_mr_desc *d);

/* Largest control message payload, in bytes, on every backend. */
#define PN_TP_CTRL_MAX 256

typedef struct pn_tp_config {
	const char *backend;   /* "tcp", "dpdk", "verbs" */
	uint32_t node_id;      /* this process's id within the job (rank); unique */
	/* Job secret shared by every peer: any bytes, 1..4096 (a string from PENNANT_JOB_TOKEN
	 * or a token file); required. It never crosses the wire: peers prove they know it by
	 * challenge-response (HMAC-SHA-256 over fresh nonces from both sides, see
	 * transport/AUTH.md). The context keeps only a key derived from it; the caller may
	 * free its buffer after pn_tp_open. */
	const void *secret;
	size_t secret_len;
	/* Backend options as a semicolon-separated key=value list (values may contain
	 * commas, e.g. a DPDK vdev string), parsed by the backend. Unknown keys are an
	 * error. Examples:
	 *   tcp:   "" (nothing needed)
	 *   dpdk:  "vdev=net_memif0,role=server,socket=/tmp/pn.sock;mem=in-memory;prefix=pn0;ip=10.0.0.1"
	 *   verbs: "dev=rxe0;port=1;gid_index=1"
	 * The dpdk backend documents its exact keys in transport/dpdk/README.md. */
	const char *options;
	/* Defaults if 0: chosen by the backend. */
	uint32_t max_reads_in_flight; /* per peer */
	uint32_t cq_depth;
} pn_tp_config;

enum pn_tp_event {
	PN_TP_READ_DONE = 1,  /* a post_read finished: status 0 or -errno */
	PN_TP_CTRL_RECV = 2,  /* a control message arrived: data/len valid until next poll */
	PN_TP_PEER_DOWN = 3,  /* a peer failed or closed; its outstanding reads complete with errors first */
};

typedef struct pn_tp_completion {
	enum pn_tp_event event;
	int status;          /* 0 or -errno */
	uint64_t cookie;     /* caller's cookie (READ_DONE) */
	pn_tp_peer *peer;
	uint32_t peer_id;    /* node id of the peer */
	uint32_t len;        /* bytes read (READ_DONE) or message length (CTRL_RECV) */
	const void *data;    /* CTRL_RECV only; valid until the next pn_tp_poll on this ctx */
} pn_tp_completion;

/* Counters. Dropped input is counted by reason; backends leave unused fields at 0. */
typedef struct pn_tp_stats {
	uint64_t reads_posted, reads_completed, reads_failed;
	uint64_t bytes_read;            /* payload bytes landed locally */
	uint64_t bytes_served;          /* payload bytes served to peers (responder side) */
	uint64_t ctrl_sent, ctrl_recv;
	uint64_t retransmits;           /* re-requested ranges / resent ctrl */
	uint64_t drop_malformed;        /* truncated, bad header, bad lengths, garbage */
	uint64_t drop_bad_token;        /* failed job authentication: bad proof or session tag */
	uint64_t drop_unknown_peer;
	uint64_t drop_bad_key;          /* no such region or key mismatch */
	uint64_t drop_out_of_bounds;    /* offset/length outside the region */
	uint64_t drop_no_access;        /* region not remote-readable */
	uint64_t drop_duplicate;        /* duplicate or stale data/acks */
	uint64_t drop_no_buffer;        /* no mbuf / ring full */
} pn_tp_stats;

/* Open a context. On failure returns NULL and writes a message into err (if given). */
pn_tp_ctx *pn_tp_open(const pn_tp_config *cfg, char *err, size_t errlen);
void pn_tp_close(pn_tp_ctx *ctx);
const char *pn_tp_errmsg(const pn_tp_ctx *ctx);
const char *pn_tp_backend_name(const pn_tp_ctx *ctx);
/* Comma-separated list of backends compiled into this build. */
const char *pn_tp_backends_available(void);

/* Preferred unit of transfer (bytes), e.g. a jumbo frame's payload or the port's
 * max message size, for the scheduler's chunk plan. */
size_t pn_tp_preferred_chunk(const pn_tp_ctx *ctx);

/* Memory. pn_tp_alloc returns memory suitable for the backend (hugepage/rte_malloc for
 * dpdk zero-copy, page-aligned for verbs), already registered. Prefer it. */
int pn_tp_alloc(pn_tp_ctx *ctx, size_t len, unsigned access, void **buf, pn_tp_mr **mr);
int pn_tp_register(pn_tp_ctx *ctx, void *buf, size_t len, unsigned access, pn_tp_mr **mr);
/* Deregisters (and frees memory obtained from pn_tp_alloc). */
int pn_tp_deregister(pn_tp_mr *mr);
void pn_tp_mr_get_desc(const pn_tp_mr *mr, pn_mr_desc *out);
void *pn_tp_mr_addr(const pn_tp_mr *mr);
size_t pn_tp_mr_len(const pn_tp_mr *mr);

/* Connections. Addresses are "host:port" (tcp, verbs via rdma_cm) or backend-specific
 * (dpdk: "ip:udp_port" of the peer on the port's network). listen() binds; accept()
 * waits up to timeout_ms (-1: forever) for one peer. Both sides prove they know the job
 * secret; a peer that fails is never returned by accept or connect and learns nothing
 * about the secret. A handshake in progress survives an accept that times out. */
int pn_tp_listen(pn_tp_ctx *ctx, const char *addr);
/* The bound address after listen (useful with port 0). */
int pn_tp_local_addr(pn_tp_ctx *ctx, char *buf, size_t len);
int pn_tp_accept(pn_tp_ctx *ctx, pn_tp_peer **peer, int timeout_ms);
int pn_tp_connect(pn_tp_ctx *ctx, const char *addr, pn_tp_peer **peer, int timeout_ms);
uint32_t pn_tp_peer_id(const pn_tp_peer *peer);
/* Close one peer; outstanding reads complete with -ECANCELED. */
int pn_tp_disconnect(pn_tp_peer *peer);

/* One-sided read of len bytes from the peer's region `remote` at remote_off into the
 * local region at local_off. Any length; the backend splits it. -EAGAIN when the
 * local queue is full (poll, then retry). */
int pn_tp_post_read(pn_tp_peer *peer, pn_tp_mr *local, size_t local_off,
		    const pn_mr_desc *remote, uint64_t remote_off, size_t len, uint64_t cookie);

/* Reliable, ordered (per peer) small message of at most PN_TP_CTRL_MAX bytes. */
int pn_tp_send_ctrl(pn_tp_peer *peer, const void *msg, size_t len);

/* Drive progress and return up to max completions (0 if none). timeout_ms: 0 polls
 * once, >0 waits up to that long for at least one, -1 waits forever. */
int pn_tp_poll(pn_tp_ctx *ctx, pn_tp_completion *out, int max, int timeout_ms);

void pn_tp_get_stats(const pn_tp_ctx *ctx, pn_tp_stats *out);

#ifdef __cplusplus
}
#endif
#endif
