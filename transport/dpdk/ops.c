/* The dpdk backend's ops table: the application-facing half. These calls only queue work
 * for the service thread or collect its results, under ctx->lock. */
#include "dp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_malloc.h>
#include <rte_memory.h>
#include <rte_random.h>

static pn_tp_ctx *dp_open(const pn_tp_config *cfg, char *err, size_t errlen)
{
	struct dp_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "dpdk: out of memory");
		return NULL;
	}
	c->base.ops = &pn_tp_dpdk_ops;
	c->base.cfg = *cfg;
	snprintf(c->base.options_buf, sizeof c->base.options_buf, "%s", cfg->options ? cfg->options : "");
	c->base.cfg.options = c->base.options_buf;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);

	if (dp_parse_options(cfg->options, cfg->node_id, &c->o, err, errlen))
		goto fail;
	int rc = dp_eal_start(c, err, errlen);
	if (rc) {
		dp_eal_stop(c); /* no-op unless the EAL came up */
		goto fail;
	}
	if ((rc = dp_service_start(c))) {
		snprintf(err, errlen, "dpdk: cannot start service thread: %s", strerror(-rc));
		dp_eal_stop(c);
		goto fail;
	}
	return &c->base;
fail:
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
	return NULL;
}

static void free_region(struct dp_mr *mr)
{
	if (mr->base.owned)
		rte_free(mr->base.addr);
	free(mr);
}

static void dp_close(pn_tp_ctx *ctx)
{
	struct dp_ctx *c = dp_ctx(ctx);
	/* stop polling before anything else (a memif peer must not see us vanish mid-poll) */
	dp_service_stop(c);
	for (int i = 0; i < c->npeers; i++) {
		dp_fail_peer_ops(c, c->peers[i], -ECANCELED);
		free(c->peers[i]);
	}
	/* ports first: frames a driver still holds point into regions and call back into
	 * them when released */
	dp_ports_close(c);
	for (int i = 0; i < DP_MAX_REGIONS; i++)
		if (c->regions[i])
			free_region(c->regions[i]);
	dp_eal_stop(c);
	free(c->cq);
	free(c->poll_data);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}

static size_t dp_preferred_chunk(const pn_tp_ctx *ctx)
{
	const struct dp_ctx *c = (const struct dp_ctx *)ctx;
	return (size_t)c->o.frames_per_req * c->payload_max;
}

static int add_region(struct dp_ctx *c, void *buf, size_t len, unsigned access, bool owned, pn_tp_mr **out)
{
	struct dp_mr *mr = calloc(1, sizeof *mr);
	if (!mr)
		return pn_tp_fail(&c->base, ENOMEM, "dpdk: out of memory");
	const struct rte_memseg_list *a = rte_mem_virt2memseg_list(buf);
	mr->dpdk_mem = a && a == rte_mem_virt2memseg_list((uint8_t *)buf + len - 1);
	mr->base.ctx = &c->base;
	mr->base.addr = buf;
	mr->base.len = len;
	mr->base.access = access;
	mr->base.owned = owned;
	pthread_mutex_lock(&c->lock);
	int slot = -1;
	for (int i = 0; i < DP_MAX_REGIONS; i++)
		if (!c->regions[i]) {
			slot = i;
			break;
		}
	if (slot < 0) {
		pthread_mutex_unlock(&c->lock);
		free(mr);
		return pn_tp_fail(&c->base, ENOSPC, "dpdk: too many registered regions (max %d)", DP_MAX_REGIONS);
	}
	/* key = slot in the low bits, random high bits: a stale or guessed key misses */
	mr->key = (uint32_t)slot | (uint32_t)(rte_rand() << 10 | 1u << 10);
	mr->slot = slot;
	mr->base.desc = (pn_mr_desc){.addr = 0, .len = len, .key = mr->key,
				     .owner = c->base.cfg.node_id, .access = access};
	c->regions[slot] = mr;
	pthread_mutex_unlock(&c->lock);
	*out = &mr->base;
	return 0;
}

static int dp_alloc(pn_tp_ctx *ctx, size_t len, unsigned access, void **buf, pn_tp_mr **mr)
{
	if (!len)
		return pn_tp_fail(ctx, EINVAL, "dpdk: zero-length allocation");
	/* DPDK memory: memif zero-copy can hand it to the peer as is */
	void *p = rte_zmalloc("pn_region", len, 4096);
	if (!p)
		return pn_tp_fail(ctx, ENOMEM, "dpdk: rte_zmalloc(%zu) failed (raise mem_mb or hugepages)", len);
	int rc = add_region(dp_ctx(ctx), p, len, access, true, mr);
	if (rc) {
		rte_free(p);
		return rc;
	}
	*buf = p;
	return 0;
}

