/* In-process tests of the dpdk backend over net_ring: one port whose transmit ring is its
 * own receive ring, so the context connects to itself and serves its own READs through
 * the real frame path (headers + zero-copy payload segments, parser, responder,
 * requester, control channel). Malformed frames are injected on the wire. */
#include "pennant/transport.h"
#include "transport/auth.h"
#include "transport/dpdk/dpdk_debug.h"
#include "dp_test_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "dpdk-loop-secret"
#define SECRET_CFG .secret = SECRET, .secret_len = sizeof SECRET - 1
#define TIMEOUT_MS 10000

static pn_tp_ctx *ctx;
static pn_tp_peer *peer;

static void open_loop(const char *extra)
{
	char opts[512], err[512] = "";
	snprintf(opts, sizeof opts, "vdev=net_ring0;mem=no-huge:256;ip=10.9.0.1;udp=7000;%s", extra);
	pn_tp_config cfg = {.backend = "dpdk", .node_id = 3, SECRET_CFG, .options = opts};
	ctx = pn_tp_open(&cfg, err, sizeof err);
	cr_assert_not_null(ctx, "open failed: %s", err);
	cr_assert_eq(pn_tp_listen(ctx, "10.9.0.1:7000"), 0, "%s", pn_tp_errmsg(ctx));
	cr_assert_eq(pn_tp_connect(ctx, "10.9.0.1:7000", &peer, TIMEOUT_MS), 0, "%s", pn_tp_errmsg(ctx));
	pn_tp_peer *acc;
	cr_assert_eq(pn_tp_accept(ctx, &acc, TIMEOUT_MS), 0, "%s", pn_tp_errmsg(ctx));
	cr_assert_eq(pn_tp_peer_id(peer), 3);
}

static void setup(void) { open_loop(""); }
static void teardown(void)
{
	if (ctx)
		pn_tp_close(ctx);
	ctx = NULL;
}

static pn_tp_completion read_sync(pn_tp_mr *dst, size_t doff, const pn_mr_desc *src, uint64_t soff, size_t len)
{
	static uint64_t cookie = 100;
	uint64_t my = ++cookie;
	int rc = pn_tp_post_read(peer, dst, doff, src, soff, len, my);
	cr_assert_eq(rc, 0, "post_read: %s", pn_tp_errmsg(ctx));
	pn_tp_completion c;
	for (;;) {
		cr_assert_eq(dpt_wait(ctx, &c, TIMEOUT_MS), 1, "no completion within %d ms", TIMEOUT_MS);
		if (c.event == PN_TP_READ_DONE) {
			cr_assert_eq(c.cookie, my);
			return c;
		}
	}
}

/* n bytes each: a REMOTE_READ source (filled by dpt_fill with seed; seed < 0: left as
 * allocated) with its descriptor, and a LOCAL_WRITE destination. */
static void alloc_pair(size_t n, int seed, void **src, pn_tp_mr **smr, void **dst, pn_tp_mr **dmr, pn_mr_desc *d)
{
	cr_assert_eq(pn_tp_alloc(ctx, n, PN_ACCESS_REMOTE_READ, src, smr), 0, "%s", pn_tp_errmsg(ctx));
	cr_assert_eq(pn_tp_alloc(ctx, n, PN_ACCESS_LOCAL_WRITE, dst, dmr), 0, "%s", pn_tp_errmsg(ctx));
	if (seed >= 0)
		dpt_fill(*src, n, seed);
	pn_tp_mr_get_desc(*smr, d);
}

TestSuite(dpdk_loop, .init = setup, .fini = teardown, .timeout = 60);

Test(dpdk_loop, reads_are_bit_exact_at_any_size_and_offset)
{
	const size_t n = 3u << 20;
	void *src, *dst;
	pn_tp_mr *smr, *dmr;
	pn_mr_desc d;
	alloc_pair(n, 7, &src, &smr, &dst, &dmr, &d);
	size_t sizes[] = {1, 2, 1423, 1424, 1425, 4096, 65535, 65536, 100003, n - 17};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t soff = (i * 4099) % 17, doff = (i * 7) % 13;
		memset(dst, 0, n);
		pn_tp_completion c = read_sync(dmr, doff, &d, soff, sizes[i]);
		cr_assert_eq(c.status, 0, "size %zu: status %d", sizes[i], c.status);
		cr_assert_eq(c.len, sizes[i]);
		long bad = dpt_check((uint8_t *)dst + doff, sizes[i], 7, soff);
		cr_assert_eq(bad, -1, "size %zu: first wrong byte at %ld", sizes[i], bad);
		cr_assert_eq(((uint8_t *)dst)[doff + sizes[i]], 0, "wrote past the end");
	}
	pn_tp_stats st;
	pn_tp_get_stats(ctx, &st);
	cr_assert_eq(st.reads_completed, sizeof sizes / sizeof sizes[0]);
	cr_assert_eq(st.reads_failed, 0);
	cr_assert_eq(pn_tp_deregister(smr), 0);
	cr_assert_eq(pn_tp_deregister(dmr), 0);
}

