/* Multi-process pulls over real DPDK vdevs. This process is the aggregator; workers are
 * pn-dpdk-peer processes. Run through scripts/dpdk-test-env, which prepares hugepages,
 * network namespaces, veths and netem and cleans up afterwards:
 *   memif:     two workers over net_memif, one copy-mode client (no-huge memory) and one
 *              zero-copy client (in-memory, single-file segments); aggregator on hugepages.
 *   afpacket:  one worker in another network namespace over a veth pair with net_af_packet,
 *              jumbo frames, under the netem profile the wrapper installed. */
#include "pennant/transport.h"
#include "transport/dpdk/dpdk_debug.h"
#include "dp_agg.h"
#include "dp_test_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pn_tp_ctx *ctx;

static void teardown(void)
{
	if (ctx)
		pn_tp_close(ctx);
	ctx = NULL;
	dpt_kill_all();
}

static const char *need_env(const char *name)
{
	const char *v = getenv(name);
	cr_assert(v && *v, "%s is not set: run this test through scripts/dpdk-test-env", name);
	return v;
}

static pn_tp_ctx *open_agg(const char *opts)
{
	char err[512] = "";
	pn_tp_config cfg = {.backend = "dpdk", .node_id = 100, .secret = DPT_SECRET, .secret_len = sizeof DPT_SECRET - 1, .options = opts};
	pn_tp_ctx *c = pn_tp_open(&cfg, err, sizeof err);
	cr_assert_not_null(c, "aggregator open: %s", err);
	return c;
}

/* Stop polling and the ports, then every mbuf must be back: the pools are full again,
 * as they were before the ports started. */
static void quiesce_and_check_pools(void)
{
	struct pn_dp_pool_counts p;
	cr_assert_eq(pn_dp_debug_quiesce(ctx, &p), 0);
	cr_assert_eq(p.pkt_avail, p.pkt_size, "aggregator packet mbufs not returned: %u of %u free", p.pkt_avail, p.pkt_size);
	cr_assert_eq(p.ext_avail, p.ext_size, "aggregator payload mbufs not returned: %u of %u free", p.ext_avail, p.ext_size);
}

TestSuite(dpdk_memif, .fini = teardown, .timeout = 150);

