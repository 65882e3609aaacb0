/* pn-dpdk-peer: the worker side of the multi-process dpdk tests and of the raw/pull
 * benchmark. Exposes one remote-readable region filled with a known pattern, accepts
 * one aggregator and answers its control messages:
 *   "STATS"            -> "STAT" + struct pn_tp_stats
 *   "RAW <n> <bytes>"  -> blast n RAW frames of <bytes> payload (benchmark baseline)
 *   "BYE"              -> reply "BYE-OK", wait for the aggregator to go, stop the port and
 *                         check every mbuf is back in our mempools, exit.
 * Exit status: 0 all good, 1 error or leak, 2 timeout. */
#include "pennant/transport.h"
#include "ctrl_text.h"
#include "transport/dpdk/dpdk_debug.h"
#include "dp_test_util.h"

#include <getopt.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	const char *opts = NULL, *listen = NULL;
	unsigned node = 1;
	uint64_t seed = 1;
	size_t size = 1 << 20;
	double deadline_s = 240;
	static const struct option lo[] = {
		{"options", 1, 0, 'o'}, {"listen", 1, 0, 'l'}, {"node", 1, 0, 'n'},
		{"size", 1, 0, 's'}, {"seed", 1, 0, 'S'}, {"deadline", 1, 0, 'd'}, {0, 0, 0, 0}};
	for (int ch; (ch = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
		switch (ch) {
		case 'o': opts = optarg; break;
		case 'l': listen = optarg; break;
		case 'n': node = (unsigned)strtoul(optarg, NULL, 0); break;
		case 's': size = strtoull(optarg, NULL, 0); break;
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		case 'd': deadline_s = atof(optarg); break;
		default: fprintf(stderr, "usage: pn-dpdk-peer --options S --listen ip:port --node N --size B (job secret in PN_DPT_SECRET) --seed S\n"); return 1;
		}
	}
	if (!opts || !listen) {
		fprintf(stderr, "pn-dpdk-peer: --options and --listen are required\n");
		return 1;
	}
	char err[512] = "";
	const char *secret = getenv("PN_DPT_SECRET");
	if (!secret || !secret[0]) {
		fprintf(stderr, "pn-dpdk-peer: PN_DPT_SECRET (the job secret) is not set\n");
		return 1;
	}
	pn_tp_config cfg = {.backend = "dpdk", .node_id = node, .secret = secret, .secret_len = strlen(secret),
			    .options = opts};
	pn_tp_ctx *ctx = pn_tp_open(&cfg, err, sizeof err);
	if (!ctx) {
		fprintf(stderr, "pn-dpdk-peer %u: open: %s\n", node, err);
		return 1;
	}
	int rc = 1;
	void *buf;
	pn_tp_mr *mr;
	pn_tp_peer *agg;
	if (pn_tp_alloc(ctx, size, PN_ACCESS_REMOTE_READ, &buf, &mr) || pn_tp_listen(ctx, listen) ||
	    pn_tp_accept(ctx, &agg, 60000)) {
		fprintf(stderr, "pn-dpdk-peer %u: setup: %s\n", node, pn_tp_errmsg(ctx));
		goto out;
	}
	dpt_fill(buf, size, seed);
	/* A memif zero-copy client lends mbufs to the driver: its receive ring (refilled in
	 * batches) and the last transmitted headers (released on the next transmit), and the
	 * driver keeps them even after the port is closed. For it we require every payload
	 * segment back and at most the two rings' worth (2 x 1024) of packet mbufs held (a
	 * per-frame leak would be thousands); for everything else the pools must be full. */
	struct pn_dp_pool_counts p0;
	pn_dp_debug_pools(ctx, &p0);
	bool zc_client = strstr(opts, "zero-copy=yes") != NULL;

	uint8_t msg[4 + PN_MR_DESC_WIRE_SIZE] = {'D', 'E', 'S', 'C'};
	pn_mr_desc d;
	pn_tp_mr_get_desc(mr, &d);
	pn_mr_desc_pack(&d, msg + 4);
	if (pn_tp_send_ctrl(agg, msg, sizeof msg)) {
		fprintf(stderr, "pn-dpdk-peer %u: send: %s\n", node, pn_tp_errmsg(ctx));
		goto out;
	}
	double t_end = now_s() + deadline_s;
	rc = 2;
	while (now_s() < t_end) {
		pn_tp_completion c;
		if (pn_tp_poll(ctx, &c, 1, 200) != 1)
			continue;
		if (c.event == PN_TP_PEER_DOWN) {
			fprintf(stderr, "pn-dpdk-peer %u: aggregator down (%d)\n", node, c.status);
			rc = 1;
			break;
		}
		if (c.event != PN_TP_CTRL_RECV)
			continue;
		char text[PN_TP_CTRL_MAX + 1];
		bench_ctrl_text(&c, text);
		if (!strcmp(text, "STATS")) {
			uint8_t reply[4 + sizeof(pn_tp_stats)] = {'S', 'T', 'A', 'T'};
			pn_tp_stats st;
			pn_tp_get_stats(ctx, &st);
			memcpy(reply + 4, &st, sizeof st);
			pn_tp_send_ctrl(agg, reply, sizeof reply);
		} else if (!strncmp(text, "RAW ", 4)) {
			unsigned long long n = 0;
			unsigned payload = 0;
			sscanf(text + 4, "%llu %u", &n, &payload);
			if (pn_dp_debug_raw_blast(agg, mr, n, payload))
				fprintf(stderr, "pn-dpdk-peer %u: bad RAW request '%s'\n", node, text);
		} else if (!strcmp(text, "BYE")) {
			pn_tp_send_ctrl(agg, "BYE-OK", 6);
			/* let the ack go out; a memif server (the aggregator) must stop polling
			 * before we vanish, so wait for it to close the link */
			for (double t = now_s() + 0.3; now_s() < t;)
				pn_tp_poll(ctx, &c, 1, 50);
			/* while the port is still up: every frame that pointed into the region must
			 * have been released (deregister waits for that, then says EBUSY) */
			if (pn_tp_deregister(mr)) {
				fprintf(stderr, "pn-dpdk-peer %u: deregister: %s\n", node, pn_tp_errmsg(ctx));
				rc = 1;
				break;
			}
			mr = NULL;
			if (strstr(opts, "net_memif") && pn_dp_debug_wait_link_down(ctx, 10000))
				fprintf(stderr, "pn-dpdk-peer %u: memif link still up after BYE\n", node);
			struct pn_dp_pool_counts p;
			pn_dp_debug_quiesce(ctx, &p);
			bool ok = p.ext_avail == p.ext_size &&
				  (zc_client ? p.pkt_size - p.pkt_avail <= 2048 : p.pkt_avail == p.pkt_size);
			fprintf(stderr, "pn-dpdk-peer %u: mempools %s: pkt %u/%u ext %u/%u free (%u pkt free after connect)\n",
				node, ok ? "all returned" : "LEAK", p.pkt_avail, p.pkt_size, p.ext_avail,
				p.ext_size, p0.pkt_avail);
			rc = ok ? 0 : 1;
			break;
		}
	}
	if (rc == 2)
		fprintf(stderr, "pn-dpdk-peer %u: no BYE within %.0f s\n", node, deadline_s);
	if (mr)
		pn_tp_deregister(mr);
out:
	pn_tp_close(ctx);
	return rc;
}
