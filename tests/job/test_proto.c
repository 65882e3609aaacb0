/* The job protocol's parser takes untrusted peer bytes: every message round-trips, and
 * anything truncated, padded, of an unknown type or version, or with a field out of its
 * range is -EBADMSG (never a crash, never accepted). */
#include "job/proto.h"
#include "pennant/shard.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

static pn_mr_desc region(void)
{
	return (pn_mr_desc){.addr = 4096, .len = 1 << 20, .key = 7, .owner = 1, .access = PN_ACCESS_REMOTE_READ};
}

static pn_job_msg hello(void)
{
	return (pn_job_msg){.type = PN_MSG_HELLO, .rank = 3, .d = 1000, .region = region()};
}

/* A worker exposing bf16 gradients says so in HELLO. */
static pn_job_msg hello_bf16(void)
{
	pn_job_msg m = hello();
	m.grad_dtype = PN_DTYPE_BF16;
	return m;
}

static pn_job_msg welcome(void)
{
	return (pn_job_msg){.type = PN_MSG_WELCOME, .n = 6, .d = 1000, .region = region(),
			    .heartbeat_ms = 1000, .silence_ms = 5000, .shards = 1, .hi = 1000, .comm_dim = 1};
}

/* WELCOME of a comm-efficient job: the worker rebuilds the code from these. */
static pn_job_msg welcome_comm(void)
{
	pn_job_msg m = welcome();
	m.comm_dim = 3, m.code_s = 2, m.code_seed = 7, m.code_check = 0xfeedu;
	return m;
}

/* Between shards: shard 2 of 4 (coordinates [500, 750)) joins shard 0, which answers
 * (no comm-efficient code between shards: those fields are zero). */
static pn_job_msg shard_hello(void)
{
	pn_job_msg m = welcome();
	m.type = PN_MSG_SHARD_HELLO;
	m.comm_dim = 0;
	m.shard = 2, m.shards = 4, m.lo = 500, m.hi = 750;
	m.result = region();
	return m;
}

static pn_job_msg shard_welcome(void)
{
	pn_job_msg m = welcome();
	m.type = PN_MSG_SHARD_WELCOME;
	m.comm_dim = 0;
	m.shards = 4, m.hi = 250;
	return m;
}

static pn_job_msg facts_msg(void)
{
	return (pn_job_msg){.type = PN_MSG_FACTS, .round = 7, .slot = 1};
}

static pn_job_msg shard_done(void)
{
	return (pn_job_msg){.type = PN_MSG_SHARD_DONE, .round = 20, .slot = 0, .bytes = 123456};
}

static pn_job_msg lost_stop(void)
{
	return (pn_job_msg){.type = PN_MSG_STOP, .status = -ECONNRESET, .shard = 3};
}

static pn_job_msg round_msg(void)
{
	pn_job_msg m = {.type = PN_MSG_ROUND, .round = 12, .slot = 0, .nparts = 2};
	m.parts[0] = 4, m.coefs[0] = 1.0, m.parts[1] = 5, m.coefs[1] = -0.5;
	return m;
}

/* WELCOME of an aggregator serving gradients: it names its result region too. */
static pn_job_msg welcome_gradient(void)
{
	pn_job_msg m = welcome();
	m.serve = PN_SERVE_GRADIENT;
	m.result = region();
	m.result.key = 9;
	return m;
}

static pn_job_msg result_msg(void)
{
	return (pn_job_msg){.type = PN_MSG_RESULT, .round = 13, .slot = 1, .checksum = 0x1234567890abcdefu};
}

static pn_job_msg ack_msg(void)
{
	return (pn_job_msg){.type = PN_MSG_RESULT_ACK, .round = 13};
}

static pn_job_msg ready(void)
{
	return (pn_job_msg){.type = PN_MSG_READY, .round = 12, .slot = 0, .status = 0, .loss = 0.7,
			    .compute_s = 0.01};
}

/* A sum node's completed prefix of round 13's slot 1, before its READY. */
static pn_job_msg progress_msg(void)
{
	return (pn_job_msg){.type = PN_MSG_PROGRESS, .round = 13, .slot = 1, .d = 65536};
}

/* A robust node's verdict on its children 8..11 (full: PN_JOB_MAX_PARTS of them fit). */
static pn_job_msg node_report(void)
{
	pn_job_msg m = {.type = PN_MSG_NODE_REPORT, .round = 9, .rank = 8, .nparts = 4};
	m.parts[0] = PN_AGG_USED, m.coefs[0] = 0.25, m.parts[1] = PN_AGG_NONFINITE, m.coefs[1] = INFINITY;
	m.parts[2] = PN_AGG_USED, m.coefs[2] = 3.5, m.parts[3] = PN_AGG_EXCLUDED, m.coefs[3] = INFINITY;
	return m;
}