Test(dpdk_memif, two_workers_copy_and_zero_copy_are_bit_exact)
{
	const char *dir = need_env("PN_DPT_DIR");
	char opts[1024], wopts[2][512];
	snprintf(opts, sizeof opts,
		 "vdev=net_memif0,role=server,id=0,socket=%s/m0.sock,socket-abstract=no,bsize=9216|"
		 "net_memif1,role=server,id=0,socket=%s/m1.sock,socket-abstract=no,bsize=9216;"
		 "mem=hugepages;prefix=%s-agg;jumbo=on;ip=10.77.0.100;udp=7000", dir, dir, need_env("PN_DPT_TAG"));
	snprintf(wopts[0], sizeof wopts[0],
		 "vdev=net_memif0,role=client,id=0,socket=%s/m0.sock,socket-abstract=no,bsize=9216;"
		 "mem=no-huge:512;prefix=%s-w1;jumbo=on;ip=10.77.0.1", dir, need_env("PN_DPT_TAG"));
	snprintf(wopts[1], sizeof wopts[1],
		 "vdev=net_memif0,role=client,id=0,socket=%s/m1.sock,socket-abstract=no,bsize=9216,zero-copy=yes;"
		 "mem=in-memory;single_file=on;mem_mb=256;jumbo=on;ip=10.77.0.2", dir);
	ctx = open_agg(opts); /* the memif servers create the sockets the clients need */
	struct dpt_worker w[2] = {
		{.node = 1, .seed = 11, .size = 24u << 20, .addr = "10.77.0.1:7001"},
		{.node = 2, .seed = 22, .size = 24u << 20, .addr = "10.77.0.2:7002"},
	};
	for (int i = 0; i < 2; i++)
		dpt_spawn(&w[i], NULL, wopts[i]);
	dpt_connect_all(ctx, w, 2);

	dpt_pull_all(ctx, w, 2, 2);

	pn_tp_stats mine, theirs[2];
	pn_tp_get_stats(ctx, &mine);
	for (int i = 0; i < 2; i++) {
		dpt_worker_stats(ctx, &w[i], &theirs[i]);
		/* memif is lossless: every byte served once, nothing re-sent or dropped */
		cr_assert_eq(theirs[i].bytes_served, 2 * w[i].size);
		cr_assert_eq(theirs[i].retransmits + theirs[i].drop_duplicate + theirs[i].drop_no_buffer, 0,
			     "worker %u: %lu re-sent, %lu duplicates, %lu dropped for lack of buffers", w[i].node,
			     (unsigned long)theirs[i].retransmits, (unsigned long)theirs[i].drop_duplicate,
			     (unsigned long)theirs[i].drop_no_buffer);
		cr_assert_eq(theirs[i].drop_malformed, 0);
		cr_assert_eq(theirs[i].drop_bad_key + theirs[i].drop_out_of_bounds + theirs[i].drop_no_access, 0);
	}
	fprintf(stderr, "memif: requests re-sent %lu, duplicates dropped %lu, workers dropped %lu+%lu for lack of mbufs\n",
		(unsigned long)mine.retransmits, (unsigned long)mine.drop_duplicate,
		(unsigned long)theirs[0].drop_no_buffer, (unsigned long)theirs[1].drop_no_buffer);
	uint64_t why[PN_DP_WHY_N];
	char whys[512] = "";
	cr_assert_eq(pn_dp_debug_why(ctx, why), 0);
	for (int k = 0, n = 0; k < PN_DP_WHY_N && n >= 0 && (size_t)n < sizeof whys; k++)
		if (why[k])
			n += snprintf(whys + n, sizeof whys - (size_t)n, " %s=%lu", pn_dp_why_name((enum pn_dp_why)k),
				      (unsigned long)why[k]);
	cr_assert_eq(mine.retransmits + mine.drop_duplicate + mine.drop_no_buffer, 0,
		     "memif is lossless: nothing may be re-sent or dropped, but:%s", whys);
	cr_assert_eq(mine.bytes_read, 2 * (w[0].size + w[1].size), "landed bytes counted once");
	cr_assert_eq(mine.reads_failed, 0);
	dpt_bye_all(ctx, w, 2);
	quiesce_and_check_pools(); /* also stops polling before the memif clients go */
	pn_tp_close(ctx);
	ctx = NULL;
	for (int i = 0; i < 2; i++) {
		int st = dpt_reap(&w[i], 20000);
		cr_assert_eq(st, 0, "worker %u failed: exit %d (see its stderr)", w[i].node, st);
	}
}

static void afpacket_options(char *agg, size_t alen, char *wrk, size_t wlen)
{
	const char *ifa = need_env("PN_DPT_IF_AGG"), *ifw = need_env("PN_DPT_IF_WORKER");
	/* qdisc_bypass=0: frames must pass the veth's qdisc, where netem sits */
	snprintf(agg, alen,
		 "vdev=net_af_packet0,iface=%s,blocksz=36864,framesz=9216,framecnt=1024,qdisc_bypass=0;"
		 "mem=in-memory;jumbo=on;ip=10.78.0.100;udp=7000;mbufs=16383", ifa);
	snprintf(wrk, wlen,
		 "vdev=net_af_packet0,iface=%s,blocksz=36864,framesz=9216,framecnt=1024,qdisc_bypass=0;"
		 "mem=no-huge:512;prefix=%s-afw;jumbo=on;ip=10.78.0.1;mbufs=16383", ifw, need_env("PN_DPT_TAG"));
}

TestSuite(dpdk_afpacket, .fini = teardown, .timeout = 200);

