/* Wire form of the job protocol (job/proto.h). */
#include "job/proto.h"
#include "job/parity.h"
#include "pennant/shard.h"

#include <errno.h>
#include <math.h>
#include <string.h>

typedef struct wr {
	uint8_t *p;
	size_t n;
} wr;

static void put(wr *w, const void *v, size_t len)
{
	memcpy(w->p + w->n, v, len); /* x86-64 and the wire are both little-endian */
	w->n += len;
}

typedef struct rd {
	const uint8_t *p;
	size_t n, len;
	int bad;
} rd;

static void get(rd *r, void *v, size_t len)
{
	if (r->n + len > r->len) {
		r->bad = 1;
		memset(v, 0, len);
		return;
	}
	memcpy(v, r->p + r->n, len);
	r->n += len;
}

size_t pn_job_msg_pack(const pn_job_msg *m, uint8_t *buf)
{
	wr w = {buf, 0};
	uint8_t hdr[2] = {m->type, PN_JOB_PROTO_VERSION};
	put(&w, hdr, 2);
	uint8_t desc[PN_MR_DESC_WIRE_SIZE];
	switch (m->type) {
	case PN_MSG_HELLO:
	case PN_MSG_WELCOME:
	case PN_MSG_SHARD_HELLO:
	case PN_MSG_SHARD_WELCOME:
		put(&w, &m->rank, 4);
		put(&w, &m->n, 4);
		put(&w, &m->d, 8);
		put(&w, &m->heartbeat_ms, 4);
		put(&w, &m->silence_ms, 4);
		pn_mr_desc_pack(&m->region, desc);
		put(&w, desc, sizeof desc);
		if (m->type == PN_MSG_HELLO)
			put(&w, &m->grad_dtype, 1);
		if (m->type != PN_MSG_HELLO) {
			put(&w, &m->serve, 1);
			pn_mr_desc_pack(&m->result, desc);
			put(&w, desc, sizeof desc);
			put(&w, &m->shard, 4);
			put(&w, &m->shards, 4);
			put(&w, &m->lo, 8);
			put(&w, &m->hi, 8);
			put(&w, &m->comm_dim, 4);
			put(&w, &m->code_s, 4);
			put(&w, &m->code_seed, 8);
			put(&w, &m->code_check, 8);
		}
		break;
	case PN_MSG_FACTS:
	case PN_MSG_DECISION:
	case PN_MSG_SHARD_DONE:
		put(&w, &m->round, 8);
		put(&w, &m->slot, 4);
		put(&w, &m->bytes, 8);
		break;
	case PN_MSG_STOP: {
		int32_t st = m->status;
		put(&w, &st, 4);
		put(&w, &m->shard, 4);
		break;
	}
	case PN_MSG_RESULT: {
		uint8_t sk = m->skipped;
		put(&w, &m->round, 8);
		put(&w, &m->slot, 4);
		put(&w, &sk, 1);
		put(&w, &m->checksum, 8);
		break;
	}
	case PN_MSG_RESULT_ACK:
		put(&w, &m->round, 8);
		break;
	case PN_MSG_ROUND: {
		uint8_t np = (uint8_t)m->nparts;
		put(&w, &np, 1);
		put(&w, &m->slot, 4);
		put(&w, &m->round, 8);
		for (int k = 0; k < m->nparts; k++) {
			int32_t part = m->parts[k];
			put(&w, &part, 4);
			put(&w, &m->coefs[k], 8);
		}
		break;
	}
	case PN_MSG_NODE_REPORT: {
		uint8_t np = (uint8_t)m->nparts;
		put(&w, &m->round, 8);
		put(&w, &m->rank, 4);
		put(&w, &np, 1);
		for (int k = 0; k < m->nparts; k++) {
			uint8_t st = (uint8_t)m->parts[k];
			put(&w, &st, 1);
			put(&w, &m->coefs[k], 8);
		}
		break;
	}
	case PN_MSG_PROGRESS:
		put(&w, &m->round, 8);
		put(&w, &m->slot, 4);
		put(&w, &m->d, 8);
		break;
	case PN_MSG_READY: {
		int32_t st = m->status;
		put(&w, &st, 4);
		put(&w, &m->slot, 4);
		put(&w, &m->round, 8);
		put(&w, &m->loss, 8);
		put(&w, &m->compute_s, 8);
		break;
	}
	default: /* PING: the header only */
		break;
	}
	return w.n;
}

