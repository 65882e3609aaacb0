/* verbs backend: connections through rdma_cm (listen, accept, connect, disconnect).
 *
 * The connecting side offers its hello (node id, receive depth, nonce) and the read
 * depths it can use; a malformed request is rejected at once, never queued.
 * pn_tp_accept answers with its own hello (node id, depth, nonce, proof) and the
 * negotiated depths, and returns the peer only once the requester's proof, its first
 * control message, checked (transport/AUTH.md). Handshakes in progress outlive an
 * accept call that times out, so a caller polling accept with short timeouts never
 * tears down a connection the requester already considers up. Depths:
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

/* "host:port" or "[v6]:port" -> address. */
static int parse_addr(struct verbs_ctx *c, const char *addr, bool passive, struct sockaddr_storage *out)
{
	struct addrinfo *ai = NULL;
	int rc = pn_tp_resolve(&c->base, addr, passive, &ai);
	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	memcpy(out, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

static void fill_hello(const struct verbs_ctx *c, const uint8_t nonce[VERBS_NONCE_LEN],
		       const uint8_t *proof, uint8_t out[VERBS_ACCEPT_SIZE])
{
	struct verbs_hello h = { .magic = VERBS_HELLO_MAGIC, .version = VERBS_HELLO_VERSION,
				 .ctrl_depth = (uint16_t)c->ctrl_depth, .node_id = c->base.cfg.node_id };
	memcpy(h.nonce, nonce, VERBS_NONCE_LEN);
	if (proof)
		memcpy(h.proof, proof, VERBS_PROOF_LEN);
	verbs_hello_pack(&h, proof != NULL, out);
}

static uint8_t depth_cap(int v) { return v <= 0 ? 1 : v > 255 ? 255 : (uint8_t)v; }

int verbs_listen(pn_tp_ctx *ctx, const char *addr)
{
	struct verbs_ctx *c = verbs_ctx_of(ctx);
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
		if (!r->gone)
			verbs_reject(r->id, why);
		rdma_destroy_id(r->id);
	}
	free(r);
}

/* Wait until the peer reaches at least `want` (or goes down), pumping rdma_cm events. */
static int wait_state(struct verbs_ctx *c, struct verbs_peer *p, enum verbs_peer_state want, int64_t deadline)
{
	while (p->state < want) {
		int left = pn_tp_left_ms(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		int rc = verbs_cm_pump(c, left);
		if (rc < 0)
			return rc;
	}
	return p->state == PEER_DOWN ? p->down_err : 0;
}

/* Answer one queued request: QP (receives posted first), our nonce and proof in the
 * accept. The peer then waits, across accept calls, for ESTABLISHED and the requester's
 * proof (its first control message) until hs_deadline_ms. 0, or <0 with the request
 * gone (rejected). */
static int accept_request(struct verbs_ctx *c, struct verbs_request *r)
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
	p->auth = (struct pn_auth_transcript){ .label = "verbs", .id_req = r->hello.node_id,
					       .id_lis = c->base.cfg.node_id };
	memcpy(p->auth.nonce_req, r->hello.nonce, VERBS_NONCE_LEN);
	free(r);
	uint8_t proof[VERBS_PROOF_LEN];
	int rc = verbs_peer_setup_qp(p);
	if (rc == 0 && (pn_auth_nonce(p->auth.nonce_lis) || pn_auth_prove(&c->base, PN_AUTH_LISTENER, &p->auth, proof)))
		rc = pn_tp_fail(&c->base, EIO, "verbs: no nonce or proof (libcrypto)");
	if (rc) {
		verbs_reject(p->id, VERBS_REJ_RESOURCES);
		verbs_peer_down(p, rc, false, "%s", c->base.err);
		return pn_tp_fail(&c->base, rc, "%s", p->why);
	}
	uint8_t hello[VERBS_ACCEPT_SIZE];
	fill_hello(c, p->auth.nonce_lis, proof, hello);
	struct rdma_conn_param cp = { .private_data = hello, .private_data_len = sizeof(hello),
				      .responder_resources = p->responder_resources,
				      .initiator_depth = p->initiator_depth, .rnr_retry_count = 6 };
	if (rdma_accept(p->id, &cp) != 0) {
		rc = errno;
		verbs_peer_down(p, -rc, false, "rdma_accept: %s", strerror(rc));
		return pn_tp_fail(&c->base, rc, "verbs: %s", p->why);
	}
	p->hs_deadline_ms = pn_tp_deadline(VERBS_HANDSHAKE_MS);
	return 0;
}

/* Accepted peers whose handshake ended: return one that proved itself, drop those out
 * of time. */
static struct verbs_peer *handshakes_done(struct verbs_ctx *c)
{
	int64_t t = pn_tp_now_ms();
	for (uint32_t i = 0; i < c->npeers; i++) {
		struct verbs_peer *p = c->peers[i];
		if (p->active || p->returned || p->state == PEER_DOWN)
			continue;
		if (p->state == PEER_UP) {
			p->returned = true;
			return p;
		}
		if (t >= p->hs_deadline_ms) {
			c->base.stats.drop_malformed++;
			verbs_peer_down(p, -ETIMEDOUT, false, p->established ? "no proof from the requester in time"
									     : "no ESTABLISHED after accept");
		}
	}
	return NULL;
}

static bool handshakes_pending(const struct verbs_ctx *c)
{
	for (uint32_t i = 0; i < c->npeers; i++) {
		const struct verbs_peer *p = c->peers[i];
		if (!p->active && !p->returned && p->state != PEER_DOWN)
			return true;
	}
	return false;
}

int verbs_accept(pn_tp_ctx *ctx, pn_tp_peer **peer, int timeout_ms)
{
	struct verbs_ctx *c = verbs_ctx_of(ctx);
	int64_t deadline = pn_tp_deadline(timeout_ms);
	for (;;) {
		int rc = verbs_cm_pump(c, 0);
		if (rc < 0)
			return rc;
		while (c->req_head && c->req_head->gone)
			verbs_request_drop(c, c->req_head, VERBS_REJ_NONE);
		while (c->req_head)
			if ((rc = accept_request(c, c->req_head)) != 0)
				return rc;
		/* proofs arrive as receives */
		if ((rc = verbs_drain_cq(c)) < 0)
			return rc;
		struct verbs_peer *p = handshakes_done(c);
		if (p) {
			*peer = &p->base;
			return 0;
		}
		int left = pn_tp_left_ms(deadline);
		if (left == 0)
			return pn_tp_fail(ctx, ETIMEDOUT, "verbs: no peer connected within %d ms", timeout_ms);
		/* a proof shows up in the CQ, not on the rdma_cm channel: look often then */
		if (handshakes_pending(c) && (left < 0 || left > 1))
			left = 1;
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
	int64_t deadline = pn_tp_deadline(timeout_ms);
	struct rdma_cm_id *id;
	if (rdma_create_id(c->ec, &id, NULL, RDMA_PS_TCP) != 0)
		return pn_tp_fail(ctx, errno, "verbs: rdma_create_id: %s", strerror(errno));
	struct verbs_peer *p = verbs_peer_new(c, id);
	if (!p) {
		rdma_destroy_id(id);
		return pn_tp_fail(ctx, ENOMEM, "verbs: out of memory for a peer");
	}
	p->active = true;
	int step_ms = pn_tp_left_ms(deadline);
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
		pn_errf(p->why, sizeof(p->why), "%s is reached through device %s, this context uses %s", addr,
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
		pn_errf(p->why, sizeof(p->why), "%s", c->base.err);
		stage = NULL;
		goto fail;
	}
	p->auth = (struct pn_auth_transcript){ .label = "verbs", .id_req = c->base.cfg.node_id };
	if (pn_auth_nonce(p->auth.nonce_req)) {
		rc = -EIO;
		pn_errf(p->why, sizeof(p->why), "no random nonce (libcrypto)");
		stage = NULL;
		goto fail;
	}
	uint8_t hello[VERBS_ACCEPT_SIZE];
	fill_hello(c, p->auth.nonce_req, NULL, hello);
	struct rdma_conn_param cp = { .private_data = hello, .private_data_len = VERBS_HELLO_SIZE,
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
	if (stage && rc == -ETIMEDOUT && p->state == PEER_DOWN)
		return pn_tp_fail(ctx, ETIMEDOUT, "verbs: connect %s: timed out %s (%d ms)", addr, stage, timeout_ms);
	if (stage && p->state == PEER_DOWN) /* down already: its reason stays, say at which stage */
		return pn_tp_fail(ctx, -rc, "verbs: connect %s: %s: %s", addr, stage, p->why);
	if (!stage)
		verbs_peer_down(p, rc, false, "%s", p->why);
	else if (rc == -ETIMEDOUT)
		verbs_peer_down(p, rc, false, "timed out %s (%d ms)", stage, timeout_ms);
	else
		verbs_peer_down(p, rc, false, "%s: %s", stage, strerror(-rc));
	return pn_tp_fail(ctx, -rc, "verbs: connect %s: %s", addr, p->why);
}

int verbs_disconnect(pn_tp_peer *peer)
{
	verbs_peer_down(verbs_peer_of(peer), -ECANCELED, false, "disconnected locally");
	return 0;
}
