/* Transport core: backend registry and dispatch of every public pn_tp_* call.
 *
 * The core validates what is common to all backends (NULLs, local bounds, zero lengths,
 * remote access rights, control message size) so each backend only checks what it alone
 * can know (e.g. whether a key exists on the target). It never branches on the backend. */
#include "pennant_config.h" /* before backend.h: it declares backends by PN_HAVE_* */
#include "transport/backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every backend compiled into this build, NULL-terminated. Adding a backend is one line
 * here (and its folder); a name not in the table is an error listing the ones that are. */
static const struct pn_tp_ops *const backends[] = {
	&pn_tp_tcp_ops,
#if PN_HAVE_DPDK
	&pn_tp_dpdk_ops,
#endif
#if PN_HAVE_VERBS
	&pn_tp_verbs_ops,
#endif
	NULL,
};

static const struct pn_tp_ops *find_backend(const char *name)
{
	for (const struct pn_tp_ops *const *b = backends; *b; b++)
		if (strcmp((*b)->name, name) == 0)
			return *b;
	return NULL;
}

const char *pn_tp_backends_available(void)
{
	static char list[64];
	if (list[0])
		return list;
	size_t used = 0;
	for (const struct pn_tp_ops *const *b = backends; *b; b++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", used ? "," : "", (*b)->name);
		if (n < 0 || (size_t)n >= sizeof(list) - used)
			break;
		used += (size_t)n;
	}
	return list;
}

int pn_tp_fail(pn_tp_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = pn_vfail(ctx ? ctx->err : NULL, ctx ? sizeof(ctx->err) : 0, err, fmt, ap);
	va_end(ap);
	return rc;
}

void *pn_tp_ctx_new(size_t size, const pn_tp_config *cfg, char *err, size_t errlen)
{
	pn_tp_ctx *ctx = calloc(1, size);
	if (!ctx) {
		pn_errf(err, errlen, "%s: out of memory", cfg->backend);
		return NULL;
	}
	ctx->cfg = *cfg; /* the core rewrites it after open; a backend's thread may need it now */
	return ctx;
}

pn_tp_ctx *pn_tp_open(const pn_tp_config *cfg, char *err, size_t errlen)
{
	char dummy[8];
	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (!cfg || !cfg->backend) {
		pn_errf(err, errlen, "pn_tp_open: no config or no backend name");
		return NULL;
	}
	const struct pn_tp_ops *ops = find_backend(cfg->backend);
	if (!ops) {
		pn_errf(err, errlen, "pn_tp_open: backend '%s' is not available (have: %s)",
			cfg->backend, pn_tp_backends_available());
		return NULL;
	}
	const char *options = cfg->options ? cfg->options : "";
	if (strlen(options) >= sizeof(((pn_tp_ctx *)0)->options_buf)) {
		pn_errf(err, errlen, "pn_tp_open: options string longer than %zu bytes",
			sizeof(((pn_tp_ctx *)0)->options_buf) - 1);
		return NULL;
	}
	if (!cfg->secret || cfg->secret_len == 0) {
		pn_errf(err, errlen, "pn_tp_open: no job secret (every peer of a job must share one; "
			"it never travels on the wire)");
		return NULL;
	}
	if (cfg->secret_len > PN_AUTH_SECRET_MAX) {
		pn_errf(err, errlen, "pn_tp_open: job secret of %zu bytes (max %d)", cfg->secret_len,
			PN_AUTH_SECRET_MAX);
		return NULL;
	}
	/* Only the derived key is kept; backends never see the secret. */
	uint8_t key[PN_AUTH_KEY_LEN];
	if (pn_auth_key_from_secret(cfg->secret, cfg->secret_len, key) != 0) {
		pn_errf(err, errlen, "pn_tp_open: cannot derive the job key (libcrypto failed)");
		return NULL;
	}
	pn_tp_config copy = *cfg;
	copy.options = options;
	copy.secret = NULL;
	copy.secret_len = 0;
	pn_tp_ctx *ctx = ops->open(&copy, err, errlen);
	if (!ctx) {
		pn_auth_wipe(key, sizeof(key));
		if (!err[0])
			pn_errf(err, errlen, "pn_tp_open: backend '%s' failed to open", cfg->backend);
		return NULL;
	}
	ctx->ops = ops;
	snprintf(ctx->options_buf, sizeof(ctx->options_buf), "%s", options);
	ctx->cfg = copy;
	ctx->cfg.options = ctx->options_buf;
	memcpy(ctx->auth_key, key, sizeof(key));
	pn_auth_wipe(key, sizeof(key));
	return ctx;
}

void pn_tp_close(pn_tp_ctx *ctx)
{
	if (ctx) {
		pn_auth_wipe(ctx->auth_key, sizeof(ctx->auth_key));
		ctx->ops->close(ctx);
	}
}

const char *pn_tp_errmsg(const pn_tp_ctx *ctx)
{
	return ctx ? ctx->err : "no transport context";
}

const char *pn_tp_backend_name(const pn_tp_ctx *ctx)
{
	return ctx ? ctx->ops->name : "none";
}

