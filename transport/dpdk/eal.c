/* EAL initialisation, ports and mempools. */
#include "dp.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

/* DPDK's EAL can be initialised once per process, and not again after cleanup. */
static atomic_int eal_used;

#define MAX_ARGS 48

static int build_argv(const struct dp_opts *o, char store[MAX_ARGS][300], char **argv)
{
	int n = 0;
#define ARG(...) do { if (n < MAX_ARGS - 1) snprintf(store[n], 300, __VA_ARGS__), argv[n] = store[n], n++; } while (0)
	ARG("pennant");
	ARG("--no-pci"); /* only vdevs: probing the host's own PCI NICs would fail or take them over */
	ARG("--no-telemetry");
	ARG("--log-level=%s", o->log_level);
	/* without shared config memif warns at every probe that secondary processes could
	 * not get its regions: we run none (an explicit `eal` option can raise it again) */
	ARG("--log-level=pmd.net.memif:error");
	if (o->lcores[0])
		ARG("--lcores=%s", o->lcores);
	else
		ARG("-l0");
	/* Nothing on disk outlives the process, even when it is killed: no shared config
	 * (we never run secondary processes), hugepage files unlinked once mapped, and the
	 * (then empty) runtime folder is removed right after init (dp_eal_start). */
	ARG("--no-shconf");
	switch (o->mem) {
	case DP_MEM_HUGE:
		ARG("--file-prefix=%s", o->prefix);
		ARG("--huge-unlink");
		if (o->mem_mb_set)
			ARG("-m%u", o->mem_mb);
		break;
	case DP_MEM_INMEM:
		ARG("--in-memory");
		if (o->mem_mb_set)
			ARG("-m%u", o->mem_mb);
		break;
	case DP_MEM_NOHUGE:
		ARG("--no-huge");
		ARG("--file-prefix=%s", o->prefix);
		ARG("-m%u", o->mem_mb);
		break;
	}
	if (o->single_file)
		ARG("--single-file-segments");
	for (int i = 0; i < o->nvdev; i++)
		ARG("--vdev=%s", o->vdev[i]);
	char extra[256];
	snprintf(extra, sizeof extra, "%s", o->eal_extra);
	for (char *save = NULL, *tok = strtok_r(extra, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		ARG("%s", tok);
#undef ARG
	argv[n] = NULL;
	return n;
}

static int setup_port(struct dp_ctx *c, uint16_t idx, char *err, size_t errlen)
{
	uint16_t port = c->port_ids[idx];
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc) {
		pn_errf(err, errlen, "dpdk: port %u: info: %s", port, rte_strerror(-rc));
		return rc;
	}
	/* memif and ring ports neither lose nor reorder frames (a full ring pushes back);
	 * memif's link follows its peer process, and its control path runs on the EAL
	 * interrupt thread (intr_gate.c). */
	bool memif = info.driver_name && strstr(info.driver_name, "memif");
	bool ring = info.driver_name && strstr(info.driver_name, "ring");
	c->port_lossless[idx] = c->o.lossless < 0 ? memif || ring : c->o.lossless;
	c->port_watch_link[idx] = memif;
	c->any_memif |= memif;
	memset(&conf, 0, sizeof conf);
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	if ((rc = rte_eth_dev_configure(port, 1, 1, &conf))) {
		pn_errf(err, errlen, "dpdk: port %u: configure: %s", port, rte_strerror(-rc));
		return rc;
	}
	uint16_t nrx = 1024, ntx = 1024;
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
	if ((rc = rte_eth_rx_queue_setup(port, 0, nrx, SOCKET_ID_ANY, NULL, c->pkt_pool)) ||
	    (rc = rte_eth_tx_queue_setup(port, 0, ntx, SOCKET_ID_ANY, NULL))) {
		pn_errf(err, errlen, "dpdk: port %u: queue setup: %s", port, rte_strerror(-rc));
		return rc;
	}
	/* Jumbo only where the port allows it; memif/ring report no MTU limit worth trusting,
	 * their frame size is bounded by our own mempool data room. */
	if (c->o.mtu > 1500 && info.max_mtu >= c->o.mtu &&
	    info.max_rx_pktlen >= c->o.mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN)
		rte_eth_dev_set_mtu(port, (uint16_t)c->o.mtu);
	rte_eth_promiscuous_enable(port);
	if ((rc = rte_eth_dev_start(port))) {
		pn_errf(err, errlen, "dpdk: port %u: start: %s", port, rte_strerror(-rc));
		return rc;
	}
	struct rte_ether_addr mac;
	rte_eth_macaddr_get(port, &mac);
	memcpy(c->port_mac[idx], c->o.have_mac ? c->o.mac : mac.addr_bytes, 6);
	return 0;
}

int dp_eal_start(struct dp_ctx *c, char *err, size_t errlen)
{
	if (atomic_exchange(&eal_used, 1))
		return pn_fail(err, errlen, EALREADY, "dpdk: only one dpdk context per process (EAL is process-global)");
	char store[MAX_ARGS][300];
	char *argv[MAX_ARGS];
	int argc = build_argv(&c->o, store, argv);

	/* EAL pins the calling (application) thread to lcore 0's CPU; restore the caller's
	 * affinity afterwards unless lcores were given explicitly. */
	cpu_set_t saved;
	int have_saved = !c->o.lcores[0] && pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) == 0;
	int rc = rte_eal_init(argc, argv);
	if (have_saved)
		pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
	if (rc < 0)
		return pn_fail(err, errlen, ENODEV, "dpdk: rte_eal_init failed: %s (run as root? hugepages or mem=in-memory/no-huge?)",
			       rte_strerror(rte_errno));
	c->eal_up = true;
	/* EAL creates its runtime folder even without shared config; it is empty (nothing
	 * else may be in it: rmdir removes only an empty one) */
	rmdir(rte_eal_get_runtime_dir());
	/* A vdev that failed to probe does not fail EAL init: count the ports. */
	uint16_t port;
	c->nports = 0;
	RTE_ETH_FOREACH_DEV(port) {
		if (c->nports < DP_MAX_PORTS)
			c->port_ids[c->nports++] = port;
	}
	if (c->nports != c->o.nvdev)
		return pn_fail(err, errlen, ENODEV, "dpdk: %d vdev(s) requested but %u port(s) probed (bad vdev string, missing driver, or interface?)",
			       c->o.nvdev, c->nports);
	for (int i = 0; i < c->o.nvdev; i++)
		if (!strncmp(c->o.vdev[i], "net_memif", 9) && strstr(c->o.vdev[i], "zero-copy=yes"))
			c->any_memif_zc = true;

	c->frame_max = c->o.mtu + PN_DP_ETH_LEN;
	c->payload_max = pn_dp_payload_for_mtu(c->o.mtu);
	uint16_t room = (uint16_t)((c->frame_max <= 2048 ? 2048 : 9216) + RTE_PKTMBUF_HEADROOM);
	c->pkt_pool = rte_pktmbuf_pool_create("pn_pkt", c->o.nb_mbufs, 256, 0, room, SOCKET_ID_ANY);
	/* Payload segments carry no data room: they are attached to registered memory and
	 * keep their rte_mbuf_ext_shared_info in the private area, outside the payload. */
	uint16_t priv = (uint16_t)RTE_ALIGN(sizeof(struct rte_mbuf_ext_shared_info), RTE_MBUF_PRIV_ALIGN);
	c->ext_pool = rte_pktmbuf_pool_create("pn_ext", c->o.nb_mbufs, 256, priv, 0, SOCKET_ID_ANY);
	if (!c->pkt_pool || !c->ext_pool)
		return pn_fail(err, errlen, ENOMEM, "dpdk: mempool creation failed: %s", rte_strerror(rte_errno));
	for (uint16_t i = 0; i < c->nports; i++)
		if ((rc = setup_port(c, i, err, errlen)))
			return rc < 0 ? rc : -EIO;
	return 0;
}

void dp_ports_close(struct dp_ctx *c)
{
	/* memif tears a port down in dev_stop; the interrupt thread must not do the same for
	 * a peer leaving at this very moment (two teardowns of one port crash): hold it off */
	dp_gate_acquire(&c->gate, dp_now_ns());
	for (uint16_t i = 0; i < c->nports; i++) {
		rte_eth_dev_stop(c->port_ids[i]);
		rte_eth_dev_close(c->port_ids[i]);
	}
	c->nports = 0;
	dp_gate_close(&c->gate);
}

void dp_eal_stop(struct dp_ctx *c)
{
	if (!c->eal_up)
		return;
	dp_ports_close(c);
	rte_mempool_free(c->pkt_pool);
	rte_mempool_free(c->ext_pool);
	c->pkt_pool = c->ext_pool = NULL;
	/* cleanup unmaps DPDK memory that the interrupt thread may still read: retire it
	 * first; if that fails, leave the memory mapped (the process frees it at exit) */
	if (!dp_intr_thread_retire()) {
		c->eal_up = false;
		return;
	}
	rte_eal_cleanup();
	c->eal_up = false;
}
