/* Frame construction and transmit staging (service thread only). */
#include "dp.h"

#include <string.h>

#include <rte_ethdev.h>
#include <rte_pause.h>

void dp_addr_for_peer(const struct dp_ctx *c, const struct dp_peer *p, struct pn_dp_addr *a)
{
	memcpy(a->src_mac, c->port_mac[p->port_idx], 6);
	memcpy(a->dst_mac, p->mac, 6);
	a->src_ip = c->o.ip;
	a->dst_ip = p->ip;
	a->src_port = c->o.udp_port;
	a->dst_port = p->udp_port;
}

void dp_hdr_init(const struct dp_ctx *c, const struct dp_peer *p, struct pn_dp_hdr *h, uint8_t type)
{
	memset(h, 0, sizeof *h);
	h->magic = PN_DP_MAGIC;
	h->version = PN_DP_VERSION;
	h->type = type;
	h->flags = p->connector ? DP_FLAG_FROM_CONNECTOR : 0;
	h->tag = p->tx_tag;
	h->src_id = c->base.cfg.node_id;
	h->dst_id = p->base.id;
}

static void flush_port(struct dp_ctx *c, uint16_t idx)
{
	uint16_t n = c->txn[idx], done = 0;
	/* The peer drains its ring concurrently; give it a bounded chance, then drop
	 * (the requester re-requests whatever is lost). */
	for (int spin = 0; done < n && spin < 20000; spin++) {
		done += rte_eth_tx_burst(c->port_ids[idx], 0, c->txq[idx] + done, n - done);
		if (done < n)
			rte_pause();
	}
	if (done < n) {
		dp_nobuf(c, PN_DP_WHY_TX_RING_FULL, n - done);
		rte_pktmbuf_free_bulk(c->txq[idx] + done, n - done);
	}
	c->txn[idx] = 0;
}

void dp_tx_mbuf(struct dp_ctx *c, uint16_t idx, struct rte_mbuf *m)
{
	c->txq[idx][c->txn[idx]++] = m;
	if (c->txn[idx] == DP_BURST)
		flush_port(c, idx);
}

void dp_tx_flush(struct dp_ctx *c)
{
	for (uint16_t i = 0; i < c->nports; i++)
		if (c->txn[i])
			flush_port(c, i);
}

/* A frame whose payload (if any) is copied into the header mbuf: control traffic. */
static struct rte_mbuf *build_hdr(struct dp_ctx *c, struct dp_peer *p, struct pn_dp_hdr *h,
				  const void *payload, uint32_t payload_len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(c->pkt_pool);
	if (!m) {
		dp_nobuf(c, PN_DP_WHY_NO_MBUF, 1);
		return NULL;
	}
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(PN_DP_ALL_HDRS + payload_len));
	if (!d) {
		rte_pktmbuf_free(m);
		dp_nobuf(c, PN_DP_WHY_NO_MBUF, 1);
		return NULL;
	}
	struct pn_dp_addr a;
	dp_addr_for_peer(c, p, &a);
	h->length = h->type == PN_DP_CTRL ? payload_len : h->length;
	pn_dp_build(d, &a, h, payload_len);
	if (payload_len)
		memcpy(d + PN_DP_ALL_HDRS, payload, payload_len);
	return m;
}

int dp_send_hdr(struct dp_ctx *c, struct dp_peer *p, struct pn_dp_hdr *h,
		const void *payload, uint32_t payload_len)
{
	struct rte_mbuf *m = build_hdr(c, p, h, payload, payload_len);
	if (!m)
		return -1;
	dp_tx_mbuf(c, p->port_idx, m);
	return 0;
}

/* Transmit one frame now, or not at all (-EAGAIN, nothing counted): a handshake probe
 * on a port whose peer may not be polling yet (a memif link is up once the peer
 * connected, but its ring has room only once it polls: a zero-copy client posts its
 * buffers then). The caller simply tries again at its next tick. */