static pn_job_msg node_report_full(void)
{
	pn_job_msg m = {.type = PN_MSG_NODE_REPORT, .round = 1, .rank = PN_JOB_MAX_WORKERS - PN_JOB_MAX_PARTS,
			.nparts = PN_JOB_MAX_PARTS};
	for (int k = 0; k < PN_JOB_MAX_PARTS; k++)
		m.coefs[k] = k * 1e30;
	return m;
}

static int roundtrip(const pn_job_msg *m)
{
	uint8_t buf[PN_TP_CTRL_MAX];
	pn_job_msg out;
	size_t len = pn_job_msg_pack(m, buf);
	cr_assert_leq(len, PN_TP_CTRL_MAX);
	return pn_job_msg_unpack(buf, len, &out);
}

Test(job_proto, every_type_round_trips)
{
	pn_job_msg ms[] = {hello(), hello_bf16(), welcome(), round_msg(), ready(), {.type = PN_MSG_STOP},
			   {.type = PN_MSG_PING}, welcome_gradient(), welcome_comm(), result_msg(), ack_msg(),
			   {.type = PN_MSG_RESULT, .round = 4, .slot = 0, .skipped = true},
			   shard_hello(), shard_welcome(), facts_msg(), shard_done(), lost_stop(),
			   {.type = PN_MSG_DECISION, .round = 2, .slot = 0}, node_report(), node_report_full(),
			   progress_msg(), {.type = PN_MSG_PROGRESS, .round = 0, .slot = 0, .d = 0}};
	for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
		uint8_t buf[PN_TP_CTRL_MAX];
		size_t len = pn_job_msg_pack(&ms[i], buf);
		pn_job_msg out;
		cr_assert_eq(pn_job_msg_unpack(buf, len, &out), 0, "type %d", ms[i].type);
		cr_expect_eq(out.type, ms[i].type);
		cr_expect_eq(out.round, ms[i].round);
		cr_expect_eq(out.rank, ms[i].rank);
		cr_expect_eq(out.n, ms[i].n);
		cr_expect_eq(out.d, ms[i].d);
		cr_expect_eq(out.nparts, ms[i].nparts);
		cr_expect_eq(out.heartbeat_ms, ms[i].heartbeat_ms);
		cr_expect_eq(out.silence_ms, ms[i].silence_ms);
		cr_expect_eq(memcmp(&out.region, &ms[i].region, sizeof out.region), 0);
		cr_expect_eq(memcmp(&out.result, &ms[i].result, sizeof out.result), 0);
		cr_expect_eq(out.serve, ms[i].serve);
		cr_expect_eq(out.grad_dtype, ms[i].grad_dtype);
		cr_expect_eq(out.skipped, ms[i].skipped);
		cr_expect_eq(out.checksum, ms[i].checksum);
		cr_expect_eq(out.comm_dim, ms[i].comm_dim);
		cr_expect_eq(out.code_s, ms[i].code_s);
		cr_expect_eq(out.code_seed, ms[i].code_seed);
		cr_expect_eq(out.code_check, ms[i].code_check);
		cr_expect_eq(out.slot, ms[i].slot);
		cr_expect(out.shard == ms[i].shard && out.shards == ms[i].shards && out.lo == ms[i].lo &&
			  out.hi == ms[i].hi && out.bytes == ms[i].bytes && out.status == ms[i].status,
			  "type %d: the shard fields", ms[i].type);
		for (int k = 0; k < out.nparts; k++)
			cr_expect(out.parts[k] == ms[i].parts[k] && out.coefs[k] == ms[i].coefs[k]);
	}
}

Test(job_proto, truncated_padded_unknown_or_wrong_version_is_refused)
{
	pn_job_msg ms[] = {hello(), welcome(), round_msg(), ready(), {.type = PN_MSG_STOP},
			   welcome_gradient(), result_msg(), ack_msg(), shard_hello(), shard_welcome(),
			   facts_msg(), shard_done(), lost_stop(), progress_msg()};
	for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
		uint8_t buf[PN_TP_CTRL_MAX + 1];
		size_t len = pn_job_msg_pack(&ms[i], buf);
		pn_job_msg out;
		for (size_t cut = 0; cut < len; cut++)
			cr_expect_eq(pn_job_msg_unpack(buf, cut, &out), -EBADMSG, "type %d cut at %zu",
				     ms[i].type, cut);
		buf[len] = 0;
		cr_expect_eq(pn_job_msg_unpack(buf, len + 1, &out), -EBADMSG, "padded");
		buf[1] = PN_JOB_PROTO_VERSION + 1;
		cr_expect_eq(pn_job_msg_unpack(buf, len, &out), -EBADMSG, "version");
	}
	uint8_t bad[2] = {0, PN_JOB_PROTO_VERSION};
	pn_job_msg out;
	for (int t = 0; t < 256; t++) {
		bad[0] = (uint8_t)t;
		if (t != PN_MSG_PING)
			cr_expect_eq(pn_job_msg_unpack(bad, 2, &out), -EBADMSG, "type %d", t);
	}
	cr_expect_eq(pn_job_msg_unpack(NULL, 0, &out), -EBADMSG);
}