Test(dpdk_loop, caller_memory_is_served_too)
{
	const size_t n = 200000;
	uint8_t *src = malloc(n), *dst = calloc(1, n);
	pn_tp_mr *smr, *dmr;
	cr_assert_eq(pn_tp_register(ctx, src, n, PN_ACCESS_REMOTE_READ, &smr), 0);
	cr_assert_eq(pn_tp_register(ctx, dst, n, PN_ACCESS_LOCAL_WRITE, &dmr), 0);
	dpt_fill(src, n, 99);
	pn_mr_desc d;
	pn_tp_mr_get_desc(smr, &d);
	pn_tp_completion c = read_sync(dmr, 0, &d, 0, n);
	cr_assert_eq(c.status, 0);
	cr_assert_eq(dpt_check(dst, n, 99, 0), -1);
	cr_assert_eq(pn_tp_deregister(smr), 0);
	cr_assert_eq(pn_tp_deregister(dmr), 0);
	free(src);
	free(dst);
}

Test(dpdk_loop, many_reads_in_flight_complete_once_each)
{
	const size_t n = 1u << 20, chunk = 8192;
	void *src, *dst;
	pn_tp_mr *smr, *dmr;
	pn_mr_desc d;
	alloc_pair(n, 5, &src, &smr, &dst, &dmr, &d);
	const int nreq = (int)(n / chunk);
	for (int i = 0; i < nreq; i++)
		cr_assert_eq(pn_tp_post_read(peer, dmr, (size_t)i * chunk, &d, (uint64_t)i * chunk, chunk, (uint64_t)i), 0);
	char *seen = calloc((size_t)nreq, 1);
	for (int got = 0; got < nreq;) {
		pn_tp_completion c[16];
		int k = pn_tp_poll(ctx, c, 16, TIMEOUT_MS);
		cr_assert_gt(k, 0, "stalled after %d of %d reads", got, nreq);
		for (int j = 0; j < k; j++) {
			cr_assert_eq(c[j].event, PN_TP_READ_DONE);
			cr_assert_eq(c[j].status, 0);
			cr_assert_lt(c[j].cookie, (uint64_t)nreq);
			cr_assert_eq(seen[c[j].cookie], 0, "cookie %lu completed twice", (unsigned long)c[j].cookie);
			seen[c[j].cookie] = 1;
			got++;
		}
	}
	cr_assert_eq(dpt_check(dst, n, 5, 0), -1);
	free(seen);
}

Test(dpdk_loop, control_messages_arrive_in_order)
{
	for (int i = 0; i < 200; i++) {
		char msg[64];
		int len = snprintf(msg, sizeof msg, "message %d", i);
		int rc;
		while ((rc = pn_tp_send_ctrl(peer, msg, (size_t)len + 1)) == -EAGAIN) {
			pn_tp_completion c;
			pn_tp_poll(ctx, &c, 1, 1); /* hold on to nothing: just let acks flow */
			cr_assert(0, "window full but we only have one sender");
		}
		cr_assert_eq(rc, 0, "%s", pn_tp_errmsg(ctx));
		pn_tp_completion c;
		cr_assert_eq(dpt_wait(ctx, &c, TIMEOUT_MS), 1);
		cr_assert_eq(c.event, PN_TP_CTRL_RECV);
		cr_assert_str_eq((const char *)c.data, msg);
		cr_assert_eq(c.len, (uint32_t)len + 1);
	}
	uint8_t big[PN_TP_CTRL_MAX + 1] = {0};
	cr_assert_eq(pn_tp_send_ctrl(peer, big, sizeof big), -EMSGSIZE);
	cr_assert_eq(pn_tp_send_ctrl(peer, big, PN_TP_CTRL_MAX), 0);
}

static uint64_t desc_check_read(const pn_mr_desc *d, pn_tp_mr *dmr, uint64_t off, size_t len)
{
	pn_tp_completion c = read_sync(dmr, 0, d, off, len);
	return (uint64_t)(int64_t)c.status;
}

