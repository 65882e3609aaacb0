#include "job_proto.h"

#include <errno.h>
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
		put(&w, &m->rank, 4);
		put(&w, &m->n, 4);
		put(&w, &m->d, 8);
		pn_mr_desc_pack(&m->region, desc);
		put(&w, desc, sizeof desc);
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
	case PN_MSG_READY: {
		int32_t st = m->status;
		put(&w, &st, 4);
		put(&w, &m->slot, 4);
		put(&w, &m->round, 8);
		put(&w, &m->loss, 8);
		put(&w, &m->compute_s, 8);
		break;
	}
	default:
		break;
	}
	return w.n;
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
	switch (m->type) {
	case PN_MSG_HELLO:
	case PN_MSG_WELCOME:
		get(&r, &m->rank, 4);
		get(&r, &m->n, 4);
		get(&r, &m->d, 8);
		get(&r, desc, sizeof desc);
		pn_mr_desc_unpack(desc, &m->region);
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
		break;
	}
	case PN_MSG_READY: {
		int32_t st;
		get(&r, &st, 4);
		m->status = st;
		get(&r, &m->slot, 4);
		get(&r, &m->round, 8);
		get(&r, &m->loss, 8);
		get(&r, &m->compute_s, 8);
		break;
	}
	case PN_MSG_STOP:
		break;
	default:
		return -EBADMSG;
	}
	if (r.bad || r.n != len || m->slot > 1)
		return -EBADMSG;
	return 0;
}