static int dp_reg(pn_tp_ctx *ctx, void *buf, size_t len, unsigned access, pn_tp_mr **mr)
{
	if (!buf || !len)
		return pn_tp_fail(ctx, EINVAL, "dpdk: register needs a buffer and a length");
	return add_region(dp_ctx(ctx), buf, len, access, false, mr);
}

static int dp_dereg(pn_tp_mr *m)
{
	struct dp_mr *mr = (struct dp_mr *)m;
	struct dp_ctx *c = dp_ctx(m->ctx);
	pthread_mutex_lock(&c->lock);
	c->regions[mr->slot] = NULL;
	pthread_mutex_unlock(&c->lock);
	/* frames still queued in a port may point into the region: wait for them */
	atomic_fetch_add(&c->reclaim_wanted, 1);
	for (int i = 0; i < 50000 && atomic_load(&mr->tx_refs); i++) {
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	atomic_fetch_sub(&c->reclaim_wanted, 1);
	if (atomic_load(&mr->tx_refs))
		return pn_tp_fail(&c->base, EBUSY, "dpdk: region still referenced by queued frames; leaked");
	free_region(mr);
	return 0;
}

static int parse_addr(const char *addr, uint32_t *ip, uint16_t *port)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof host)
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end || p > 65535 || end == colon + 1)
		return -EINVAL;
	*port = (uint16_t)p;
	if (!host[0] || !strcmp(host, "*")) {
		*ip = 0;
		return 0;
	}
	return dp_parse_ipv4(host, ip);
}