Test(dpdk_loop, refused_reads_fail_and_are_counted)
{
	void *a, *b, *dst;
	pn_tp_mr *readable, *private_mr, *dmr;
	cr_assert_eq(pn_tp_alloc(ctx, 65536, PN_ACCESS_REMOTE_READ, &a, &readable), 0);
	cr_assert_eq(pn_tp_alloc(ctx, 65536, PN_ACCESS_LOCAL_WRITE, &b, &private_mr), 0);
	cr_assert_eq(pn_tp_alloc(ctx, 65536, PN_ACCESS_LOCAL_WRITE, &dst, &dmr), 0);
	pn_mr_desc good, priv, wrong_key, too_long;
	pn_tp_mr_get_desc(readable, &good);
	pn_tp_mr_get_desc(private_mr, &priv);
	priv.access |= PN_ACCESS_REMOTE_READ; /* a lying descriptor: the responder must still refuse */
	wrong_key = good;
	wrong_key.key ^= 0x40000;
	too_long = good;
	too_long.len = 1u << 20; /* claims more than was registered */

	cr_assert_eq((int)desc_check_read(&wrong_key, dmr, 0, 100), -ENOENT);
	cr_assert_eq((int)desc_check_read(&priv, dmr, 0, 100), -EACCES);
	cr_assert_eq((int)desc_check_read(&too_long, dmr, 65000, 1000), -EFAULT);
	cr_assert_eq((int)desc_check_read(&good, dmr, 1000, 1000), 0);

	pn_tp_stats st;
	pn_tp_get_stats(ctx, &st);
	cr_assert_eq(st.drop_bad_key, 1);
	cr_assert_eq(st.drop_no_access, 1);
	cr_assert_eq(st.drop_out_of_bounds, 1);
	cr_assert_eq(st.reads_failed, 3);
	cr_assert_eq(st.reads_completed, 1);
	/* local checks need no round trip */
	cr_assert_eq(pn_tp_post_read(peer, readable, 0, &good, 0, 10, 1), -EACCES);
	cr_assert_eq(pn_tp_post_read(peer, dmr, 65530, &good, 0, 10, 1), -ERANGE);
	cr_assert_eq(pn_tp_post_read(peer, dmr, 0, &good, 65530, 10, 1), -ERANGE);
}

/* Frame templates aimed at ourselves, as if sent by our connecting side (flag 1), with
 * its session tag. */
static struct pn_dp_addr self;
static uint64_t self_tag;
static struct pn_dp_hdr base_hdr(uint8_t type)
{
	struct pn_dp_hdr h = {.magic = PN_DP_MAGIC, .version = PN_DP_VERSION, .type = type,
			      .flags = 1, .tag = self_tag, .src_id = 3, .dst_id = 3};
	return h;
}
static void inject(const struct pn_dp_hdr *h, uint32_t payload, size_t cut)
{
	uint8_t f[PN_DP_ALL_HDRS + 2048] = {0};
	pn_dp_build(f, &self, h, payload);
	size_t len = PN_DP_ALL_HDRS + payload;
	cr_assert_eq(pn_dp_debug_inject(ctx, f, cut ? cut : len), 0);
}