/* Each field pushed out of its range, one at a time, on an otherwise valid message. */
Test(job_proto, every_field_out_of_range_is_refused)
{
	pn_job_msg m;
	cr_assert_eq(roundtrip(&(pn_job_msg){.type = PN_MSG_HELLO, .rank = 0, .d = 1, .region = region()}), 0);
#define BAD(base, field, value)                                                          \
	do {                                                                             \
		m = base();                                                              \
		m.field = value;                                                         \
		cr_expect_eq(roundtrip(&m), -EBADMSG, #base ": " #field " = " #value);  \
	} while (0)
	BAD(hello, rank, PN_JOB_MAX_WORKERS);
	BAD(hello, rank, UINT32_MAX);
	BAD(hello, n, 3); /* only WELCOME carries n */
	BAD(hello, d, 0);
	BAD(hello, d, UINT64_MAX);
	BAD(hello, region.len, 0);
	BAD(hello, region.addr, UINT64_MAX - 10); /* wraps around */
	BAD(hello, region.access, PN_ACCESS_LOCAL_WRITE); /* not readable */
	BAD(hello, region.access, PN_ACCESS_REMOTE_READ | 1u << 9); /* unknown bit */
	BAD(hello, grad_dtype, PN_DTYPE_COUNT_);
	BAD(hello, grad_dtype, 255);
	BAD(welcome, rank, 1);
	BAD(welcome, n, 0);
	BAD(welcome, n, PN_JOB_MAX_WORKERS + 1);
	BAD(welcome, d, 0);
	BAD(welcome, heartbeat_ms, 0);
	BAD(welcome, silence_ms, 1000); /* not above the heartbeat */
	BAD(welcome, silence_ms, PN_JOB_MAX_TIMER_MS + 1);
	BAD(welcome, region.len, 0);
	BAD(welcome, serve, 2);
	BAD(welcome, result.len, 8); /* serving the model: no result region */
	BAD(welcome, comm_dim, 0);
	BAD(welcome, code_s, 1);    /* m = 1 carries no code */
	BAD(welcome, code_check, 5);
	BAD(welcome_comm, comm_dim, 5); /* s + m > n */
	BAD(welcome_comm, code_s, UINT32_MAX);
	BAD(welcome_gradient, result.len, 0);
	BAD(welcome_gradient, result.len, 2 * 1000 * sizeof(float) - 4); /* smaller than 2 slots of d */
	BAD(welcome_gradient, result.access, PN_ACCESS_LOCAL_WRITE);
	BAD(welcome, shards, 0);
	BAD(welcome, shards, PN_SHARD_MAX + 1);
	BAD(welcome, shard, 1); /* not below shards */
	BAD(welcome, hi, 1001); /* past d */
	BAD(welcome, lo, 1000); /* empty range */
	BAD(shard_hello, shard, 0); /* shard 0 does not say HELLO */
	BAD(shard_hello, shards, 1);
	BAD(shard_hello, comm_dim, 1); /* no comm-efficient code between shards */
	BAD(shard_hello, serve, PN_SERVE_GRADIENT);
	BAD(shard_hello, result.len, 2 * 250 * sizeof(float) - 4); /* smaller than 2 slots of its range */
	BAD(shard_hello, hi, 400); /* below lo */
	BAD(shard_welcome, shard, 1);
	BAD(shard_welcome, result.len, 8); /* shard 0 names no model region */
	BAD(facts_msg, slot, 0); /* round 7 uses slot 1 */
	BAD(facts_msg, round, -1);
	BAD(facts_msg, bytes, 1); /* only SHARD_DONE carries bytes */
	BAD(shard_done, slot, 1);
	BAD(lost_stop, status, 1);
	BAD(lost_stop, shard, PN_SHARD_MAX);
	BAD(lost_stop, status, 0); /* a normal STOP names no shard */
	BAD(result_msg, round, -1);
	BAD(result_msg, slot, 0); /* round 13 uses slot 1 */
	BAD(result_msg, slot, 2);
	BAD(ack_msg, round, -5);
	BAD(round_msg, round, -1);
	BAD(round_msg, slot, 2);
	BAD(round_msg, parts[1], -1);
	BAD(round_msg, parts[0], PN_JOB_MAX_WORKERS);
	BAD(round_msg, coefs[1], NAN);
	BAD(round_msg, coefs[0], INFINITY);
	BAD(ready, round, INT64_MIN);
	BAD(ready, slot, UINT32_MAX);
	BAD(ready, status, 1);
	BAD(ready, status, -100000);
	BAD(ready, loss, INFINITY);
	BAD(ready, loss, -INFINITY);
	BAD(ready, compute_s, -1.0);
	BAD(ready, compute_s, NAN);
	BAD(ready, compute_s, INFINITY);
	BAD(node_report, round, -1);
	BAD(node_report, nparts, 0);
	BAD(node_report, parts[2], PN_AGG_EXCLUDED + 1);
	BAD(node_report, coefs[0], NAN);
	BAD(node_report, coefs[3], -INFINITY);
	BAD(progress_msg, round, -1);
	BAD(progress_msg, slot, 0); /* round 13 uses slot 1 */
	BAD(progress_msg, slot, 3);
	BAD(node_report_full, rank, PN_JOB_MAX_WORKERS - PN_JOB_MAX_PARTS + 1); /* past the ranks */
#undef BAD
	m = ready();
	m.loss = NAN; /* "not computed": information only, allowed */
	cr_expect_eq(roundtrip(&m), 0);
	m = ready();
	m.status = -EIO;
	cr_expect_eq(roundtrip(&m), 0);
	/* a ROUND whose part count exceeds the maximum */
	uint8_t buf[PN_TP_CTRL_MAX];
	m = round_msg();
	size_t len = pn_job_msg_pack(&m, buf);
	buf[2] = PN_JOB_MAX_PARTS + 1;
	pn_job_msg out;
	cr_expect_eq(pn_job_msg_unpack(buf, len, &out), -EBADMSG);
	m = node_report(); /* and a NODE_REPORT's */
	len = pn_job_msg_pack(&m, buf);
	buf[2 + 8 + 4] = PN_JOB_MAX_PARTS + 1;
	cr_expect_eq(pn_job_msg_unpack(buf, len, &out), -EBADMSG);
}

/* Random bytes (with a plausible header half the time) never crash the parser, and what
 * it accepts is within range. */
Test(job_proto, random_bytes_are_refused_or_in_range)
{
	uint64_t s = 88172645463325252ull;
	uint8_t buf[PN_TP_CTRL_MAX];
	int accepted = 0;
	for (int it = 0; it < 200000; it++) {
		size_t len = 0;
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		len = s % (PN_TP_CTRL_MAX + 1);
		for (size_t k = 0; k < len; k++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			buf[k] = (uint8_t)s;
		}
		if (len >= 2 && (it & 1)) {
			buf[0] = (uint8_t)(1 + it % PN_MSG_LAST);
			buf[1] = PN_JOB_PROTO_VERSION;
		}
		pn_job_msg m;
		if (pn_job_msg_unpack(buf, len, &m) == 0) {
			accepted++;
			cr_assert(m.type >= PN_MSG_HELLO && m.type <= PN_MSG_LAST);
			cr_assert(m.slot <= 1 && m.nparts >= 0 && m.nparts <= PN_JOB_MAX_PARTS);
			cr_assert(m.round >= 0);
		}
	}
	cr_expect_gt(accepted, 0, "the header-only types are reachable");
}

/* RESULT's checksum tells a torn or overwritten result slot from the announced one. */
Test(job_proto, the_result_checksum_changes_with_any_coordinate)
{
	float x[100];
	for (int k = 0; k < 100; k++)
		x[k] = (float)k * 0.25f;
	uint64_t h = pn_job_result_checksum(x, 100);
	cr_expect_eq(h, pn_job_result_checksum(x, 100), "deterministic");
	cr_expect_neq(h, pn_job_result_checksum(x, 99), "the length counts");
	for (int k = 0; k < 100; k++) {
		float keep = x[k];
		x[k] = nextafterf(keep, INFINITY);
		cr_expect_neq(h, pn_job_result_checksum(x, 100), "coordinate %d", k);
		x[k] = keep;
	}
	float y[100];
	memcpy(y, x, sizeof y);
	y[10] = x[20], y[20] = x[10]; /* the order counts too */
	cr_expect_neq(h, pn_job_result_checksum(y, 100));
}