/* A region a peer may READ: non-empty, no wrap-around, readable, known access bits. */
static bool region_ok(const pn_mr_desc *r)
{
	const uint32_t known = PN_ACCESS_LOCAL_WRITE | PN_ACCESS_REMOTE_READ | PN_ACCESS_REMOTE_WRITE;
	return r->len > 0 && r->addr + r->len > r->addr && (r->access & PN_ACCESS_REMOTE_READ) &&
	       !(r->access & ~known);
}

/* The sender's shard of K and its coordinate range inside [0, d). */
static bool shard_ok(const pn_job_msg *m)
{
	return m->shards >= 1 && m->shards <= PN_SHARD_MAX && m->shard < m->shards && m->lo < m->hi &&
	       m->hi <= m->d;
}

/* Between shards: SHARD_HELLO names a shard k > 0 and its model region; SHARD_WELCOME is
 * shard 0's; neither serves gradients. */
static int check_shard_session(const pn_job_msg *m)
{
	if (m->rank != 0 || m->n < 1 || m->n > PN_JOB_MAX_WORKERS || m->shards < 2 || !shard_ok(m) ||
	    m->serve != PN_SERVE_MODEL || m->comm_dim || m->code_s || m->code_seed || m->code_check)
		return -EBADMSG; /* (no comm-efficient code between shards) */
	if (m->type == PN_MSG_SHARD_HELLO)
		return m->shard > 0 && region_ok(&m->result) &&
			       m->result.len / 2 / sizeof(float) >= m->hi - m->lo ? 0 : -EBADMSG;
	static const pn_mr_desc none;
	return m->shard == 0 && memcmp(&m->result, &none, sizeof none) == 0 ? 0 : -EBADMSG;
}

static int check_session(const pn_job_msg *m)
{
	if (m->d < 1 || m->d > (UINT64_MAX / sizeof(float)) / 2 || !region_ok(&m->region))
		return -EBADMSG;
	if (m->type == PN_MSG_HELLO)
		return m->rank < PN_JOB_MAX_WORKERS && m->n == 0 && m->grad_dtype < PN_DTYPE_COUNT_
			       ? 0 : -EBADMSG;
	if (m->heartbeat_ms < 1 || m->silence_ms <= m->heartbeat_ms || m->silence_ms > PN_JOB_MAX_TIMER_MS)
		return -EBADMSG;
	if (m->type != PN_MSG_WELCOME)
		return check_shard_session(m);
	/* comm-efficient: 1 <= m, s + m <= n (the code's own bounds); m = 1 carries no code */
	if (m->rank != 0 || m->n < 1 || m->n > PN_JOB_MAX_WORKERS || !shard_ok(m) || m->comm_dim < 1 ||
	    m->code_s + (uint64_t)m->comm_dim > m->n ||
	    (m->comm_dim == 1 && (m->code_s || m->code_seed || m->code_check)))
		return -EBADMSG;
	static const pn_mr_desc none;
	if (m->serve == PN_SERVE_MODEL)
		return memcmp(&m->result, &none, sizeof none) == 0 ? 0 : -EBADMSG;
	if (m->serve != PN_SERVE_GRADIENT || !region_ok(&m->result) ||
	    m->result.len / 2 / sizeof(float) < m->d)
		return -EBADMSG;
	return 0;
}