size_t pn_tp_preferred_chunk(const pn_tp_ctx *ctx)
{
	return ctx ? ctx->ops->preferred_chunk(ctx) : 0;
}

#define ACCESS_ALL (PN_ACCESS_LOCAL_WRITE | PN_ACCESS_REMOTE_READ | PN_ACCESS_REMOTE_WRITE)

/* Fields of the descriptor that mean the same on every backend are filled here, so a
 * peer can rely on them whichever backend produced the descriptor. */
static void finish_mr(pn_tp_ctx *ctx, pn_tp_mr *mr, size_t len, unsigned access)
{
	mr->ctx = ctx;
	mr->len = len;
	mr->access = access;
	mr->desc.len = len;
	mr->desc.owner = ctx->cfg.node_id;
	mr->desc.access = access;
	mr->desc.reserved = 0;
}

static int check_mem_args(pn_tp_ctx *ctx, const void *bufp, size_t len, unsigned access,
			  pn_tp_mr **mr, const char *what)
{
	if (!ctx)
		return -EINVAL;
	if (!bufp || !mr)
		return pn_tp_fail(ctx, EINVAL, "%s: NULL argument", what);
	if (len == 0)
		return pn_tp_fail(ctx, EINVAL, "%s: zero length", what);
	if (access & ~(unsigned)ACCESS_ALL)
		return pn_tp_fail(ctx, EINVAL, "%s: unknown access bits 0x%x", what, access);
	return 0;
}

/* pn_tp_alloc (owned: the backend allocates *buf) and pn_tp_register (the caller's *buf)
 * differ only in the backend call. */
static int add_region(pn_tp_ctx *ctx, void **buf, size_t len, unsigned access, pn_tp_mr **mr,
		      bool owned)
{
	int rc = check_mem_args(ctx, owned ? (const void *)buf : *buf, len, access, mr,
				owned ? "pn_tp_alloc" : "pn_tp_register");
	if (rc)
		return rc;
	if (owned)
		*buf = NULL;
	*mr = NULL;
	rc = owned ? ctx->ops->alloc(ctx, len, access, buf, mr) : ctx->ops->reg(ctx, *buf, len, access, mr);
	if (rc == 0) {
		finish_mr(ctx, *mr, len, access);
		(*mr)->addr = *buf;
		(*mr)->owned = owned;
	}
	return rc;
}

int pn_tp_alloc(pn_tp_ctx *ctx, size_t len, unsigned access, void **buf, pn_tp_mr **mr)
{
	return add_region(ctx, buf, len, access, mr, true);
}

int pn_tp_register(pn_tp_ctx *ctx, void *buf, size_t len, unsigned access, pn_tp_mr **mr)
{
	return add_region(ctx, &buf, len, access, mr, false);
}

int pn_tp_deregister(pn_tp_mr *mr)
{
	if (!mr)
		return -EINVAL;
	return mr->ctx->ops->dereg(mr);
}

void pn_tp_mr_get_desc(const pn_tp_mr *mr, pn_mr_desc *out)
{
	if (out)
		*out = mr ? mr->desc : (pn_mr_desc){ 0 };
}

void *pn_tp_mr_addr(const pn_tp_mr *mr)
{
	return mr ? mr->addr : NULL;
}

size_t pn_tp_mr_len(const pn_tp_mr *mr)
{
	return mr ? mr->len : 0;
}

int pn_tp_listen(pn_tp_ctx *ctx, const char *addr)
{
	if (!ctx)
		return -EINVAL;
	if (!addr || !addr[0])
		return pn_tp_fail(ctx, EINVAL, "pn_tp_listen: no address");
	if (ctx->listening)
		return pn_tp_fail(ctx, EALREADY, "pn_tp_listen: already listening");
	int rc = ctx->ops->listen(ctx, addr);
	ctx->listening = rc == 0;
	return rc;
}

int pn_tp_local_addr(pn_tp_ctx *ctx, char *buf, size_t len)
{
	if (!ctx)
		return -EINVAL;
	if (!buf || len == 0)
		return pn_tp_fail(ctx, EINVAL, "pn_tp_local_addr: no buffer");
	if (!ctx->listening)
		return pn_tp_fail(ctx, ENOTCONN, "pn_tp_local_addr: before listen");
	return ctx->ops->local_addr(ctx, buf, len);
}

int pn_tp_accept(pn_tp_ctx *ctx, pn_tp_peer **peer, int timeout_ms)
{
	if (!ctx)
		return -EINVAL;
	if (!peer)
		return pn_tp_fail(ctx, EINVAL, "pn_tp_accept: NULL peer pointer");
	if (timeout_ms < -1)
		return pn_tp_fail(ctx, EINVAL, "pn_tp_accept: bad timeout %d", timeout_ms);
	if (!ctx->listening)
		return pn_tp_fail(ctx, EINVAL, "pn_tp_accept: accept before listen");
	*peer = NULL;
	return ctx->ops->accept(ctx, peer, timeout_ms);
}

