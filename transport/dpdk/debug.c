/* Test and benchmark hooks (dpdk_debug.h). */
#include "dp.h"
#include "dpdk_debug.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <unistd.h>

static struct dp_ctx *as_dp(pn_tp_ctx *ctx)
{
	return ctx && ctx->ops == &pn_tp_dpdk_ops ? dp_ctx(ctx) : NULL;
}

int pn_dp_debug_pools(pn_tp_ctx *ctx, struct pn_dp_pool_counts *out)
{
	struct dp_ctx *c = as_dp(ctx);
	if (!c)
		return -EINVAL;
	out->pkt_avail = rte_mempool_avail_count(c->pkt_pool);
	out->pkt_size = c->pkt_pool->size;
	out->ext_avail = rte_mempool_avail_count(c->ext_pool);
	out->ext_size = c->ext_pool->size;
	return 0;
}

int pn_dp_debug_self_addr(pn_tp_ctx *ctx, struct pn_dp_addr *out)
{
	struct dp_ctx *c = as_dp(ctx);
	if (!c)
		return -EINVAL;
	memcpy(out->src_mac, c->port_mac[0], 6);
	memcpy(out->dst_mac, c->port_mac[0], 6);
	out->src_ip = out->dst_ip = c->o.ip;
	out->src_port = out->dst_port = c->o.udp_port;
	return 0;
}

int pn_dp_debug_peer_tag(pn_tp_peer *peer, uint64_t *tag)
{
	struct dp_ctx *c = peer ? as_dp(peer->ctx) : NULL;
	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	*tag = ((struct dp_peer *)peer)->tx_tag;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int pn_dp_debug_inject(pn_tp_ctx *ctx, const void *frame, size_t len)
{
	struct dp_ctx *c = as_dp(ctx);
	if (!c || !len || len > c->frame_max)
		return -EINVAL;
	uint8_t *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, frame, len);
	pthread_mutex_lock(&c->lock);
	int rc = -EAGAIN;
	if (c->ninject < (int)(sizeof c->inject / sizeof c->inject[0])) {
		c->inject[c->ninject].buf = copy;
		c->inject[c->ninject].len = len;
		c->ninject++;
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	if (rc)
		free(copy);
	return rc;
}

int pn_dp_debug_mute_responder(pn_tp_ctx *ctx, int mute)
{
	struct dp_ctx *c = as_dp(ctx);
	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	c->mute_responder = mute != 0;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int pn_dp_debug_payload(pn_tp_ctx *ctx, uint32_t *payload)
{
	struct dp_ctx *c = as_dp(ctx);
	if (!c)
		return -EINVAL;
	*payload = c->payload_max;
	return 0;
}

int pn_dp_debug_raw_blast(pn_tp_peer *peer, pn_tp_mr *mr, uint64_t frames, uint32_t payload)
{
	struct dp_ctx *c = as_dp(peer->ctx);
	if (!c || !payload || payload > c->payload_max || payload > mr->len)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	c->raw.peer = (struct dp_peer *)peer;
	c->raw.mr = (struct dp_mr *)mr;
	c->raw.payload = payload;
	c->raw.frames_left = frames;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int pn_dp_debug_raw_busy(pn_tp_ctx *ctx)
{
	struct dp_ctx *c = as_dp(ctx);
	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	int busy = c->raw.frames_left != 0;
	pthread_mutex_unlock(&c->lock);
	return busy;
}

int pn_dp_debug_raw_rx(pn_tp_ctx *ctx, uint64_t *frames, uint64_t *bytes, uint64_t *span_ns)
{
	struct dp_ctx *c = as_dp(ctx);
	if (!c)
		return -EINVAL;
	*frames = atomic_load(&c->raw_rx_frames);
	*bytes = atomic_load(&c->raw_rx_bytes);
	*span_ns = atomic_load(&c->raw_rx_last_ns) - atomic_load(&c->raw_rx_first_ns);
	return 0;
}

int pn_dp_debug_raw_reset(pn_tp_ctx *ctx)
{
	struct dp_ctx *c = as_dp(ctx);
	if (!c)
		return -EINVAL;
	atomic_store(&c->raw_rx_frames, 0);
	atomic_store(&c->raw_rx_bytes, 0);
	atomic_store(&c->raw_rx_first_ns, 0);
	atomic_store(&c->raw_rx_last_ns, 0);
	return 0;
}

int pn_dp_debug_quiesce(pn_tp_ctx *ctx, struct pn_dp_pool_counts *out)
{
	struct dp_ctx *c = as_dp(ctx);
	if (!c)
		return -EINVAL;
	dp_service_stop(c);
	dp_ports_close(c);
	return pn_dp_debug_pools(ctx, out);
}

int pn_dp_debug_wait_link_down(pn_tp_ctx *ctx, int timeout_ms)
{
	struct dp_ctx *c = as_dp(ctx);
	if (!c)
		return -EINVAL;
	for (int t = 0; t <= timeout_ms; t += 10) {
		int up = 0;
		for (uint16_t i = 0; i < c->nports; i++) {
			struct rte_eth_link l;
			if (rte_eth_link_get_nowait(c->port_ids[i], &l) == 0 && l.link_status == RTE_ETH_LINK_UP)
				up = 1;
		}
		if (!up)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

const char *pn_dp_why_name(enum pn_dp_why w)
{
	static const char *const names[PN_DP_WHY_N] = {
		[PN_DP_WHY_REXMIT_TIMEOUT] = "rexmit_timeout",   [PN_DP_WHY_REXMIT_RACK] = "rexmit_rack",
		[PN_DP_WHY_REXMIT_CTRL] = "rexmit_ctrl",         [PN_DP_WHY_DUP_STALE_DATA] = "dup_stale_data",
		[PN_DP_WHY_DUP_FRAME] = "dup_frame",             [PN_DP_WHY_DUP_CTRL] = "dup_ctrl",
		[PN_DP_WHY_DUP_ACK] = "dup_ack",                 [PN_DP_WHY_DUP_HANDSHAKE] = "dup_handshake",
		[PN_DP_WHY_TX_RING_FULL] = "tx_ring_full",       [PN_DP_WHY_NO_MBUF] = "no_mbuf",
		[PN_DP_WHY_NO_SLOT] = "no_slot",
	};
	return (unsigned)w < PN_DP_WHY_N ? names[w] : "?";
}

int pn_dp_debug_why(pn_tp_ctx *ctx, uint64_t *out)
{
	struct dp_ctx *c = as_dp(ctx);
	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	memcpy(out, c->why, sizeof c->why);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* PENNANT_DPDK_WHY=1: at close, one stderr line with the non-zero reasons (for finding
 * where a job's retransmits and drops come from without a debugger). */
void dp_print_why(struct dp_ctx *c)
{
	const char *e = getenv("PENNANT_DPDK_WHY");
	if (!e || strcmp(e, "1"))
		return;
	char line[512];
	int n = snprintf(line, sizeof line, "dpdk node %u:", c->base.cfg.node_id);
	for (int w = 0; w < PN_DP_WHY_N && n > 0 && (size_t)n < sizeof line; w++)
		if (c->why[w])
			n += snprintf(line + n, sizeof line - (size_t)n, " %s=%llu", pn_dp_why_name((enum pn_dp_why)w),
				      (unsigned long long)c->why[w]);
	fprintf(stderr, "%s\n", line);
}