int dp_send_hdr_probe(struct dp_ctx *c, struct dp_peer *p, struct pn_dp_hdr *h,
		      const void *payload, uint32_t payload_len)
{
	if (c->txn[p->port_idx])
		flush_port(c, p->port_idx); /* keep the port's frames in order */
	struct rte_mbuf *m = build_hdr(c, p, h, payload, payload_len);
	if (!m)
		return -1;
	if (rte_eth_tx_burst(c->port_ids[p->port_idx], 0, &m, 1) == 1)
		return 0;
	rte_pktmbuf_free(m);
	return -EAGAIN;
}

/* Called by DPDK when the last reference to a payload segment goes away. */
static void ext_free_cb(void *addr, void *opaque)
{
	(void)addr;
	struct dp_mr *mr = opaque;
	atomic_fetch_sub_explicit(&mr->tx_refs, 1, memory_order_release);
}

/* DATA (or RAW) frame: headers in a small normal mbuf, payload in a second mbuf attached
 * to the registered region itself (external buffer, no copy on this side). Segments are
 * attached per frame, so the 16-bit length limit of an mbuf segment never bites. Falls
 * back to copying only when the region is outside DPDK memory and a memif zero-copy port
 * would need to hand the peer an address inside DPDK memory. */
int dp_send_zero_copy(struct dp_ctx *c, struct dp_peer *p, struct pn_dp_hdr *h,
		      struct dp_mr *mr, uint64_t off, uint32_t len)
{
	uint8_t *src = (uint8_t *)mr->base.addr + off;
	bool copy = c->any_memif_zc && !mr->dpdk_mem;
	struct rte_mbuf *m = rte_pktmbuf_alloc(c->pkt_pool);
	struct rte_mbuf *seg = copy ? NULL : rte_pktmbuf_alloc(c->ext_pool);
	if (!m || (!copy && !seg)) {
		rte_pktmbuf_free(m);
		rte_pktmbuf_free(seg);
		dp_nobuf(c, PN_DP_WHY_NO_MBUF, 1);
		return -1;
	}
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(PN_DP_ALL_HDRS + (copy ? len : 0)));
	if (!d) {
		rte_pktmbuf_free(m);
		rte_pktmbuf_free(seg);
		dp_nobuf(c, PN_DP_WHY_NO_MBUF, 1);
		return -1;
	}
	struct pn_dp_addr a;
	dp_addr_for_peer(c, p, &a);
	h->offset = off;
	h->length = len;
	pn_dp_build(d, &a, h, len);
	if (copy) {
		memcpy(d + PN_DP_ALL_HDRS, src, len);
	} else {
		struct rte_mbuf_ext_shared_info *sh = rte_mbuf_to_priv(seg);
		sh->free_cb = ext_free_cb;
		sh->fcb_opaque = mr;
		rte_mbuf_ext_refcnt_set(sh, 1);
		atomic_fetch_add_explicit(&mr->tx_refs, 1, memory_order_relaxed);
		rte_iova_t iova = !mr->dpdk_mem ? RTE_BAD_IOVA :
				  rte_eal_iova_mode() == RTE_IOVA_VA ? (rte_iova_t)(uintptr_t)src :
				  rte_mem_virt2iova(src);
		rte_pktmbuf_attach_extbuf(seg, src, iova, (uint16_t)len, sh);
		seg->data_off = 0;
		seg->data_len = (uint16_t)len;
		seg->pkt_len = len;
		if (rte_pktmbuf_chain(m, seg)) {
			rte_pktmbuf_free(m);
			rte_pktmbuf_free(seg);
			dp_nobuf(c, PN_DP_WHY_NO_MBUF, 1);
			return -1;
		}
	}
	dp_tx_mbuf(c, p->port_idx, m);
	return 0;
}

void dp_mbuf_copy(void *dst, const struct rte_mbuf *m, uint32_t off, uint32_t len)
{
	uint8_t *out = dst;
	while (m && off >= m->data_len) {
		off -= m->data_len;
		m = m->next;
	}
	while (m && len) {
		uint32_t n = m->data_len - off;
		if (n > len)
			n = len;
		memcpy(out, rte_pktmbuf_mtod_offset(m, const uint8_t *, off), n);
		out += n;
		len -= n;
		off = 0;
		m = m->next;
	}
}