static int dp_listen(pn_tp_ctx *ctx, const char *addr)
{
	struct dp_ctx *c = dp_ctx(ctx);
	uint32_t ip;
	uint16_t port;
	if (parse_addr(addr, &ip, &port))
		return pn_tp_fail(ctx, EINVAL, "dpdk: listen address '%s' is not ip:udp_port", addr);
	pthread_mutex_lock(&c->lock);
	if (ip)
		c->o.ip = ip;
	if (port)
		c->o.udp_port = port;
	c->listening = true;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int dp_local_addr(pn_tp_ctx *ctx, char *buf, size_t len)
{
	struct dp_ctx *c = dp_ctx(ctx);
	uint32_t ip = c->o.ip;
	snprintf(buf, len, "%u.%u.%u.%u:%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255, c->o.udp_port);
	return 0;
}

/* Wait on ctx->cond until pred() or the deadline; returns 0 or -ETIMEDOUT. Lock held. */
static int wait_until(struct dp_ctx *c, int timeout_ms, bool (*pred)(struct dp_ctx *, void *), void *arg)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	if (timeout_ms > 0) {
		dl.tv_sec += timeout_ms / 1000;
		dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
	}
	while (!pred(c, arg)) {
		if (timeout_ms == 0)
			return -ETIMEDOUT;
		if (timeout_ms < 0)
			pthread_cond_wait(&c->cond, &c->lock);
		else if (pthread_cond_timedwait(&c->cond, &c->lock, &dl) == ETIMEDOUT)
			return pred(c, arg) ? 0 : -ETIMEDOUT;
	}
	return 0;
}

static bool have_accept(struct dp_ctx *c, void *arg) { (void)arg; return c->accept_len > 0; }
static bool have_cqe(struct dp_ctx *c, void *arg) { (void)arg; return c->cq_len > 0; }
static bool connect_done(struct dp_ctx *c, void *arg)
{
	(void)c;
	return ((struct dp_peer *)arg)->state != DP_PEER_CONNECTING;
}

static int dp_accept(pn_tp_ctx *ctx, pn_tp_peer **peer, int timeout_ms)
{
	struct dp_ctx *c = dp_ctx(ctx);
	if (!c->listening)
		return pn_tp_fail(ctx, EINVAL, "dpdk: accept before listen");
	pthread_mutex_lock(&c->lock);
	int rc = wait_until(c, timeout_ms, have_accept, NULL);
	if (!rc) {
		*peer = &c->accept_q[0]->base;
		memmove(c->accept_q, c->accept_q + 1, (size_t)--c->accept_len * sizeof c->accept_q[0]);
	}
	pthread_mutex_unlock(&c->lock);
	return rc ? pn_tp_fail(ctx, ETIMEDOUT, "dpdk: no peer connected within %d ms", timeout_ms) : 0;
}

static int dp_connect(pn_tp_ctx *ctx, const char *addr, pn_tp_peer **peer, int timeout_ms)
{
	struct dp_ctx *c = dp_ctx(ctx);
	uint32_t ip;
	uint16_t port;
	if (parse_addr(addr, &ip, &port) || !ip || !port)
		return pn_tp_fail(ctx, EINVAL, "dpdk: connect address '%s' is not ip:udp_port", addr);
	pthread_mutex_lock(&c->lock);
	struct dp_peer *p = dp_peer_new(c);
	if (!p) {
		pthread_mutex_unlock(&c->lock);
		return pn_tp_fail(ctx, ENOSPC, "dpdk: too many peers");
	}
	p->connector = true;
	p->base.id = UINT32_MAX;
	p->ip = ip;
	p->udp_port = port;
	p->nonce = rte_rand() | 1;
	if (pn_auth_nonce(p->nonce_r)) {
		p->state = DP_PEER_DOWN;
		pthread_mutex_unlock(&c->lock);
		return pn_tp_fail(ctx, EIO, "dpdk: no random nonce (libcrypto)");
	}
	p->state = DP_PEER_CONNECTING;
	uint64_t now = dp_now_ns();
	p->hello_next_ns = 0;
	p->hello_deadline_ns = timeout_ms < 0 ? UINT64_MAX : now + (uint64_t)timeout_ms * 1000000;
	int rc = wait_until(c, -1, connect_done, p);
	bool up = !rc && p->state == DP_PEER_UP, refused = p->refused, bad_listener = p->auth_failed;
	uint8_t stage = p->hs_stage;
	pthread_mutex_unlock(&c->lock);
	if (bad_listener)
		return pn_tp_fail(ctx, EACCES, "dpdk: %s could not prove it knows the job secret (the two "
				  "sides were given different secrets)", addr);
	if (refused)
		return pn_tp_fail(ctx, ECONNREFUSED, "dpdk: %s refused our proof of the job secret", addr);
	if (!up)
		return pn_tp_fail(ctx, ETIMEDOUT, "dpdk: %s from %s within %d ms (wrong address, or link down)",
				  stage ? "no READY" : "no ACCEPT", addr, timeout_ms);
	*peer = &p->base;
	return 0;
}

static int dp_disconnect(pn_tp_peer *peer)
{
	struct dp_peer *p = (struct dp_peer *)peer;
	struct dp_ctx *c = dp_ctx(peer->ctx);
	pthread_mutex_lock(&c->lock);
	dp_fail_peer_ops(c, p, -ECANCELED);
	p->state = DP_PEER_DOWN;
	__atomic_store_n(&p->base.failed, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int dp_post_read(pn_tp_peer *peer, pn_tp_mr *local, size_t local_off,
			const pn_mr_desc *remote, uint64_t remote_off, size_t len, uint64_t cookie)
{
	struct dp_peer *p = (struct dp_peer *)peer;
	struct dp_ctx *c = dp_ctx(peer->ctx);
	if (!(local->access & PN_ACCESS_LOCAL_WRITE))
		return pn_tp_fail(&c->base, EACCES, "dpdk: local region is not LOCAL_WRITE");
	if (local_off > local->len || len > local->len - local_off)
		return pn_tp_fail(&c->base, EINVAL, "dpdk: read of %zu bytes at %zu overruns the local region (%zu)",
				  len, local_off, local->len);
	if (remote_off > remote->len || len > remote->len - remote_off)
		return pn_tp_fail(&c->base, EINVAL, "dpdk: read beyond the remote region's advertised length");
	uint64_t sub_bytes = (uint64_t)c->o.frames_per_req * c->payload_max;
	uint64_t nsub = (len + sub_bytes - 1) / sub_bytes;
	if (nsub >= 1u << DP_SUB_SHIFT)
		return pn_tp_fail(&c->base, EINVAL, "dpdk: read too large; split it");
	pthread_mutex_lock(&c->lock);
	if (p->state != DP_PEER_UP) {
		pthread_mutex_unlock(&c->lock);
		return pn_tp_fail(&c->base, ENOTCONN, "dpdk: peer %u is down", p->base.id);
	}
	c->base.stats.reads_posted++;
	if (len == 0) {
		struct dp_cqe *e = dp_cq_push(c);
		if (e) {
			e->c = (pn_tp_completion){.event = PN_TP_READ_DONE, .cookie = cookie,
						  .peer = peer, .peer_id = p->base.id};
			c->base.stats.reads_completed++;
		}
		pthread_mutex_unlock(&c->lock);
		return e ? 0 : pn_tp_fail(&c->base, ENOMEM, "dpdk: out of memory");
	}
	uint32_t cap = c->base.cfg.max_reads_in_flight ? c->base.cfg.max_reads_in_flight : DP_MAX_OPS;
	if (p->nops >= cap) {
		pthread_mutex_unlock(&c->lock);
		c->base.stats.reads_posted--;
		return pn_tp_fail(&c->base, EAGAIN, "dpdk: %u reads outstanding to peer %u; poll first", cap, p->base.id);
	}
	struct dp_op *op = NULL;
	for (uint64_t i = 0; i < DP_MAX_OPS && c->ops_used < DP_MAX_OPS; i++) {
		uint64_t gen = ++c->op_gen;
		if (!c->ops[gen % DP_MAX_OPS].id) {
			op = &c->ops[gen % DP_MAX_OPS];
			op->id = gen;
			break;
		}
	}
	struct dp_sub *subs = op ? calloc(nsub, sizeof *subs) : NULL;
	if (!subs) {
		if (op)
			op->id = 0;
		pthread_mutex_unlock(&c->lock);
		c->base.stats.reads_posted--;
		return op ? pn_tp_fail(&c->base, ENOMEM, "dpdk: out of memory")
			  : pn_tp_fail(&c->base, EAGAIN, "dpdk: %d reads outstanding; poll first", DP_MAX_OPS);
	}
	for (uint64_t i = 0; i < nsub; i++) {
		subs[i].start = i * sub_bytes;
		subs[i].len = (uint32_t)(len - subs[i].start < sub_bytes ? len - subs[i].start : sub_bytes);
		subs[i].nframes = (uint8_t)((subs[i].len + c->payload_max - 1) / c->payload_max);
	}
	op->peer = p;
	op->dst = (uint8_t *)local->addr + local_off;
	op->key = remote->key;
	op->roff = remote->addr + remote_off;
	op->len = len;
	op->cookie = cookie;
	op->nsub = (uint32_t)nsub;
	op->subs = subs;
	op->next = NULL;
	if (p->ops_tail)
		p->ops_tail->next = op;
	else
		p->ops_head = op;
	p->ops_tail = op;
	p->nops++;
	c->ops_used++;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int dp_send_ctrl(pn_tp_peer *peer, const void *msg, size_t len)
{
	struct dp_peer *p = (struct dp_peer *)peer;
	struct dp_ctx *c = dp_ctx(peer->ctx);
	if (len > PN_TP_CTRL_MAX)
		return pn_tp_fail(&c->base, EMSGSIZE, "dpdk: control message of %zu bytes (max %d)", len, PN_TP_CTRL_MAX);
	pthread_mutex_lock(&c->lock);
	int rc = 0;
	if (p->state != DP_PEER_UP)
		rc = pn_tp_fail(&c->base, ENOTCONN, "dpdk: peer %u is down", p->base.id);
	else if (p->ctrl_next - p->ctrl_acked >= DP_CTRL_WINDOW)
		rc = pn_tp_fail(&c->base, EAGAIN, "dpdk: %d control messages unacknowledged", DP_CTRL_WINDOW);
	else {
		struct dp_ctrl_msg *m = &p->ctrl_q[p->ctrl_next % DP_CTRL_WINDOW];
		m->seq = p->ctrl_next++;
		m->len = (uint16_t)len;
		memcpy(m->data, msg, len);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static int dp_poll(pn_tp_ctx *ctx, pn_tp_completion *out, int max, int timeout_ms)
{
	struct dp_ctx *c = dp_ctx(ctx);
	if (max <= 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	wait_until(c, timeout_ms, have_cqe, NULL);
	int n = dp_cq_pop(c, out, max);
	pthread_mutex_unlock(&c->lock);
	return n;
}

const struct pn_tp_ops pn_tp_dpdk_ops = {
	.name = "dpdk",
	.open = dp_open,
	.close = dp_close,
	.preferred_chunk = dp_preferred_chunk,
	.alloc = dp_alloc,
	.reg = dp_reg,
	.dereg = dp_dereg,
	.listen = dp_listen,
	.local_addr = dp_local_addr,
	.accept = dp_accept,
	.connect = dp_connect,
	.disconnect = dp_disconnect,
	.post_read = dp_post_read,
	.send_ctrl = dp_send_ctrl,
	.poll = dp_poll,
	.refresh_stats = NULL,
};