int pn_tp_connect(pn_tp_ctx *ctx, const char *addr, pn_tp_peer **peer, int timeout_ms)
{
	if (!ctx)
		return -EINVAL;
	if (!addr || !addr[0] || !peer)
		return pn_tp_fail(ctx, EINVAL, "pn_tp_connect: NULL address or peer pointer");
	if (timeout_ms < -1)
		return pn_tp_fail(ctx, EINVAL, "pn_tp_connect: bad timeout %d", timeout_ms);
	*peer = NULL;
	return ctx->ops->connect(ctx, addr, peer, timeout_ms);
}

uint32_t pn_tp_peer_id(const pn_tp_peer *peer)
{
	return peer ? peer->id : UINT32_MAX;
}

int pn_tp_disconnect(pn_tp_peer *peer)
{
	if (!peer)
		return -EINVAL;
	return peer->ctx->ops->disconnect(peer);
}

/* A backend's progress thread may set peer->failed while the caller posts: read it
 * atomically (backends set it with __atomic_store_n). This is only a fast path; the
 * backend decides under its own synchronisation. */
static int peer_failed(const pn_tp_peer *peer)
{
	return __atomic_load_n(&peer->failed, __ATOMIC_RELAXED);
}

/* True if [off, off+len) fits in a region of size total, without overflow. */
static int range_fits(uint64_t off, uint64_t len, uint64_t total)
{
	return off <= total && len <= total - off;
}

int pn_tp_post_read(pn_tp_peer *peer, pn_tp_mr *local, size_t local_off,
		    const pn_mr_desc *remote, uint64_t remote_off, size_t len, uint64_t cookie)
{
	if (!peer)
		return -EINVAL;
	pn_tp_ctx *ctx = peer->ctx;
	if (!local || !remote)
		return pn_tp_fail(ctx, EINVAL, "post_read: NULL region or descriptor");
	if (len == 0)
		return pn_tp_fail(ctx, EINVAL, "post_read: zero length");
	if (len > UINT32_MAX)
		return pn_tp_fail(ctx, EINVAL, "post_read: %zu bytes in one read (max 4 GiB - 1)", len);
	if (local->ctx != ctx)
		return pn_tp_fail(ctx, EINVAL, "post_read: local region belongs to another context");
	if (!(local->access & PN_ACCESS_LOCAL_WRITE))
		return pn_tp_fail(ctx, EACCES, "post_read: local region lacks LOCAL_WRITE");
	if (!range_fits(local_off, len, local->len))
		return pn_tp_fail(ctx, ERANGE, "post_read: local [%zu, +%zu) outside region of %zu bytes",
				  local_off, len, local->len);
	if (!(remote->access & PN_ACCESS_REMOTE_READ))
		return pn_tp_fail(ctx, EACCES, "post_read: remote region is not REMOTE_READ");
	if (!range_fits(remote_off, len, remote->len))
		return pn_tp_fail(ctx, ERANGE, "post_read: remote [%llu, +%zu) outside region of %llu bytes",
				  (unsigned long long)remote_off, len, (unsigned long long)remote->len);
	if (remote->owner != peer->id)
		return pn_tp_fail(ctx, EINVAL, "post_read: descriptor belongs to node %u, not peer %u",
				  remote->owner, peer->id);
	if (peer_failed(peer))
		return pn_tp_fail(ctx, ENOTCONN, "post_read: peer %u is down", peer->id);
	return ctx->ops->post_read(peer, local, local_off, remote, remote_off, len, cookie);
}

int pn_tp_send_ctrl(pn_tp_peer *peer, const void *msg, size_t len)
{
	if (!peer)
		return -EINVAL;
	pn_tp_ctx *ctx = peer->ctx;
	if (!msg)
		return pn_tp_fail(ctx, EINVAL, "send_ctrl: NULL message");
	if (len == 0)
		return pn_tp_fail(ctx, EINVAL, "send_ctrl: zero length");
	if (len > PN_TP_CTRL_MAX)
		return pn_tp_fail(ctx, EMSGSIZE, "send_ctrl: %zu bytes (max %d)", len, PN_TP_CTRL_MAX);
	if (peer_failed(peer))
		return pn_tp_fail(ctx, ENOTCONN, "send_ctrl: peer %u is down", peer->id);
	return ctx->ops->send_ctrl(peer, msg, len);
}

int pn_tp_poll(pn_tp_ctx *ctx, pn_tp_completion *out, int max, int timeout_ms)
{
	if (!ctx)
		return -EINVAL;
	if (!out || max <= 0)
		return pn_tp_fail(ctx, EINVAL, "pn_tp_poll: no completion array");
	if (timeout_ms < -1)
		return pn_tp_fail(ctx, EINVAL, "pn_tp_poll: bad timeout %d", timeout_ms);
	return ctx->ops->poll(ctx, out, max, timeout_ms);
}

void pn_tp_get_stats(const pn_tp_ctx *ctx, pn_tp_stats *out)
{
	if (!out)
		return;
	if (!ctx) {
		memset(out, 0, sizeof(*out));
		return;
	}
	if (ctx->ops->refresh_stats)
		ctx->ops->refresh_stats(ctx);
	*out = ctx->stats;
}