Test(dpdk_loop, malformed_frames_are_dropped_counted_and_service_continues)
{
	cr_assert_eq(pn_dp_debug_self_addr(ctx, &self), 0);
	cr_assert_eq(pn_dp_debug_peer_tag(peer, &self_tag), 0);
	cr_assert_neq(self_tag, 0);
	void *src, *dst;
	pn_tp_mr *smr, *dmr;
	pn_mr_desc d;
	alloc_pair(100000, 3, &src, &smr, &dst, &dmr, &d);
	pn_tp_stats before;
	pn_tp_get_stats(ctx, &before);
	uint64_t why0[PN_DP_WHY_N], why1[PN_DP_WHY_N];
	cr_assert_eq(pn_dp_debug_why(ctx, why0), 0);

	struct pn_dp_hdr h;
	/* malformed: 6 frames */
	h = base_hdr(PN_DP_READ); h.key = d.key; h.length = 100; h.aux = 1024;
	inject(&h, 0, 40);                                  /* truncated inside UDP */
	inject(&h, 0, PN_DP_ALL_HDRS - 1);                  /* truncated inside our header */
	h.magic = 0xdeadbeef; inject(&h, 0, 0);             /* not ours */
	h = base_hdr(99); inject(&h, 0, 0);                 /* unknown type */
	h = base_hdr(PN_DP_DATA); h.length = 500; inject(&h, 100, 0); /* length lies */
	uint8_t garbage[300];
	dpt_fill(garbage, sizeof garbage, 11);
	cr_assert_eq(pn_dp_debug_inject(ctx, garbage, sizeof garbage), 0);
	/* well-formed but refused */
	h = base_hdr(PN_DP_READ); h.key = d.key; h.length = 100; h.aux = 1024;
	h.tag = self_tag + 1; inject(&h, 0, 0);             /* bad session tag */
	h.tag = self_tag; h.src_id = 77; inject(&h, 0, 0);  /* unknown peer */
	h.src_id = 3; h.key = d.key + (1u << 11); inject(&h, 0, 0);      /* wrong key */
	h.key = d.key; h.offset = 99950; inject(&h, 0, 0);  /* past the end */
	h = base_hdr(PN_DP_DATA); h.req_id = 12345ull << 20; h.length = 64; inject(&h, 64, 0); /* stale */

	/* the service keeps serving: a real read still works */
	pn_tp_completion c = read_sync(dmr, 0, &d, 0, 100000);
	cr_assert_eq(c.status, 0);
	cr_assert_eq(dpt_check(dst, 100000, 3, 0), -1);

	pn_tp_stats st;
	pn_tp_get_stats(ctx, &st);
	cr_assert_eq(st.drop_malformed - before.drop_malformed, 6);
	cr_assert_eq(st.drop_bad_token - before.drop_bad_token, 1);
	cr_assert_eq(st.drop_unknown_peer - before.drop_unknown_peer, 1);
	cr_assert_eq(st.drop_bad_key - before.drop_bad_key, 1);
	cr_assert_eq(st.drop_out_of_bounds - before.drop_out_of_bounds, 1);
	/* the stale DATA, plus the two ERROR replies our refusals provoked for unknown reads */
	cr_assert_geq(st.drop_duplicate - before.drop_duplicate, 1);
	/* ... and each is counted under its reason, which adds up to the public counter */
	cr_assert_eq(pn_dp_debug_why(ctx, why1), 0);
	cr_assert_geq(why1[PN_DP_WHY_DUP_STALE_DATA] - why0[PN_DP_WHY_DUP_STALE_DATA], 1);
	uint64_t dups = 0;
	for (int w = PN_DP_WHY_DUP_STALE_DATA; w <= PN_DP_WHY_DUP_HANDSHAKE; w++)
		dups += why1[w] - why0[w];
	cr_assert_eq(dups, st.drop_duplicate - before.drop_duplicate);
	cr_assert_str_eq(pn_dp_why_name(PN_DP_WHY_DUP_STALE_DATA), "dup_stale_data");
}

/* A requester that cannot prove the job secret is never accepted and never served: a
 * HELLO opens a half-open entry (not a peer), then a CONFIRM whose proof was made for
 * another listener nonce (a replayed or guessed one) is refused and counted; nothing
 * reaches accept, and a READ in its name is not served. */
static void inject_payload(const struct pn_dp_hdr *h, const void *data, uint32_t len)
{
	uint8_t f[PN_DP_ALL_HDRS + 256] = {0};
	pn_dp_build(f, &self, h, len);
	memcpy(f + PN_DP_ALL_HDRS, data, len);
	cr_assert_eq(pn_dp_debug_inject(ctx, f, PN_DP_ALL_HDRS + len), 0);
}

