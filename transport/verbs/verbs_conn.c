/* verbs backend: connections through rdma_cm (listen, accept, connect, disconnect).
 *
 * The connecting side offers its hello (job token, node id, receive depth) and the
 * read depths it can use; the listener checks the token when the request arrives (a
 * stranger is rejected at once, never queued), and pn_tp_accept answers with its own
 * hello and the negotiated depths:
 *   responder_resources = min(our max_qp_rd_atom, requester's initiator_depth)
 *   initiator_depth     = min(our max_qp_init_rd_atom, requester's responder_resources)
 * so as many READs are outstanding per QP as both devices allow. */
#include "transport/verbs/verbs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline)
{
	if (deadline == INT64_MAX)
		return -1;
	int64_t left = deadline - now_ms();
	return left <= 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
}

/* "host:port" or "[v6]:port" -> address. */
static int parse_addr(struct verbs_ctx *c, const char *addr, bool passive, struct sockaddr_storage *out)
{
	char host[256], port[16];
	int sr = pn_addr_split(addr, host, sizeof host, port, sizeof port);
	if (sr == -ENAMETOOLONG)
		return pn_tp_fail(&c->base, EINVAL, "verbs: host in '%s' is too long", addr);
	if (sr)
		return pn_tp_fail(&c->base, EINVAL, "verbs: address '%s' is not host:port", addr);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0 };
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0)
		return pn_tp_fail(&c->base, EINVAL, "verbs: cannot resolve '%s': %s", addr, gai_strerror(rc));
	memset(out, 0, sizeof(*out));
	memcpy(out, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

static void fill_hello(const struct verbs_ctx *c, uint8_t out[VERBS_HELLO_SIZE])
{
	struct verbs_hello h = { .magic = VERBS_HELLO_MAGIC, .version = VERBS_HELLO_VERSION,
				 .ctrl_depth = (uint16_t)c->ctrl_depth, .token = c->base.cfg.job_token,
				 .node_id = c->base.cfg.node_id };
	verbs_hello_pack(&h, out);
}

static uint8_t depth_cap(int v) { return v <= 0 ? 1 : v > 255 ? 255 : (uint8_t)v; }

int verbs_listen(pn_tp_ctx *ctx, const char *addr)
{
	struct verbs_ctx *c = verbs_ctx_of(ctx);
	if (c->listen_id)
		return pn_tp_fail(ctx, EALREADY, "verbs: already listening");
	struct sockaddr_storage sa;
	int rc = parse_addr(c, addr, true, &sa);
	if (rc)
		return rc;
	struct rdma_cm_id *id;
	if (rdma_create_id(c->ec, &id, NULL, RDMA_PS_TCP) != 0)
		return pn_tp_fail(ctx, errno, "verbs: rdma_create_id: %s", strerror(errno));
	if (rdma_bind_addr(id, (struct sockaddr *)&sa) != 0) {
		rc = errno;
		rdma_destroy_id(id);
		return pn_tp_fail(ctx, rc, "verbs: cannot bind %s: %s", addr, strerror(rc));
	}
	if (id->verbs && id->verbs != c->verbs) {
		rdma_destroy_id(id);
		return pn_tp_fail(ctx, EINVAL, "verbs: %s belongs to device %s, this context uses %s", addr,
				  ibv_get_device_name(id->verbs->device), verbs_device_name(c));
	}
	if (rdma_listen(id, 64) != 0) {
		rc = errno;
		rdma_destroy_id(id);
		return pn_tp_fail(ctx, rc, "verbs: rdma_listen %s: %s", addr, strerror(rc));
	}
	c->listen_id = id;
	return 0;
}

int verbs_local_addr(pn_tp_ctx *ctx, char *buf, size_t len)
{
	struct verbs_ctx *c = verbs_ctx_of(ctx);
	if (!c->listen_id)
		return pn_tp_fail(ctx, ENOTCONN, "verbs: local_addr before listen");
	struct sockaddr *sa = rdma_get_local_addr(c->listen_id);
	char ip[INET6_ADDRSTRLEN];
	const void *a = sa->sa_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)sa)->sin6_addr
						  : (const void *)&((struct sockaddr_in *)sa)->sin_addr;
	if (!inet_ntop(sa->sa_family, a, ip, sizeof(ip)))
		return pn_tp_fail(ctx, errno, "verbs: inet_ntop: %s", strerror(errno));
	unsigned port = ntohs(rdma_get_src_port(c->listen_id));
	int n = snprintf(buf, len, sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
	if (n < 0 || (size_t)n >= len)
		return pn_tp_fail(ctx, ENOSPC, "verbs: address buffer of %zu bytes is too small", len);
	return 0;
}

