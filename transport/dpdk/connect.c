/* dpdk backend: listen, accept, connect, disconnect. The handshake itself runs on the
 * service thread (handshake.c); these calls start it and wait for its outcome. */
#include "dp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_random.h>

/* "ip:udp_port" (the core splits it); an empty or '*' host keeps our own IP (listen). */
static int parse_addr(const char *addr, uint32_t *ip, uint16_t *port)
{
	char any[80], host[64], num[16];
	if (addr[0] == ':') { /* no host at all: as '*' */
		if (strlen(addr) + 2 > sizeof any)
			return -EINVAL;
		snprintf(any, sizeof any, "*%s", addr);
		addr = any;
	}
	if (pn_addr_split(addr, host, sizeof host, num, sizeof num))
		return -EINVAL;
	char *end;
	unsigned long p = strtoul(num, &end, 10);
	if (*end || p > 65535 || end == num)
		return -EINVAL;
	*port = (uint16_t)p;
	if (!strcmp(host, "*")) {
		*ip = 0;
		return 0;
	}
	return pn_parse_ipv4(host, ip);
}

int dp_listen(pn_tp_ctx *ctx, const char *addr)
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

int dp_local_addr(pn_tp_ctx *ctx, char *buf, size_t len)
{
	struct dp_ctx *c = dp_ctx(ctx);
	uint32_t ip = c->o.ip;
	snprintf(buf, len, "%u.%u.%u.%u:%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255, c->o.udp_port);
	return 0;
}

/* Wait on ctx->cond until pred() or the deadline; returns 0 or -ETIMEDOUT. Lock held. */
static bool have_accept(struct dp_ctx *c, void *arg) { (void)arg; return c->accept_len > 0; }
static bool connect_done(struct dp_ctx *c, void *arg)
{
	(void)c;
	return ((struct dp_peer *)arg)->state != DP_PEER_CONNECTING;
}

int dp_accept(pn_tp_ctx *ctx, pn_tp_peer **peer, int timeout_ms)
{
	struct dp_ctx *c = dp_ctx(ctx);
	pthread_mutex_lock(&c->lock);
	int rc = dp_wait_until(c, timeout_ms, have_accept, NULL);
	if (!rc) {
		*peer = &c->accept_q[0]->base;
		memmove(c->accept_q, c->accept_q + 1, (size_t)--c->accept_len * sizeof c->accept_q[0]);
	}
	pthread_mutex_unlock(&c->lock);
	return rc ? pn_tp_fail(ctx, ETIMEDOUT, "dpdk: no peer connected within %d ms", timeout_ms) : 0;
}

int dp_connect(pn_tp_ctx *ctx, const char *addr, pn_tp_peer **peer, int timeout_ms)
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
	int rc = dp_wait_until(c, -1, connect_done, p);
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

int dp_disconnect(pn_tp_peer *peer)
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