static int check_result(const pn_job_msg *m)
{
	return m->round >= 0 && m->slot == pn_job_slot(m->round) && (!m->skipped || m->checksum == 0)
		       ? 0 : -EBADMSG;
}

static int check_ack(const pn_job_msg *m)
{
	return m->round >= 0 ? 0 : -EBADMSG;
}

/* FACTS, DECISION: round v's slot is v%2; SHARD_DONE names the model slot after `round`
 * rounds (the same parity). Only SHARD_DONE carries bytes. */
static int check_exchange(const pn_job_msg *m)
{
	return m->round >= 0 && m->slot == pn_job_slot(m->round) &&
		       (m->type == PN_MSG_SHARD_DONE || m->bytes == 0) ? 0 : -EBADMSG;
}

static int check_stop(const pn_job_msg *m)
{
	return m->status <= 0 && m->status >= -4095 && m->shard < PN_SHARD_MAX &&
		       (m->status != 0 || m->shard == 0) ? 0 : -EBADMSG;
}

/* A 64-bit mix of `words` 32-bit words (their bits, not their values). */
static uint64_t mix_words(uint64_t h, const void *data, size_t words)
{
	const uint8_t *p = data;
	for (size_t k = 0; k < words; k++) {
		uint32_t b;
		memcpy(&b, p + 4 * k, 4);
		h = (h ^ b) * 0x100000001b3u;
		h ^= h >> 29;
	}
	return h;
}

uint64_t pn_job_result_checksum(const float *x, size_t d)
{
	return mix_words(0x9e3779b97f4a7c15u ^ d, x, d);
}

uint64_t pn_job_code_row_check(const double *row, size_t len)
{
	return mix_words(0xcbf29ce484222325u ^ len, row, 2 * len);
}

static int check_round(const pn_job_msg *m)
{
	if (m->round < 0)
		return -EBADMSG;
	for (int k = 0; k < m->nparts; k++)
		if (m->parts[k] < 0 || m->parts[k] >= PN_JOB_MAX_WORKERS || !isfinite(m->coefs[k]))
			return -EBADMSG;
	return 0;
}

/* Children inside the rank space, statuses of pn_agg_worker_status, scores a number or
 * +inf (excluded): never NaN or -inf. */
static int check_node_report(const pn_job_msg *m)
{
	if (m->round < 0 || m->nparts < 1 || m->rank + (uint32_t)m->nparts > PN_JOB_MAX_WORKERS)
		return -EBADMSG;
	for (int k = 0; k < m->nparts; k++)
		if (m->parts[k] > PN_AGG_EXCLUDED || isnan(m->coefs[k]) || m->coefs[k] == -INFINITY)
			return -EBADMSG;
	return 0;
}

/* The prefix is of round v's slot v%2 (the READY that follows names the same slot). */
static int check_progress(const pn_job_msg *m)
{
	return m->round >= 0 && m->slot == pn_job_slot(m->round) ? 0 : -EBADMSG;
}

static int check_ready(const pn_job_msg *m)
{
	/* status: 0 or a negative errno; the loss is information only (NaN allowed: "not
	 * computed"), but never infinite; the compute time is a duration */
	if (m->round < 0 || m->status > 0 || m->status < -4095 || isinf(m->loss) ||
	    !(m->compute_s >= 0) || isinf(m->compute_s))
		return -EBADMSG;
	return 0;
}

