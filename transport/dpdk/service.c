/* The service thread: burst in, dispatch, run timers and the request scheduler, burst
 * out (DPDK examples' l2fwd shape). It serves READs even while the application thread
 * is busy computing. */
#include "dp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <rte_ethdev.h>

void dp_rx_frame(struct dp_ctx *c, uint16_t port_idx, struct rte_mbuf *m)
{
	uint8_t tmp[PN_DP_ALL_HDRS];
	const uint8_t *hdrs = tmp;
	uint32_t total = rte_pktmbuf_pkt_len(m);
	size_t avail = total < PN_DP_ALL_HDRS ? total : PN_DP_ALL_HDRS;
	if (rte_pktmbuf_data_len(m) >= avail)
		hdrs = rte_pktmbuf_mtod(m, const uint8_t *);
	else
		dp_mbuf_copy(tmp, m, 0, (uint32_t)avail);

	struct pn_dp_frame f;
	if (pn_dp_parse_split(hdrs, avail, total, &f) != PN_DP_OK) {
		c->base.stats.drop_malformed++;
		return;
	}
	if (f.hdr.type == PN_DP_RAW) {
		uint64_t now = dp_now_ns();
		uint64_t zero = 0;
		atomic_compare_exchange_strong(&c->raw_rx_first_ns, &zero, now);
		atomic_store(&c->raw_rx_last_ns, now);
		atomic_fetch_add(&c->raw_rx_frames, 1);
		atomic_fetch_add(&c->raw_rx_bytes, f.payload_len);
		return;
	}
	if (f.addr.dst_port != c->o.udp_port) {
		c->base.stats.drop_unknown_peer++;
		return;
	}
	switch (f.hdr.type) {
	case PN_DP_HELLO:
		dp_on_hello(c, port_idx, &f, m);
		return;
	case PN_DP_ACCEPT:
		dp_on_accept(c, port_idx, &f, m);
		return;
	case PN_DP_CONFIRM:
		dp_on_confirm(c, port_idx, &f, m);
		return;
	case PN_DP_READY:
		dp_on_ready(c, &f);
		return;
	case PN_DP_ERROR:
		if (dp_on_handshake_error(c, &f))
			return;
		break;
	default:
		break;
	}
	struct dp_peer *p = dp_peer_lookup(c, f.hdr.src_id, f.hdr.flags & DP_FLAG_FROM_CONNECTOR);
	if (!p || f.hdr.dst_id != c->base.cfg.node_id || f.addr.src_ip != p->ip ||
	    f.addr.dst_ip != c->o.ip) {
		c->base.stats.drop_unknown_peer++;
		return;
	}
	if (f.hdr.tag != p->rx_tag) { /* not from the party that proved itself */
		c->base.stats.drop_bad_token++;
		return;
	}
	switch (f.hdr.type) {
	case PN_DP_READ:
		dp_serve_read(c, p, &f);
		break;
	case PN_DP_DATA:
		dp_land_data(c, p, &f, m);
		break;
	case PN_DP_ERROR:
		dp_read_error(c, p, &f);
		break;
	case PN_DP_CTRL:
		dp_on_ctrl(c, p, &f, m);
		break;
	case PN_DP_CTRL_ACK:
		dp_on_ctrl_ack(c, p, &f);
		break;
	default:
		c->base.stats.drop_malformed++;
		break;
	}
}

static void send_injected(struct dp_ctx *c)
{
	for (int i = 0; i < c->ninject; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(c->pkt_pool);
		void *d = m ? rte_pktmbuf_append(m, (uint16_t)c->inject[i].len) : NULL;
		if (d) {
			memcpy(d, c->inject[i].buf, c->inject[i].len);
			dp_tx_mbuf(c, 0, m);
		} else {
			rte_pktmbuf_free(m);
		}
		free(c->inject[i].buf);
	}
	c->ninject = 0;
}

/* A memif port whose link went down has lost its peer process: the peers reached
 * through it are down now, not after a chain of read timeouts. */