Test(dpdk_loop, unproven_requester_is_refused_and_never_accepted)
{
	cr_assert_eq(pn_dp_debug_self_addr(ctx, &self), 0);
	pn_tp_stats before;
	pn_tp_get_stats(ctx, &before);
	struct pn_auth_transcript t = {.label = "dpdk", .id_req = 5, .id_lis = 3};
	memset(t.nonce_req, 0x5a, sizeof t.nonce_req);
	memset(t.nonce_lis, 0, sizeof t.nonce_lis); /* not the nonce the listener draws */
	struct pn_dp_hdr h = {.magic = PN_DP_MAGIC, .version = PN_DP_VERSION, .type = PN_DP_HELLO, .flags = 1,
			      .src_id = 5, .dst_id = UINT32_MAX, .req_id = 0xabcdef, .length = PN_DP_HELLO_LEN};
	inject_payload(&h, t.nonce_req, PN_DP_HELLO_LEN);
	uint8_t proof[PN_DP_PROOF_LEN];
	cr_assert_eq(pn_auth_prove(ctx, PN_AUTH_REQUESTER, &t, proof), 0); /* right key, stale nonce */
	h.type = PN_DP_CONFIRM;
	h.dst_id = 3;
	h.length = PN_DP_CONFIRM_LEN;
	inject_payload(&h, proof, PN_DP_CONFIRM_LEN);
	h = (struct pn_dp_hdr){.magic = PN_DP_MAGIC, .version = PN_DP_VERSION, .type = PN_DP_READ, .flags = 1,
			       .src_id = 5, .dst_id = 3, .key = 1, .length = 64};
	inject_payload(&h, NULL, 0);
	pn_tp_peer *p = NULL;
	cr_assert_eq(pn_tp_accept(ctx, &p, 500), -ETIMEDOUT, "an unproven requester was accepted");
	cr_assert_null(p);
	pn_tp_stats st;
	pn_tp_get_stats(ctx, &st);
	cr_assert_eq(st.drop_bad_token - before.drop_bad_token, 1);
	cr_assert_eq(st.bytes_served, before.bytes_served);
	/* our own ACCEPT and refusal came back to us (no requester of ours waits for them),
	 * and the READ from node 5: no such peer */
	cr_assert_geq(st.drop_unknown_peer - before.drop_unknown_peer, 3);
	/* the real connection is untouched */
	cr_assert_eq(pn_tp_send_ctrl(peer, "x", 1), 0);
	pn_tp_completion c;
	cr_assert_eq(dpt_wait(ctx, &c, TIMEOUT_MS), 1);
	cr_assert_eq(c.event, PN_TP_CTRL_RECV);
}

TestSuite(dpdk_loop_silent, .fini = teardown, .timeout = 60);

Test(dpdk_loop_silent, silent_peer_fails_reads_with_timeout_then_peer_down)
{
	open_loop("rto_init_us=2000;rto_min_us=1000;rto_max_us=8000;retries=4");
	void *src, *dst;
	pn_tp_mr *smr, *dmr;
	pn_mr_desc d;
	alloc_pair(100000, -1, &src, &smr, &dst, &dmr, &d);
	cr_assert_eq(pn_dp_debug_mute_responder(ctx, 1), 0);
	cr_assert_eq(pn_tp_post_read(peer, dmr, 0, &d, 0, 50000, 1), 0);
	cr_assert_eq(pn_tp_post_read(peer, dmr, 50000, &d, 50000, 50000, 2), 0);
	pn_tp_completion c[4];
	int got_fail = 0, got_down = 0;
	while (!got_down) {
		int k = pn_tp_poll(ctx, c, 4, TIMEOUT_MS);
		cr_assert_gt(k, 0, "no completion: the read hangs");
		for (int i = 0; i < k; i++) {
			if (c[i].event == PN_TP_READ_DONE) {
				cr_assert_eq(c[i].status, -ETIMEDOUT);
				cr_assert_eq(got_down, 0, "read completed after PEER_DOWN");
				got_fail++;
			} else if (c[i].event == PN_TP_PEER_DOWN) {
				got_down++;
			}
		}
	}
	cr_assert_eq(got_fail, 2);
	cr_assert_eq(pn_tp_post_read(peer, dmr, 0, &d, 0, 10, 3), -ENOTCONN);
	pn_tp_stats st;
	pn_tp_get_stats(ctx, &st);
	cr_assert_gt(st.retransmits, 0);
}

Test(dpdk_loop, mempools_return_to_their_initial_counts)
{
	struct pn_dp_pool_counts p0, p1;
	cr_assert_eq(pn_dp_debug_pools(ctx, &p0), 0);
	const size_t n = 2u << 20;
	void *src, *dst;
	pn_tp_mr *smr, *dmr;
	pn_mr_desc d;
	alloc_pair(n, -1, &src, &smr, &dst, &dmr, &d);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(read_sync(dmr, 0, &d, 0, n).status, 0);
	cr_assert_eq(pn_tp_send_ctrl(peer, "x", 1), 0);
	pn_tp_completion c;
	cr_assert_eq(dpt_wait(ctx, &c, TIMEOUT_MS), 1);
	/* acks may still be in flight for a moment; the pools must settle back */
	for (int i = 0; i < 200; i++) {
		pn_dp_debug_pools(ctx, &p1);
		if (p1.pkt_avail == p0.pkt_avail && p1.ext_avail == p0.ext_avail)
			break;
		pn_tp_poll(ctx, &c, 1, 10);
	}
	cr_assert_eq(p1.pkt_avail, p0.pkt_avail, "packet mbufs leaked: %u -> %u", p0.pkt_avail, p1.pkt_avail);
	cr_assert_eq(p1.ext_avail, p0.ext_avail, "payload mbufs leaked: %u -> %u", p0.ext_avail, p1.ext_avail);
	/* and once the port is stopped, every mbuf is home */
	cr_assert_eq(pn_dp_debug_quiesce(ctx, &p1), 0);
	cr_assert_eq(p1.pkt_avail, p1.pkt_size);
	cr_assert_eq(p1.ext_avail, p1.ext_size);
}

