/* Conformance: one-sided reads land bit-exact, at every size, many at once, from several
 * peers, and in both directions. */
#include "harness.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1024u * 1024u)

/* Post, retrying after draining one completion into done[] when the queue is full. */
static void post_or_drain(struct conf_job *job, uint32_t rank, pn_tp_mr *lmr, size_t loff,
			  const pn_mr_desc *d, uint64_t roff, size_t len, uint64_t cookie,
			  int *done, int ndone)
{
	for (;;) {
		int rc = pn_tp_post_read(job->peer[rank], lmr, loff, d, roff, len, cookie);
		if (rc == 0)
			return;
		cr_assert_eq(rc, -EAGAIN, "post_read: %s", pn_tp_errmsg(job->ctx));
		pn_tp_completion c;
		conf_poll_one(job->ctx, &c);
		cr_assert_eq(c.event, PN_TP_READ_DONE);
		cr_assert_eq(c.status, 0, "read %llu failed: %d", (unsigned long long)c.cookie, c.status);
		cr_assert(c.cookie < (uint64_t)ndone && done[c.cookie] == 0, "bad or repeated cookie");
		done[c.cookie] = 1;
	}
}

static void drain_all(struct conf_job *job, int *done, int ndone)
{
	for (;;) {
		int missing = 0;
		for (int i = 0; i < ndone; i++)
			missing += !done[i];
		if (!missing)
			return;
		pn_tp_completion c;
		conf_poll_one(job->ctx, &c);
		cr_assert_eq(c.event, PN_TP_READ_DONE, "event %d", c.event);
		cr_assert_eq(c.status, 0, "read %llu failed: %d", (unsigned long long)c.cookie, c.status);
		cr_assert(c.cookie < (uint64_t)ndone && done[c.cookie] == 0, "bad or repeated cookie");
		done[c.cookie] = 1;
	}
}

Test(reads, every_power_of_two_from_1B_to_64MiB, .timeout = 120)
{
	const size_t region = 64 * MiB;
	struct conf_target_spec spec = { .len = region };
	struct conf_job job;
	pn_tp_mr *lmr;
	void *land = conf_start_reader(&job, 1, &spec, region + 2, &lmr);
	uint8_t *l = land;
	uint64_t rng = conf_seed();
	for (int k = 0; k <= 26; k++) {
		size_t size = (size_t)1 << k;
		uint64_t roff = conf_rand(&rng) % (region - size + 1);
		size_t loff = 1 + conf_rand(&rng) % (region - size + 1);
		l[loff - 1] = 0x11;
		l[loff + size] = 0x22;
		cr_assert_eq(pn_tp_post_read(job.peer[1], lmr, loff, &job.desc[1][0], roff, size, (uint64_t)k), 0,
			     "%s", pn_tp_errmsg(job.ctx));
		cr_assert_eq(conf_wait_read(job.ctx, (uint64_t)k), 0, "size %zu failed", size);
		size_t bad = pattern_check(l + loff, size, 1, roff);
		cr_assert_eq(bad, SIZE_MAX, "size %zu at remote %llu: byte %zu differs", size,
			     (unsigned long long)roff, bad);
		cr_assert_eq(l[loff - 1], 0x11, "size %zu wrote before its landing area", size);
		cr_assert_eq(l[loff + size], 0x22, "size %zu wrote past its landing area", size);
	}
	pn_tp_stats st;
	pn_tp_get_stats(job.ctx, &st);
	cr_assert_eq(st.bytes_read, (1ull << 27) - 1);
	pn_tp_deregister(lmr);
	conf_finish(&job);
}

/* n reads of 1..max_size bytes at random offsets of one peer's region, all outstanding
 * at once (as far as the backend takes them), each into its own slot of the landing
 * region (at a random place in the slot when place_randomly); every byte is checked. */