void verbs_request_drop(struct verbs_ctx *c, struct verbs_request *r, enum verbs_reject why)
{
	/* unlink (r is always the head when called) */
	c->req_head = r->next;
	if (!c->req_head)
		c->req_tail = NULL;
	c->nreq--;
	if (r->id) {
		if (!r->gone) {
			struct verbs_hello h = { .magic = VERBS_HELLO_MAGIC, .version = VERBS_HELLO_VERSION,
						 .reject = (uint32_t)why };
			uint8_t pd[VERBS_HELLO_SIZE];
			verbs_hello_pack(&h, pd);
			rdma_reject(r->id, pd, sizeof(pd));
		}
		rdma_destroy_id(r->id);
	}
	free(r);
}

/* Wait until the peer reaches at least `want` (or goes down), pumping rdma_cm events. */
static int wait_state(struct verbs_ctx *c, struct verbs_peer *p, enum verbs_peer_state want, int64_t deadline)
{
	while (p->state < want) {
		int left = remaining_ms(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		int rc = verbs_cm_pump(c, left);
		if (rc < 0)
			return rc;
	}
	return p->state == PEER_DOWN ? p->down_err : 0;
}

static int accept_request(struct verbs_ctx *c, struct verbs_request *r, pn_tp_peer **out, int64_t deadline)
{
	/* Take the request off the queue; its cm_id becomes the peer's. */
	c->req_head = r->next;
	if (!c->req_head)
		c->req_tail = NULL;
	c->nreq--;
	struct rdma_cm_id *id = r->id;
	struct verbs_peer *p = verbs_peer_new(c, id);
	if (!p) {
		r->next = c->req_head; /* put it back so drop() unlinks it */
		c->req_head = r;
		if (!c->req_tail)
			c->req_tail = r;
		c->nreq++;
		verbs_request_drop(c, r, VERBS_REJ_RESOURCES);
		return pn_tp_fail(&c->base, ENOMEM, "verbs: out of memory for a peer");
	}
	p->base.id = r->hello.node_id;
	p->credits = r->hello.ctrl_depth;
	p->responder_resources = depth_cap(c->dev_attr.max_qp_rd_atom < r->initiator_depth
						   ? c->dev_attr.max_qp_rd_atom : r->initiator_depth);
	p->initiator_depth = depth_cap(c->dev_attr.max_qp_init_rd_atom < r->responder_resources
					       ? c->dev_attr.max_qp_init_rd_atom : r->responder_resources);
	free(r);
	int rc = verbs_peer_setup_qp(p);
	if (rc) {
		char why[sizeof(((struct verbs_peer *)0)->why) + 128];
		snprintf(why, sizeof(why), "%s", c->base.err);
		struct verbs_hello h = { .magic = VERBS_HELLO_MAGIC, .version = VERBS_HELLO_VERSION,
					 .reject = VERBS_REJ_RESOURCES };
		uint8_t pd[VERBS_HELLO_SIZE];
		verbs_hello_pack(&h, pd);
		rdma_reject(p->id, pd, sizeof(pd));
		verbs_peer_down(p, rc, false, why);
		return pn_tp_fail(&c->base, rc, "%s", why);
	}
	uint8_t hello[VERBS_HELLO_SIZE];
	fill_hello(c, hello);
	struct rdma_conn_param cp = { .private_data = hello, .private_data_len = sizeof(hello),
				      .responder_resources = p->responder_resources,
				      .initiator_depth = p->initiator_depth, .rnr_retry_count = 6 };
	if (rdma_accept(p->id, &cp) != 0) {
		rc = errno;
		char why[120];
		snprintf(why, sizeof(why), "rdma_accept: %s", strerror(rc));
		verbs_peer_down(p, -rc, false, why);
		return pn_tp_fail(&c->base, rc, "verbs: %s", why);
	}
	rc = wait_state(c, p, PEER_UP, deadline);
	if (rc) {
		char why[sizeof(((struct verbs_peer *)0)->why) + 128];
		snprintf(why, sizeof(why), "%s", rc == -ETIMEDOUT ? "no ESTABLISHED after accept" : p->why);
		verbs_peer_down(p, rc, false, why);
		return pn_tp_fail(&c->base, rc, "verbs: accepting node %u: %s", p->base.id, why);
	}
	verbs_announce_all(p);
	*out = &p->base;
	return 0;
}

int verbs_accept(pn_tp_ctx *ctx, pn_tp_peer **peer, int timeout_ms)
{
	struct verbs_ctx *c = verbs_ctx_of(ctx);
	if (!c->listen_id)
		return pn_tp_fail(ctx, EINVAL, "verbs: accept before listen");
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
	for (;;) {
		int rc = verbs_cm_pump(c, 0);
		if (rc < 0)
			return rc;
		while (c->req_head && c->req_head->gone)
			verbs_request_drop(c, c->req_head, VERBS_REJ_NONE);
		if (c->req_head)
			return accept_request(c, c->req_head, peer, deadline);
		int left = remaining_ms(deadline);
		if (left == 0)
			return pn_tp_fail(ctx, ETIMEDOUT, "verbs: no peer connected within %d ms", timeout_ms);
		rc = verbs_cm_pump(c, left);
		if (rc < 0)
			return rc;
	}
}

int verbs_connect(pn_tp_ctx *ctx, const char *addr, pn_tp_peer **peer, int timeout_ms)
{
	struct verbs_ctx *c = verbs_ctx_of(ctx);
	struct sockaddr_storage dst, src;
	int rc = parse_addr(c, addr, false, &dst);
	if (rc)
		return rc;
	if (c->bind_ip[0]) {
		char s[80];
		snprintf(s, sizeof(s), strchr(c->bind_ip, ':') ? "[%s]:0" : "%s:0", c->bind_ip);
		if ((rc = parse_addr(c, s, true, &src)) != 0)
			return rc;
	}
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
	struct rdma_cm_id *id;
	if (rdma_create_id(c->ec, &id, NULL, RDMA_PS_TCP) != 0)
		return pn_tp_fail(ctx, errno, "verbs: rdma_create_id: %s", strerror(errno));
	struct verbs_peer *p = verbs_peer_new(c, id);
	if (!p) {
		rdma_destroy_id(id);
		return pn_tp_fail(ctx, ENOMEM, "verbs: out of memory for a peer");
	}
	p->active = true;
	int step_ms = remaining_ms(deadline);
	if (step_ms < 0 || step_ms > 5000)
		step_ms = 5000;
	const char *stage = "resolving the address";
	if (rdma_resolve_addr(id, c->bind_ip[0] ? (struct sockaddr *)&src : NULL, (struct sockaddr *)&dst,
			      step_ms ? step_ms : 1) != 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = wait_state(c, p, PEER_ADDR_OK, deadline)) != 0)
		goto fail;
	if (id->verbs != c->verbs) {
		rc = -ENETUNREACH;
		snprintf(p->why, sizeof(p->why), "%s is reached through device %s, this context uses %s", addr,
			 id->verbs ? ibv_get_device_name(id->verbs->device) : "none", verbs_device_name(c));
		stage = NULL;
		goto fail;
	}
	stage = "resolving the route";
	if (rdma_resolve_route(id, step_ms ? step_ms : 1) != 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = wait_state(c, p, PEER_ROUTE_OK, deadline)) != 0)
		goto fail;
	stage = "setting up the QP";
	if ((rc = verbs_peer_setup_qp(p)) != 0) {
		snprintf(p->why, sizeof(p->why), "%s", c->base.err);
		stage = NULL;
		goto fail;
	}
	uint8_t hello[VERBS_HELLO_SIZE];
	fill_hello(c, hello);
	struct rdma_conn_param cp = { .private_data = hello, .private_data_len = sizeof(hello),
				      .responder_resources = depth_cap(c->dev_attr.max_qp_rd_atom),
				      .initiator_depth = depth_cap(c->dev_attr.max_qp_init_rd_atom),
				      .retry_count = 7, .rnr_retry_count = 6 };
	stage = "connecting";
	if (rdma_connect(id, &cp) != 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = wait_state(c, p, PEER_UP, deadline)) != 0)
		goto fail;
	verbs_announce_all(p);
	*peer = &p->base;
	return 0;
fail:
	if (rc == 0)
		rc = -EIO;
	{
		char why[sizeof(((struct verbs_peer *)0)->why) + 128];
		if (!stage)
			snprintf(why, sizeof(why), "%s", p->why);
		else if (rc == -ETIMEDOUT)
			snprintf(why, sizeof(why), "timed out %s (%d ms)", stage, timeout_ms);
		else if (p->state == PEER_DOWN)
			snprintf(why, sizeof(why), "%s: %s", stage, p->why);
		else
			snprintf(why, sizeof(why), "%s: %s", stage, strerror(-rc));
		verbs_peer_down(p, rc, false, why);
		return pn_tp_fail(ctx, -rc, "verbs: connect %s: %s", addr, why);
	}
}

int verbs_disconnect(pn_tp_peer *peer)
{
	verbs_peer_down(verbs_peer_of(peer), -ECANCELED, false, "disconnected locally");
	return 0;
}