TestSuite(dpdk_loop_cap, .fini = teardown, .timeout = 60);

Test(dpdk_loop_cap, max_reads_in_flight_gives_eagain_until_a_read_completes)
{
	char err[512] = "";
	pn_tp_config cfg = {.backend = "dpdk", .node_id = 3, SECRET_CFG, .max_reads_in_flight = 4,
			    .options = "vdev=net_ring0;mem=no-huge:256;ip=10.9.0.1;udp=7000"};
	ctx = pn_tp_open(&cfg, err, sizeof err);
	cr_assert_not_null(ctx, "%s", err);
	cr_assert_eq(pn_tp_listen(ctx, "10.9.0.1:7000"), 0);
	cr_assert_eq(pn_tp_connect(ctx, "10.9.0.1:7000", &peer, TIMEOUT_MS), 0, "%s", pn_tp_errmsg(ctx));
	void *src, *dst;
	pn_tp_mr *smr, *dmr;
	pn_mr_desc d;
	alloc_pair(1 << 20, -1, &src, &smr, &dst, &dmr, &d);
	cr_assert_eq(pn_dp_debug_mute_responder(ctx, 1), 0); /* nothing completes meanwhile */
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pn_tp_post_read(peer, dmr, 0, &d, 0, 1000, (uint64_t)i), 0);
	cr_assert_eq(pn_tp_post_read(peer, dmr, 0, &d, 0, 1000, 4), -EAGAIN);
	cr_assert_eq(pn_dp_debug_mute_responder(ctx, 0), 0); /* re-requests now get answered */
	pn_tp_completion c;
	cr_assert_eq(dpt_wait(ctx, &c, TIMEOUT_MS), 1);
	cr_assert_eq(c.event, PN_TP_READ_DONE);
	cr_assert_eq(c.status, 0);
	cr_assert_eq(pn_tp_post_read(peer, dmr, 0, &d, 0, 1000, 5), 0);
}

Test(dpdk_options, bad_options_fail_open_with_a_reason)
{
	static const struct { const char *opts, *want; } cases[] = {
		{"mem=in-memory", "vdev=... is required"},
		{"vdev=net_ring0;bogus=1", "unknown option 'bogus'"},
		{"vdev=net_ring0;udp=70000", "bad value '70000'"},
		{"vdev=net_ring0;ip=10.0.0", "bad value '10.0.0'"},
		{"vdev=net_memif0,role=server;jumbo=on", "bsize"},
		{"vdev=net_ring0;rto_min_us=900000", "rto_min_us"},
		{"vdev=net_nosuchdriver0;mem=no-huge:64", "rte_eal_init failed"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[512] = "";
		pn_tp_config cfg = {.backend = "dpdk", .node_id = 1, SECRET_CFG, .options = cases[i].opts};
		pn_tp_ctx *c = pn_tp_open(&cfg, err, sizeof err);
		cr_assert_null(c, "'%s' opened", cases[i].opts);
		cr_assert(strstr(err, cases[i].want), "'%s': message '%s' lacks '%s'", cases[i].opts, err, cases[i].want);
	}
}

/* A vdev whose probe fails does not fail EAL init: the port count catches it. (Own test:
 * the EAL can be initialised once per process, and Criterion forks one per test.) */
Test(dpdk_options, failed_vdev_probe_is_reported)
{
	char err[512] = "";
	pn_tp_config cfg = {.backend = "dpdk", .node_id = 1, SECRET_CFG,
			    .options = "vdev=net_af_packet0,iface=pn-no-such-if;mem=no-huge:64"};
	pn_tp_ctx *c = pn_tp_open(&cfg, err, sizeof err);
	cr_assert_null(c);
	cr_assert(strstr(err, "0 port(s) probed"), "message: %s", err);
}
