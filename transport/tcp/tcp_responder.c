/* tcp backend: the serving side (runs on the progress thread). A READ request is checked
 * against the region table (key, REMOTE_READ access, bounds); a valid one is answered
 * with a header plus an iovec pointing into the registered region, an invalid one with an
 * error status. Both are counted; the connection stays up either way. */
#include "transport/tcp/tcp.h"

#include <errno.h>

int tcp_on_read_req(struct tcp_peer *p, const struct tcp_wire_hdr *h)
{
	struct tcp_ctx *c = tcp_peer_ctx(p);
	struct tcp_tx_item *it = tcp_txq_push(p);
	if (!it) {
		/* An honest requester stays within its window; this one floods. */
		c->live.drop_no_buffer++;
		return -ENOBUFS;
	}
	it->h = (struct tcp_wire_hdr){ .type = TCP_READ_RESP, .req_id = h->req_id };
	struct tcp_mr *m = tcp_mr_lookup(c, h->key);
	if (h->len == 0 || h->len > (16u << 20)) {
		c->live.drop_malformed++;
		it->h.status = -EINVAL;
	} else if (!m) {
		c->live.drop_bad_key++;
		it->h.status = -ENOENT;
	} else if (!(m->base.access & PN_ACCESS_REMOTE_READ)) {
		c->live.drop_no_access++;
		it->h.status = -EACCES;
	} else if (h->offset > m->base.len || h->len > m->base.len - h->offset) {
		c->live.drop_out_of_bounds++;
		it->h.status = -ERANGE;
	} else {
		it->h.len = h->len;
		it->data = (const uint8_t *)m->base.addr + h->offset;
		it->data_len = h->len;
		it->mr = m;
	}
	tcp_wire_encode(&it->h, it->hdr);
	return 0;
}