static void random_reads(size_t region, size_t slot, int n, size_t max_size, uint64_t seed,
			 bool place_randomly)
{
	struct conf_target_spec spec = { .len = region };
	struct conf_job job;
	pn_tp_mr *lmr;
	void *land = conf_start_reader(&job, 1, &spec, slot * (size_t)n, &lmr);
	uint64_t rng = conf_seed() ^ seed;
	size_t *size = calloc((size_t)n, sizeof *size), *loff = calloc((size_t)n, sizeof *loff);
	uint64_t *roff = calloc((size_t)n, sizeof *roff);
	int *done = calloc((size_t)n, sizeof *done);
	cr_assert(size && loff && roff && done);
	for (int i = 0; i < n; i++) {
		size[i] = 1 + conf_rand(&rng) % max_size;
		roff[i] = conf_rand(&rng) % (region - size[i] + 1);
		loff[i] = (size_t)i * slot + (place_randomly ? conf_rand(&rng) % (slot - size[i] + 1) : 0);
		post_or_drain(&job, 1, lmr, loff[i], &job.desc[1][0], roff[i], size[i], (uint64_t)i, done, n);
	}
	drain_all(&job, done, n);
	for (int i = 0; i < n; i++)
		cr_assert_eq(pattern_check((uint8_t *)land + loff[i], size[i], 1, roff[i]), SIZE_MAX,
			     "read %d (%zu bytes at %llu) differs", i, size[i], (unsigned long long)roff[i]);
	pn_tp_stats st;
	pn_tp_get_stats(job.ctx, &st);
	cr_assert_eq(st.reads_posted, (uint64_t)n);
	cr_assert_eq(st.reads_completed, (uint64_t)n);
	free(size), free(loff), free(roff), free(done);
	pn_tp_deregister(lmr);
	conf_finish(&job);
}

Test(reads, odd_sizes_at_random_offsets_concurrently, .timeout = 60)
{
	/* odd sizes, several pieces each */
	random_reads(8 * MiB, 3 * MiB + 4096, 24, 3 * MiB, 0x0dd, true);
}

Test(reads, many_outstanding_to_one_peer, .timeout = 60)
{
	random_reads(4 * MiB, 4096, 3000, 4096, 0x3a, false);
}

Test(reads, three_peers_at_once, .timeout = 60)
{
	enum { PEERS = 3, CHUNK = 64 * 1024 };
	const size_t region = 4 * MiB;
	const int chunks = (int)(region / CHUNK);
	struct conf_target_spec spec = { .len = region };
	struct conf_job job;
	pn_tp_mr *lmr;
	void *land = conf_start_reader(&job, PEERS, &spec, region * PEERS, &lmr);
	int n = chunks * PEERS;
	int *done = calloc((size_t)n, sizeof(int));
	/* Round-robin over peers so all three streams are in flight together. */
	for (int c = 0; c < chunks; c++)
		for (int r = 1; r <= PEERS; r++) {
			uint64_t cookie = (uint64_t)((r - 1) * chunks + c);
			post_or_drain(&job, (uint32_t)r, lmr, (size_t)(r - 1) * region + (size_t)c * CHUNK,
				      &job.desc[r][0], (uint64_t)c * CHUNK, CHUNK, cookie, done, n);
		}
	drain_all(&job, done, n);
	for (int r = 1; r <= PEERS; r++)
		cr_assert_eq(pattern_check((uint8_t *)land + (size_t)(r - 1) * region, region, (uint64_t)r, 0),
			     SIZE_MAX, "data from rank %d differs", r);
	free(done);
	pn_tp_deregister(lmr);
	conf_finish(&job);
}

Test(reads, target_reads_back_from_rank0, .timeout = 60)
{
	struct conf_target_spec spec = { .len = 4096 };
	struct conf_job job;
	conf_start_targets(&job, 1, &spec);
	const size_t len = MiB + 13;
	void *buf;
	pn_tp_mr *mr;
	cr_assert_eq(pn_tp_alloc(job.ctx, len, PN_ACCESS_REMOTE_READ, &buf, &mr), 0);
	pattern_fill(buf, len, 0, 0);
	uint8_t msg[1 + PN_MR_DESC_WIRE_SIZE] = { MSG_READ_BACK };
	pn_mr_desc d;
	pn_tp_mr_get_desc(mr, &d);
	pn_mr_desc_pack(&d, msg + 1);
	conf_send(job.peer[1], msg, sizeof(msg));
	pn_tp_completion c;
	conf_poll_one(job.ctx, &c);
	cr_assert_eq(c.event, PN_TP_CTRL_RECV);
	const uint8_t *m = c.data;
	cr_assert(c.len == 6 && m[0] == MSG_READ_RESULT);
	int32_t st;
	memcpy(&st, m + 1, 4);
	cr_assert_eq(st, 0, "target's read of rank 0 failed: %d", st);
	cr_assert_eq(m[5], 1, "target read wrong bytes from rank 0");
	pn_tp_stats s;
	pn_tp_get_stats(job.ctx, &s);
	if (conf_responder_is_cpu())
		cr_assert_eq(s.bytes_served, len);
	pn_tp_deregister(mr);
	conf_finish(&job);
}