static void watch_links(struct dp_ctx *c)
{
	int down = 0;
	for (uint16_t i = 0; i < c->nports; i++) {
		if (!c->port_watch_link[i])
			continue;
		struct rte_eth_link l;
		if (rte_eth_link_get_nowait(c->port_ids[i], &l))
			continue;
		bool up = l.link_status == RTE_ETH_LINK_UP;
		if (c->port_link_up[i] != up)
			c->gate.rescan = true; /* a control channel came or went */
		if (c->port_link_up[i] && !up)
			for (int k = 0; k < c->npeers; k++)
				if (c->peers[k]->port_idx == i && c->peers[k]->state == DP_PEER_UP)
					dp_peer_down(c, c->peers[k], -ECONNRESET);
		c->port_link_up[i] = up;
		down += !up;
	}
	c->memif_down = down;
}

static void *service_main(void *arg)
{
	struct dp_ctx *c = arg;
	struct rte_mbuf *pkts[DP_BURST];
	unsigned idle = 0;
	/* naps must be short to keep read latency low: ask for 1 us timer slack (default 50) */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
		unsigned got = 0;
		/* no burst (and nothing that may transmit) unless the PMD's control path is
		 * kept out (intr_gate.c) */
		if (!dp_gate_acquire(&c->gate, dp_now_ns())) {
			usleep(1000); /* the interrupt thread is busy (or the gate broke: stay off) */
			continue;
		}
		for (uint16_t i = 0; i < c->nports; i++) {
			uint16_t n = rte_eth_rx_burst(c->port_ids[i], 0, pkts, DP_BURST);
			if (!n)
				continue;
			got += n;
			pthread_mutex_lock(&c->lock);
			for (uint16_t k = 0; k < n; k++)
				dp_rx_frame(c, i, pkts[k]);
			pthread_mutex_unlock(&c->lock);
			rte_pktmbuf_free_bulk(pkts, n);
		}
		uint64_t now = dp_now_ns();
		pthread_mutex_lock(&c->lock);
		if (c->ninject)
			send_injected(c);
		if (now >= c->next_timer_ns) {
			watch_links(c);
			dp_hello_timers(c, now);
			dp_requester_timers(c, now);
			c->next_timer_ns = now + 200000; /* 200 us timer granularity */
		}
		dp_ctrl_progress(c, now);
		dp_requester_progress(c, now);
		if (c->raw.frames_left) {
			dp_raw_blast(c);
			got++;
		}
		dp_tx_flush(c);
		pthread_mutex_unlock(&c->lock);

		if (got)
			idle = 0;
		else
			idle++;
		if (atomic_load_explicit(&c->reclaim_wanted, memory_order_relaxed)) {
			/* deregister is waiting: an empty transmit lets drivers that release sent
			 * frames lazily (memif zero-copy) do so. Only then: a memif port must not be
			 * touched needlessly while its peer may be leaving. */
			for (uint16_t i = 0; i < c->nports; i++)
				rte_eth_tx_burst(c->port_ids[i], 0, pkts, 0);
		}
		if (!got && c->o.idle_sleep_us && idle > 2000) {
			/* polling is the fast path; when nothing moves, yield the shared CPU (and
			 * the interrupt thread: connects and disconnects are handled meanwhile) */
			if (c->memif_down)
				dp_gate_release(&c->gate); /* a handshake may be under way */
			else
				dp_gate_maybe_release(&c->gate, now);
			usleep(c->o.idle_sleep_us);
		} else {
			dp_gate_maybe_release(&c->gate, now);
		}
	}
	/* the gate stays held: whoever joins this thread closes the ports under it */
	return NULL;
}

int dp_service_start(struct dp_ctx *c)
{
	int rc = dp_gate_init(&c->gate, c->any_memif);
	if (rc) {
		dp_gate_close(&c->gate);
		return rc;
	}
	rc = pthread_create(&c->svc, NULL, service_main, c);
	if (rc) {
		dp_gate_close(&c->gate);
		return -rc;
	}
	pthread_setname_np(c->svc, "pn-dpdk-svc");
	c->svc_started = true;
	return 0;
}

void dp_service_stop(struct dp_ctx *c)
{
	if (!c->svc_started)
		return;
	atomic_store_explicit(&c->stop, true, memory_order_release);
	pthread_join(c->svc, NULL);
	c->svc_started = false;
}
