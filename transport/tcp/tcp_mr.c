/* tcp backend: memory regions. A region is named on the wire by a 32-bit key; the
 * descriptor's addr is 0 because offsets are relative to the region. */
#include "transport/tcp/tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int add_region(struct tcp_ctx *c, void *buf, void *alloc_base, pn_tp_mr **out)
{
	struct tcp_mr *m = calloc(1, sizeof(*m));
	if (!m)
		return pn_tp_fail(&c->base, ENOMEM, "tcp: out of memory for a region");
	m->alloc_base = alloc_base;
	m->base.addr = buf;
	pthread_mutex_lock(&c->lock);
	do
		m->base.desc.key = c->next_key++;
	while (m->base.desc.key == 0 || tcp_mr_lookup(c, m->base.desc.key));
	m->base.desc.addr = 0;
	m->next = c->mrs;
	c->mrs = m;
	pthread_mutex_unlock(&c->lock);
	*out = &m->base;
	return 0;
}

int tcp_alloc(pn_tp_ctx *ctx, size_t len, unsigned access, void **buf, pn_tp_mr **mr)
{
	(void)access;
	void *p = pn_tp_page_alloc(len);
	if (!p)
		return pn_tp_fail(ctx, ENOMEM, "tcp: cannot allocate %zu bytes", len);
	int rc = add_region(tcp_ctx_of(ctx), p, p, mr);
	if (rc) {
		free(p);
		return rc;
	}
	*buf = p;
	return 0;
}

int tcp_reg(pn_tp_ctx *ctx, void *buf, size_t len, unsigned access, pn_tp_mr **mr)
{
	(void)len;
	(void)access;
	return add_region(tcp_ctx_of(ctx), buf, NULL, mr);
}

struct tcp_mr *tcp_mr_lookup(struct tcp_ctx *c, uint32_t key)
{
	for (struct tcp_mr *m = c->mrs; m; m = m->next)
		if (m->base.desc.key == key)
			return m;
	return NULL;
}

/* Responses already queued from this region cannot outlive it. A response whose header
 * has not been written yet becomes an error reply (-ENOENT, as for any unknown key); one
 * half written cannot be taken back, so that connection is cut (the requester sees its
 * reads fail and the peer go down, which is what a vanished region means to it). */
static void retire_queued_serves(struct tcp_ctx *c, struct tcp_mr *m)
{
	for (struct tcp_peer *p = c->peers; p; p = p->next) {
		if (p->down)
			continue;
		bool cut = false;
		for (uint32_t i = 0; i < pn_ring_count(&p->txq); i++) {
			struct tcp_tx_item *it = pn_ring_at(&p->txq, i);
			if (it->mr != m)
				continue;
			if (it->sent == 0) {
				it->h.status = -ENOENT;
				it->h.len = 0;
				tcp_wire_encode(&it->h, it->hdr);
				it->data = NULL;
				it->data_len = 0;
				it->mr = NULL;
			} else {
				cut = true;
			}
		}
		if (cut)
			tcp_peer_down(p, -ECONNABORTED, true);
	}
}

static bool reads_land_in(struct tcp_ctx *c, const struct tcp_mr *m)
{
	for (struct tcp_peer *p = c->peers; p; p = p->next)
		for (struct tcp_op *op = p->ops; op; op = op->next)
			if (op->local == &m->base)
				return true;
	return false;
}

int tcp_dereg(pn_tp_mr *mr)
{
	struct tcp_ctx *c = tcp_ctx_of(mr->ctx);
	struct tcp_mr *m = (struct tcp_mr *)mr;
	pthread_mutex_lock(&c->lock);
	if (reads_land_in(c, m)) {
		/* The progress thread would write into freed memory. */
		pthread_mutex_unlock(&c->lock);
		return pn_tp_fail(&c->base, EBUSY, "tcp: reads are still landing in this region");
	}
	struct tcp_mr **pp = &c->mrs;
	while (*pp && *pp != m)
		pp = &(*pp)->next;
	if (!*pp) {
		pthread_mutex_unlock(&c->lock);
		return pn_tp_fail(&c->base, ENOENT, "tcp: deregister of an unknown region");
	}
	*pp = m->next;
	retire_queued_serves(c, m);
	pthread_mutex_unlock(&c->lock);
	free(m->alloc_base);
	free(m);
	return 0;
}

void tcp_mr_free_all(struct tcp_ctx *c)
{
	while (c->mrs) {
		struct tcp_mr *m = c->mrs;
		c->mrs = m->next;
		free(m->alloc_base);
		free(m);
	}
}
