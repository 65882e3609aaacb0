/* Test and benchmark hooks of the dpdk backend. Not part of the public API: only
 * tests/dpdk, tests/fuzz and bench/dpdk_raw include this. Each call checks that the
 * context really is a dpdk one and returns -EINVAL otherwise. */
#ifndef PN_DPDK_DEBUG_H
#define PN_DPDK_DEBUG_H

#include "pennant/transport.h"
#include "frame.h"

struct pn_dp_pool_counts {
	unsigned pkt_avail, pkt_size;   /* headers, rx frames, copied payloads */
	unsigned ext_avail, ext_size;   /* zero-copy payload segments */
};

/* Why frames were re-requested or dropped: each counter refines one of the public
 * pn_tp_stats counters (retransmits, drop_duplicate, drop_no_buffer). */
enum pn_dp_why {
	PN_DP_WHY_REXMIT_TIMEOUT,   /* READ range re-requested after a full timeout */
	PN_DP_WHY_REXMIT_RACK,      /* ... early: a later request was answered first */
	PN_DP_WHY_REXMIT_CTRL,      /* control messages resent (no acknowledgement in time) */
	PN_DP_WHY_DUP_STALE_DATA,   /* DATA for a read that already finished or failed */
	PN_DP_WHY_DUP_FRAME,        /* DATA frame that had already landed */
	PN_DP_WHY_DUP_CTRL,         /* control message out of sequence (resent, or a gap) */
	PN_DP_WHY_DUP_ACK,          /* stale control acknowledgement */
	PN_DP_WHY_DUP_HANDSHAKE,    /* repeated HELLO/ACCEPT/CONFIRM */
	PN_DP_WHY_TX_RING_FULL,     /* transmit ring stayed full: frames dropped */
	PN_DP_WHY_NO_MBUF,          /* mempool empty: frame not built */
	PN_DP_WHY_NO_SLOT,          /* completion queue, peer table or half-open table full */
	PN_DP_WHY_N
};
/* Name of each reason (for printing). */
const char *pn_dp_why_name(enum pn_dp_why w);
/* The context's reason counters, out[PN_DP_WHY_N]. */
int pn_dp_debug_why(pn_tp_ctx *ctx, uint64_t *out);

/* Free/total mbufs of the context's mempools. */
int pn_dp_debug_pools(pn_tp_ctx *ctx, struct pn_dp_pool_counts *out);
/* Our addressing on port 0 (MAC, IP, UDP port) to craft frames at ourselves. */
int pn_dp_debug_self_addr(pn_tp_ctx *ctx, struct pn_dp_addr *out);
/* Queue a raw frame (any bytes) for transmission on port 0 by the service thread. */
int pn_dp_debug_inject(pn_tp_ctx *ctx, const void *frame, size_t len);
/* The session tag this peer connection puts on the frames it sends (to craft frames
 * that pass or fail the tag check). */
int pn_dp_debug_peer_tag(pn_tp_peer *peer, uint64_t *tag);
/* Stop answering READs (simulates a peer that stopped serving). */
int pn_dp_debug_mute_responder(pn_tp_ctx *ctx, int mute);
/* Payload bytes per DATA frame. */
int pn_dp_debug_payload(pn_tp_ctx *ctx, uint32_t *payload);
/* Benchmark baseline: send `frames` RAW frames of `payload` bytes from region mr to the
 * peer, back to back, no protocol. */
int pn_dp_debug_raw_blast(pn_tp_peer *peer, pn_tp_mr *mr, uint64_t frames, uint32_t payload);
/* RAW frames/bytes received so far and the time between the first and the last. */
int pn_dp_debug_raw_rx(pn_tp_ctx *ctx, uint64_t *frames, uint64_t *bytes, uint64_t *span_ns);
int pn_dp_debug_raw_reset(pn_tp_ctx *ctx);
int pn_dp_debug_raw_busy(pn_tp_ctx *ctx);


/* End of a test: stop the service thread and the ports (drivers give back the mbufs
 * their rings hold), then report the pools, which must be full again. The context can
 * only be closed afterwards. */
int pn_dp_debug_quiesce(pn_tp_ctx *ctx, struct pn_dp_pool_counts *out);
/* Wait up to timeout_ms for every port's link to go down (a memif peer left). */
int pn_dp_debug_wait_link_down(pn_tp_ctx *ctx, int timeout_ms);

#endif
