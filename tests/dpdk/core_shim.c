/* Test-only stand-in for transport/core.c while that file lives on another branch:
 * dispatch of the public pn_tp_* calls to the dpdk ops table, pn_tp_fail, pn_kv_next and
 * the descriptor packing. Linked only into tests/dpdk binaries when core.c is absent. */
#include "pennant_config.h"
#include "transport/backend.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int pn_tp_fail(pn_tp_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
	va_end(ap);
	return -err;
}

int pn_kv_next(pn_kv_iter *it, char *key, size_t keylen, char *val, size_t vallen)
{
	while (*it->p == ';')
		it->p++;
	if (!*it->p)
		return 0;
	const char *end = strchr(it->p, ';');
	size_t n = end ? (size_t)(end - it->p) : strlen(it->p);
	const char *eq = memchr(it->p, '=', n);
	if (!eq || eq == it->p || (size_t)(eq - it->p) >= keylen || n - (size_t)(eq - it->p) - 1 >= vallen)
		return -EINVAL;
	memcpy(key, it->p, (size_t)(eq - it->p));
	key[eq - it->p] = 0;
	memcpy(val, eq + 1, n - (size_t)(eq - it->p) - 1);
	val[n - (size_t)(eq - it->p) - 1] = 0;
	it->p += n;
	return 1;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void pn_mr_desc_pack(const pn_mr_desc *d, uint8_t out[PN_MR_DESC_WIRE_SIZE])
{
	put_le(out, d->addr, 8);
	put_le(out + 8, d->len, 8);
	put_le(out + 16, d->key, 4);
	put_le(out + 20, d->owner, 4);
	put_le(out + 24, d->access, 4);
	put_le(out + 28, d->reserved, 4);
}

void pn_mr_desc_unpack(const uint8_t in[PN_MR_DESC_WIRE_SIZE], pn_mr_desc *d)
{
	d->addr = get_le(in, 8);
	d->len = get_le(in + 8, 8);
	d->key = (uint32_t)get_le(in + 16, 4);
	d->owner = (uint32_t)get_le(in + 20, 4);
	d->access = (uint32_t)get_le(in + 24, 4);
	d->reserved = (uint32_t)get_le(in + 28, 4);
}

pn_tp_ctx *pn_tp_open(const pn_tp_config *cfg, char *err, size_t errlen)
{
	if (!cfg->backend || strcmp(cfg->backend, "dpdk")) {
		snprintf(err, errlen, "shim: only the dpdk backend is available");
		return NULL;
	}
	return pn_tp_dpdk_ops.open(cfg, err, errlen);
}
void pn_tp_close(pn_tp_ctx *ctx) { if (ctx) ctx->ops->close(ctx); }
const char *pn_tp_errmsg(const pn_tp_ctx *ctx) { return ctx->err; }
const char *pn_tp_backend_name(const pn_tp_ctx *ctx) { return ctx->ops->name; }
const char *pn_tp_backends_available(void) { return "dpdk"; }
size_t pn_tp_preferred_chunk(const pn_tp_ctx *ctx) { return ctx->ops->preferred_chunk(ctx); }
int pn_tp_alloc(pn_tp_ctx *ctx, size_t len, unsigned access, void **buf, pn_tp_mr **mr)
{
	return ctx->ops->alloc(ctx, len, access, buf, mr);
}
int pn_tp_register(pn_tp_ctx *ctx, void *buf, size_t len, unsigned access, pn_tp_mr **mr)
{
	return ctx->ops->reg(ctx, buf, len, access, mr);
}
int pn_tp_deregister(pn_tp_mr *mr) { return mr->ctx->ops->dereg(mr); }
void pn_tp_mr_get_desc(const pn_tp_mr *mr, pn_mr_desc *out) { *out = mr->desc; }
void *pn_tp_mr_addr(const pn_tp_mr *mr) { return mr->addr; }
size_t pn_tp_mr_len(const pn_tp_mr *mr) { return mr->len; }
int pn_tp_listen(pn_tp_ctx *ctx, const char *addr) { return ctx->ops->listen(ctx, addr); }
int pn_tp_local_addr(pn_tp_ctx *ctx, char *buf, size_t len) { return ctx->ops->local_addr(ctx, buf, len); }
int pn_tp_accept(pn_tp_ctx *ctx, pn_tp_peer **peer, int timeout_ms)
{
	return ctx->ops->accept(ctx, peer, timeout_ms);
}
int pn_tp_connect(pn_tp_ctx *ctx, const char *addr, pn_tp_peer **peer, int timeout_ms)
{
	return ctx->ops->connect(ctx, addr, peer, timeout_ms);
}
uint32_t pn_tp_peer_id(const pn_tp_peer *peer) { return peer->id; }
int pn_tp_disconnect(pn_tp_peer *peer) { return peer->ctx->ops->disconnect(peer); }
int pn_tp_post_read(pn_tp_peer *peer, pn_tp_mr *local, size_t local_off, const pn_mr_desc *remote,
		    uint64_t remote_off, size_t len, uint64_t cookie)
{
	return peer->ctx->ops->post_read(peer, local, local_off, remote, remote_off, len, cookie);
}
int pn_tp_send_ctrl(pn_tp_peer *peer, const void *msg, size_t len)
{
	return peer->ctx->ops->send_ctrl(peer, msg, len);
}
int pn_tp_poll(pn_tp_ctx *ctx, pn_tp_completion *out, int max, int timeout_ms)
{
	return ctx->ops->poll(ctx, out, max, timeout_ms);
}
void pn_tp_get_stats(const pn_tp_ctx *ctx, pn_tp_stats *out)
{
	if (ctx->ops->refresh_stats)
		ctx->ops->refresh_stats(ctx);
	*out = ctx->stats;
}
