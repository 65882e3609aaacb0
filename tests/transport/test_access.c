/* Conformance: access rules with a live peer. The core refuses what it can see locally;
 * the target refuses forged descriptors (wrong key, no REMOTE_READ, out of bounds) and
 * nothing lands in the reader's buffer. */
#include "harness.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define REGION (64 * 1024)
#define POISON 0xa5

static const struct conf_target_spec spec = { .len = REGION, .no_access_len = 4096 };

Test(access, core_rejects_bad_arguments_with_a_peer, .timeout = 60)
{
	struct conf_job job;
	conf_start_targets(&job, 1, &spec);
	pn_tp_ctx *ctx = job.ctx;
	pn_tp_peer *peer = job.peer[1];
	void *land, *ro;
	pn_tp_mr *lmr, *romr;
	cr_assert_eq(pn_tp_alloc(ctx, REGION, PN_ACCESS_LOCAL_WRITE, &land, &lmr), 0);
	cr_assert_eq(pn_tp_alloc(ctx, REGION, PN_ACCESS_REMOTE_READ, &ro, &romr), 0);
	const pn_mr_desc *good = &job.desc[1][0], *noread = &job.desc[1][1];
	cr_assert(good->access & PN_ACCESS_REMOTE_READ);
	cr_assert(!(noread->access & PN_ACCESS_REMOTE_READ));
	cr_assert_eq(good->owner, 1);
	cr_assert_eq(good->len, REGION);

	cr_assert_eq(pn_tp_post_read(peer, NULL, 0, good, 0, 8, 1), -EINVAL);
	cr_assert_eq(pn_tp_post_read(peer, lmr, 0, NULL, 0, 8, 1), -EINVAL);
	cr_assert_eq(pn_tp_post_read(peer, lmr, 0, good, 0, 0, 1), -EINVAL, "zero length");
	cr_assert_eq(pn_tp_post_read(peer, romr, 0, good, 0, 8, 1), -EACCES, "landing lacks LOCAL_WRITE");
	cr_assert_eq(pn_tp_post_read(peer, lmr, REGION - 10, good, 0, 20, 1), -ERANGE, "local overflow");
	cr_assert_eq(pn_tp_post_read(peer, lmr, (size_t)REGION + 1, good, 0, 1, 1), -ERANGE);
	cr_assert_eq(pn_tp_post_read(peer, lmr, 0, noread, 0, 8, 1), -EACCES, "remote not REMOTE_READ");
	cr_assert_eq(pn_tp_post_read(peer, lmr, 0, good, REGION - 4, 8, 1), -ERANGE, "remote overflow");
	cr_assert_eq(pn_tp_post_read(peer, lmr, 0, good, UINT64_MAX - 1, 4, 1), -ERANGE, "offset wraps");
	pn_mr_desc other = *good;
	other.owner = 5;
	cr_assert_eq(pn_tp_post_read(peer, lmr, 0, &other, 0, 8, 1), -EINVAL, "desc of another node");

	uint8_t big[PN_TP_CTRL_MAX + 1];
	memset(big, MSG_ECHO, sizeof(big));
	cr_assert_eq(pn_tp_send_ctrl(peer, big, sizeof(big)), -EMSGSIZE);
	cr_assert_eq(pn_tp_send_ctrl(peer, big, 0), -EINVAL);
	cr_assert_eq(pn_tp_send_ctrl(peer, NULL, 4), -EINVAL);
	/* The largest legal message goes through and comes back intact. */
	conf_send(peer, big, PN_TP_CTRL_MAX);
	pn_tp_completion c;
	conf_poll_one(ctx, &c);
	cr_assert_eq(c.event, PN_TP_CTRL_RECV);
	cr_assert_eq(c.len, PN_TP_CTRL_MAX);
	cr_assert(memcmp(c.data, big, PN_TP_CTRL_MAX) == 0);

	pn_tp_stats st;
	pn_tp_get_stats(ctx, &st);
	cr_assert_eq(st.reads_posted, 0, "rejected posts must not count as posted");
	cr_assert_eq(pn_tp_deregister(romr), 0);
	cr_assert_eq(pn_tp_deregister(lmr), 0);
	conf_finish(&job);
}

enum forgery { FORGE_KEY, FORGE_ACCESS, FORGE_LEN_BEYOND, FORGE_LEN_STRADDLE };