Test(dpdk_afpacket, pull_is_bit_exact_under_netem)
{
	char aopts[1024], wopts[1024], prefix[128];
	afpacket_options(aopts, sizeof aopts, wopts, sizeof wopts);
	snprintf(prefix, sizeof prefix, "ip netns exec %s", need_env("PN_DPT_NS_WORKER"));
	const char *lossy = getenv("PN_DPT_LOSSY");
	ctx = open_agg(aopts);
	struct dpt_worker w = {.node = 1, .seed = 33, .size = 16u << 20, .addr = "10.78.0.1:7001"};
	dpt_spawn(&w, prefix, wopts);
	dpt_connect_all(ctx, &w, 1);

	dpt_pull_all(ctx, &w, 1, 2);

	pn_tp_stats mine, theirs;
	pn_tp_get_stats(ctx, &mine);
	dpt_worker_stats(ctx, &w, &theirs);
	fprintf(stderr, "af_packet profile '%s': requests re-sent %lu, duplicates dropped %lu, worker served %lu bytes for %lu\n",
		    getenv("PN_DPT_PROFILE") ? getenv("PN_DPT_PROFILE") : "?", (unsigned long)mine.retransmits,
		(unsigned long)mine.drop_duplicate, (unsigned long)theirs.bytes_served, (unsigned long)(2 * w.size));
	cr_assert_eq(mine.bytes_read, 2 * w.size, "landed bytes counted once");
	cr_assert_eq(mine.reads_failed, 0);
	if (lossy && *lossy == '1')
		cr_assert_gt(mine.retransmits, 0, "netem drops frames, yet nothing was re-requested");
	dpt_bye_all(ctx, &w, 1);
	quiesce_and_check_pools();
	pn_tp_close(ctx);
	ctx = NULL;
	cr_assert_eq(dpt_reap(&w, 20000), 0, "worker failed (see its stderr)");
}

Test(dpdk_afpacket, killed_worker_fails_reads_with_timeout_then_peer_down)
{
	char aopts[1200], wopts[1024], prefix[128];
	afpacket_options(aopts, sizeof aopts - 100, wopts, sizeof wopts);
	strcat(aopts, ";rto_max_us=50000;retries=6");
	snprintf(prefix, sizeof prefix, "ip netns exec %s", need_env("PN_DPT_NS_WORKER"));
	ctx = open_agg(aopts);
	struct dpt_worker w = {.node = 1, .seed = 44, .size = 1u << 20, .addr = "10.78.0.1:7001"};
	dpt_spawn(&w, prefix, wopts);
	dpt_connect_all(ctx, &w, 1);
	dpt_pull_all(ctx, &w, 1, 1);
	kill(w.pid, SIGKILL);
	dpt_reap(&w, 5000);

	void *buf;
	pn_tp_mr *land;
	cr_assert_eq(pn_tp_alloc(ctx, w.size, PN_ACCESS_LOCAL_WRITE, &buf, &land), 0);
	cr_assert_eq(pn_tp_post_read(w.peer, land, 0, &w.desc, 0, w.size, 7), 0);
	int failed = 0, down = 0;
	while (!down) {
		pn_tp_completion c;
		cr_assert_eq(pn_tp_poll(ctx, &c, 1, 30000), 1, "the read hangs");
		if (c.event == PN_TP_READ_DONE) {
			cr_assert_eq(c.status, -ETIMEDOUT);
			cr_assert_eq(c.cookie, 7);
			failed++;
		} else if (c.event == PN_TP_PEER_DOWN) {
			cr_assert_eq(failed, 1, "PEER_DOWN before the read failed");
			down = 1;
		}
	}
	cr_assert_eq(pn_tp_post_read(w.peer, land, 0, &w.desc, 0, 10, 8), -ENOTCONN);
	cr_assert_eq(pn_tp_deregister(land), 0);
}