int pn_job_msg_unpack(const void *buf, size_t len, pn_job_msg *m)
{
	memset(m, 0, sizeof *m);
	rd r = {buf, 0, len, 0};
	uint8_t hdr[2];
	get(&r, hdr, 2);
	if (r.bad || hdr[1] != PN_JOB_PROTO_VERSION)
		return -EBADMSG;
	m->type = hdr[0];
	uint8_t desc[PN_MR_DESC_WIRE_SIZE];
	int (*check)(const pn_job_msg *) = NULL;
	switch (m->type) {
	case PN_MSG_HELLO:
	case PN_MSG_WELCOME:
	case PN_MSG_SHARD_HELLO:
	case PN_MSG_SHARD_WELCOME:
		get(&r, &m->rank, 4);
		get(&r, &m->n, 4);
		get(&r, &m->d, 8);
		get(&r, &m->heartbeat_ms, 4);
		get(&r, &m->silence_ms, 4);
		get(&r, desc, sizeof desc);
		pn_mr_desc_unpack(desc, &m->region);
		if (m->type == PN_MSG_HELLO)
			get(&r, &m->grad_dtype, 1);
		if (m->type != PN_MSG_HELLO) {
			get(&r, &m->serve, 1);
			get(&r, desc, sizeof desc);
			pn_mr_desc_unpack(desc, &m->result);
			get(&r, &m->shard, 4);
			get(&r, &m->shards, 4);
			get(&r, &m->lo, 8);
			get(&r, &m->hi, 8);
			get(&r, &m->comm_dim, 4);
			get(&r, &m->code_s, 4);
			get(&r, &m->code_seed, 8);
			get(&r, &m->code_check, 8);
		}
		check = check_session;
		break;
	case PN_MSG_FACTS:
	case PN_MSG_DECISION:
	case PN_MSG_SHARD_DONE:
		get(&r, &m->round, 8);
		get(&r, &m->slot, 4);
		get(&r, &m->bytes, 8);
		check = check_exchange;
		break;
	case PN_MSG_RESULT: {
		uint8_t sk = 0;
		get(&r, &m->round, 8);
		get(&r, &m->slot, 4);
		get(&r, &sk, 1);
		get(&r, &m->checksum, 8);
		if (sk > 1)
			return -EBADMSG;
		m->skipped = sk;
		check = check_result;
		break;
	}
	case PN_MSG_RESULT_ACK:
		get(&r, &m->round, 8);
		check = check_ack;
		break;
	case PN_MSG_ROUND: {
		uint8_t np = 0;
		get(&r, &np, 1);
		if (np > PN_JOB_MAX_PARTS)
			return -EBADMSG;
		m->nparts = np;
		get(&r, &m->slot, 4);
		get(&r, &m->round, 8);
		for (int k = 0; k < np; k++) {
			int32_t part;
			get(&r, &part, 4);
			m->parts[k] = part;
			get(&r, &m->coefs[k], 8);
		}
		check = check_round;
		break;
	}
	case PN_MSG_NODE_REPORT: {
		uint8_t np = 0;
		get(&r, &m->round, 8);
		get(&r, &m->rank, 4);
		get(&r, &np, 1);
		if (np > PN_JOB_MAX_PARTS)
			return -EBADMSG;
		m->nparts = np;
		for (int k = 0; k < np; k++) {
			uint8_t st = 0;
			get(&r, &st, 1);
			m->parts[k] = st;
			get(&r, &m->coefs[k], 8);
		}
		check = check_node_report;
		break;
	}
	case PN_MSG_PROGRESS:
		get(&r, &m->round, 8);
		get(&r, &m->slot, 4);
		get(&r, &m->d, 8);
		check = check_progress;
		break;
	case PN_MSG_READY: {
		int32_t st;
		get(&r, &st, 4);
		m->status = st;
		get(&r, &m->slot, 4);
		get(&r, &m->round, 8);
		get(&r, &m->loss, 8);
		get(&r, &m->compute_s, 8);
		check = check_ready;
		break;
	}
	case PN_MSG_STOP: {
		int32_t st;
		get(&r, &st, 4);
		m->status = st;
		get(&r, &m->shard, 4);
		check = check_stop;
		break;
	}
	case PN_MSG_PING:
		break;
	default:
		return -EBADMSG;
	}
	if (r.bad || r.n != len || m->slot > 1)
		return -EBADMSG;
	return check ? check(m) : 0;
}