/* Read with a forged descriptor; the target must refuse, nothing may land, and (when the
 * responder is the CPU) the target counts one drop in the counter at drop_off and serves
 * no byte. */
static void refused_read(enum forgery f, size_t drop_off)
{
	pn_tp_stats target_before = { 0 }, target_after = { 0 };
	struct conf_job job;
	pn_tp_mr *lmr;
	void *land = conf_start_reader(&job, 1, &spec, REGION, &lmr);
	pn_tp_ctx *ctx = job.ctx;
	memset(land, POISON, REGION);
	pn_mr_desc d = job.desc[1][0];
	uint64_t off = 0;
	size_t len = 4096;
	switch (f) {
	case FORGE_KEY:
		d.key ^= 0x5a5a5a5au;
		break;
	case FORGE_ACCESS:
		d = job.desc[1][1];
		d.access |= PN_ACCESS_REMOTE_READ;
		break;
	case FORGE_LEN_BEYOND:
		d.len *= 2;
		off = REGION;
		break;
	case FORGE_LEN_STRADDLE:
		d.len *= 2;
		off = REGION - 100;
		len = 200;
		break;
	}
	if (conf_responder_is_cpu())
		conf_target_stats(&job, 1, &target_before);
	cr_assert_eq(pn_tp_post_read(job.peer[1], lmr, 0, &d, off, len, 42), 0, "%s", pn_tp_errmsg(ctx));
	int st = conf_wait_read(ctx, 42);
	cr_assert_lt(st, 0, "forged read (%d) was not refused", f);
	for (size_t i = 0; i < REGION; i++)
		cr_assert_eq(((uint8_t *)land)[i], POISON, "byte %zu landed from a refused read", i);
	if (conf_responder_is_cpu()) {
		conf_target_stats(&job, 1, &target_after);
		uint64_t before, after;
		memcpy(&before, (const char *)&target_before + drop_off, sizeof before);
		memcpy(&after, (const char *)&target_after + drop_off, sizeof after);
		cr_assert_eq(after - before, 1, "forged read (%d) not counted as dropped", f);
		cr_assert_eq(target_after.bytes_served, target_before.bytes_served,
			     "refused bytes counted as served");
	}
	pn_tp_stats mine;
	pn_tp_get_stats(ctx, &mine);
	cr_assert_eq(mine.reads_failed, 1);
	cr_assert_eq(mine.bytes_read, 0);
	pn_tp_deregister(lmr);
	conf_finish(&job);
}

Test(access, target_refuses_wrong_key, .timeout = 60)
{
	refused_read(FORGE_KEY, offsetof(pn_tp_stats, drop_bad_key));
}

Test(access, target_refuses_region_without_remote_read, .timeout = 60)
{
	refused_read(FORGE_ACCESS, offsetof(pn_tp_stats, drop_no_access));
}

Test(access, target_refuses_offset_beyond_region, .timeout = 60)
{
	refused_read(FORGE_LEN_BEYOND, offsetof(pn_tp_stats, drop_out_of_bounds));
}

Test(access, target_refuses_read_straddling_region_end, .timeout = 60)
{
	refused_read(FORGE_LEN_STRADDLE, offsetof(pn_tp_stats, drop_out_of_bounds));
}

/* See README.md: a backend whose connection cannot survive a refused read (verbs RC
 * QPs enter the error state) must reconnect transparently to pass this. */
Test(access, peer_survives_refused_read, .timeout = 60)
{
	struct conf_job job;
	pn_tp_mr *lmr;
	void *land = conf_start_reader(&job, 1, &spec, REGION, &lmr);
	pn_tp_ctx *ctx = job.ctx;
	pn_mr_desc bad = job.desc[1][0];
	bad.key ^= 1;
	cr_assert_eq(pn_tp_post_read(job.peer[1], lmr, 0, &bad, 0, 64, 1), 0);
	cr_assert_lt(conf_wait_read(ctx, 1), 0);
	cr_assert_eq(pn_tp_post_read(job.peer[1], lmr, 0, &job.desc[1][0], 0, REGION, 2), 0, "%s",
		     pn_tp_errmsg(ctx));
	cr_assert_eq(conf_wait_read(ctx, 2), 0);
	cr_assert_eq(pattern_check(land, REGION, 1, 0), SIZE_MAX);
	pn_tp_deregister(lmr);
	conf_finish(&job);
}
