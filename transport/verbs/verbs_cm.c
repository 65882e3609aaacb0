/* verbs backend: the rdma_cm event pump. One event channel per context; every cm_id's
 * context points at a struct verbs_obj (a peer or a pending request), so events are
 * dispatched by object, whichever call happens to be pumping (accept, connect, poll).
 *
 * Each event is copied and acknowledged before it is handled: handling may destroy the
 * cm_id, and rdma_destroy_id waits until every event it reported has been acked. */
#include "transport/verbs/verbs.h"
#include "transport/list.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PRIVATE 96 /* we use at most VERBS_ACCEPT_SIZE */

struct cm_event_copy {
	enum rdma_cm_event_type type;
	int status;
	struct rdma_cm_id *id, *listen_id;
	uint8_t private_data[MAX_PRIVATE];
	uint8_t private_len;
	uint8_t initiator_depth, responder_resources;
};

int verbs_cm_fd(const struct verbs_ctx *c)
{
	return c->ec->fd;
}

static struct verbs_peer *peer_of(struct rdma_cm_id *id)
{
	struct verbs_obj *o = id ? id->context : NULL;
	if (!o || o->kind != VERBS_OBJ_PEER)
		return NULL;
	return (struct verbs_peer *)((char *)o - offsetof(struct verbs_peer, obj));
}

static struct verbs_request *request_of(struct rdma_cm_id *id)
{
	struct verbs_obj *o = id ? id->context : NULL;
	if (!o || o->kind != VERBS_OBJ_REQUEST)
		return NULL;
	return (struct verbs_request *)((char *)o - offsetof(struct verbs_request, obj));
}

/* A refusal carries the reason only: nothing of ours (no node id, no nonce). */
void verbs_reject(struct rdma_cm_id *id, enum verbs_reject why)
{
	struct verbs_hello h = { .magic = VERBS_HELLO_MAGIC, .version = VERBS_HELLO_VERSION,
				 .reject = (uint32_t)why };
	uint8_t pd[VERBS_ACCEPT_SIZE];
	verbs_hello_pack(&h, false, pd);
	rdma_reject(id, pd, VERBS_HELLO_SIZE);
}

static void reject(struct rdma_cm_id *id, enum verbs_reject why)
{
	verbs_reject(id, why);
	rdma_destroy_id(id);
}

/* A worker knocks: check its hello now, keep it for pn_tp_accept if it is well formed.
 * Whether it knows the job secret is only known once its proof arrives. */
static void on_connect_request(struct verbs_ctx *c, const struct cm_event_copy *e)
{
	struct verbs_hello h;
	if (verbs_hello_unpack(e->private_data, e->private_len, false, &h) != 0 || h.ctrl_depth < 4) {
		c->base.stats.drop_malformed++;
		reject(e->id, VERBS_REJ_MALFORMED);
		return;
	}
	if (e->id->verbs != c->verbs) {
		c->base.stats.drop_unknown_peer++;
		reject(e->id, VERBS_REJ_DEVICE);
		return;
	}
	struct verbs_request *r = c->nreq < VERBS_BACKLOG_MAX ? calloc(1, sizeof(*r)) : NULL;
	if (!r) {
		c->base.stats.drop_no_buffer++;
		reject(e->id, VERBS_REJ_RESOURCES);
		return;
	}
	r->obj.kind = VERBS_OBJ_REQUEST;
	r->id = e->id;
	r->hello = h;
	r->initiator_depth = e->initiator_depth;
	r->responder_resources = e->responder_resources;
	e->id->context = &r->obj;
	PN_FIFO_APPEND(c->req_head, c->req_tail, r, next);
	c->nreq++;
}

static const char *reject_text(const struct cm_event_copy *e)
{
	struct verbs_hello h;
	if (verbs_hello_unpack(e->private_data, e->private_len, false, &h) == 0) {
		switch (h.reject) {
		case VERBS_REJ_MALFORMED: return "rejected by the listener: malformed hello";
		case VERBS_REJ_DEVICE: return "rejected by the listener: request arrived on another device";
		case VERBS_REJ_RESOURCES: return "rejected by the listener: out of resources or closing";
		default: break;
		}
	}
	return "connection refused (nothing listening there, or not a pennant verbs listener)";
}

/* Active side: the listener accepted; its hello names it and carries its proof. We check
 * it, then our own proof goes out as our first control message. Passive side: the
 * peer is up once its proof (possibly already received) checked. */
static void on_established(struct verbs_ctx *c, struct verbs_peer *p, const struct cm_event_copy *e)
{
	if (p->state == PEER_UP || p->state == PEER_DOWN || p->established)
		return;
	p->established = true;
	if (!p->active) {
		if (p->proven)
			verbs_peer_proven_up(p);
		else
			p->state = PEER_AUTH;
		return;
	}
	struct verbs_hello h;
	if (verbs_hello_unpack(e->private_data, e->private_len, true, &h) != 0 || h.ctrl_depth < 4) {
		c->base.stats.drop_malformed++;
		verbs_peer_down(p, -EPROTO, false, "listener's accept carried no valid hello");
		return;
	}
	p->auth.id_lis = h.node_id;
	memcpy(p->auth.nonce_lis, h.nonce, VERBS_NONCE_LEN);
	uint8_t proof[VERBS_PROOF_LEN];
	if (!pn_auth_check(&c->base, PN_AUTH_LISTENER, &p->auth, h.proof)) {
		c->base.stats.drop_bad_token++;
		verbs_peer_down(p, -EACCES, false, "the listener could not prove it knows the job secret "
			       "(the two sides were given different secrets)");
		return;
	}
	if (pn_auth_prove(&c->base, PN_AUTH_REQUESTER, &p->auth, proof)) {
		verbs_peer_down(p, -EIO, false, "cannot compute our proof (libcrypto)");
		return;
	}
	p->base.id = h.node_id;
	p->credits = h.ctrl_depth;
	p->initiator_depth = e->initiator_depth;
	p->responder_resources = e->responder_resources;
	p->state = PEER_UP;
	/* First in the send order: nothing else of ours reaches the listener before it. */
	if (verbs_ctrl_enqueue(p, VERBS_MSG_AUTH, proof, sizeof(proof)) != 0) {
		verbs_peer_down(p, -ENOMEM, false, "cannot queue our proof");
		return;
	}
	verbs_ctrl_flush(p);
}

static void on_peer_event(struct verbs_ctx *c, struct verbs_peer *p, const struct cm_event_copy *e)
{
	switch (e->type) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		if (p->state == PEER_CONNECTING)
			p->state = PEER_ADDR_OK;
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		if (p->state == PEER_ADDR_OK)
			p->state = PEER_ROUTE_OK;
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		on_established(c, p, e);
		break;
	case RDMA_CM_EVENT_REJECTED:
		verbs_peer_down(p, -ECONNREFUSED, p->state == PEER_UP, "%s", reject_text(e));
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		verbs_peer_down(p, e->type == RDMA_CM_EVENT_UNREACHABLE ? -EHOSTUNREACH : -ECONNABORTED,
				p->state == PEER_UP, "rdma_cm: %s (status %d)", rdma_event_str(e->type), e->status);
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
		if (!p->active && !p->proven) /* it left after our accept without proving itself */
			c->base.stats.drop_bad_token++;
		verbs_peer_down(p, -ECONNRESET, p->state == PEER_UP, "peer disconnected");
		break;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		verbs_peer_down(p, -ENODEV, p->state == PEER_UP, "RDMA device removed");
		break;
	default:
		break; /* TIMEWAIT_EXIT, ADDR_CHANGE, ...: nothing to do */
	}
}

static void handle(struct verbs_ctx *c, const struct cm_event_copy *e)
{
	if (e->type == RDMA_CM_EVENT_CONNECT_REQUEST) {
		on_connect_request(c, e);
		return;
	}
	struct verbs_peer *p = peer_of(e->id);
	if (p) {
		on_peer_event(c, p, e);
		return;
	}
	struct verbs_request *r = request_of(e->id);
	if (r && (e->type == RDMA_CM_EVENT_DISCONNECTED || e->type == RDMA_CM_EVENT_CONNECT_ERROR ||
		  e->type == RDMA_CM_EVENT_UNREACHABLE || e->type == RDMA_CM_EVENT_DEVICE_REMOVAL))
		r->gone = true;
}

int verbs_cm_pump(struct verbs_ctx *c, int timeout_ms)
{
	if (timeout_ms != 0) {
		struct pollfd pfd = { .fd = c->ec->fd, .events = POLLIN };
		int n = poll(&pfd, 1, timeout_ms);
		if (n < 0 && errno != EINTR)
			return pn_tp_fail(&c->base, errno, "verbs: poll on rdma_cm channel: %s", strerror(errno));
		if (n <= 0)
			return 0;
	}
	int handled = 0;
	for (;;) {
		struct rdma_cm_event *ev;
		if (rdma_get_cm_event(c->ec, &ev) != 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return handled;
			return pn_tp_fail(&c->base, errno, "verbs: rdma_get_cm_event: %s", strerror(errno));
		}
		struct cm_event_copy e = { .type = ev->event, .status = ev->status, .id = ev->id,
					   .listen_id = ev->listen_id };
		if (ev->event != RDMA_CM_EVENT_ADDR_RESOLVED && ev->event != RDMA_CM_EVENT_ROUTE_RESOLVED &&
		    ev->event != RDMA_CM_EVENT_ADDR_ERROR && ev->event != RDMA_CM_EVENT_ROUTE_ERROR &&
		    ev->event != RDMA_CM_EVENT_DEVICE_REMOVAL) {
			size_t n = ev->param.conn.private_data_len;
			if (n > MAX_PRIVATE)
				n = MAX_PRIVATE;
			if (ev->param.conn.private_data && n)
				memcpy(e.private_data, ev->param.conn.private_data, n);
			else
				n = 0;
			e.private_len = (uint8_t)n;
			e.initiator_depth = ev->param.conn.initiator_depth;
			e.responder_resources = ev->param.conn.responder_resources;
		}
		rdma_ack_cm_event(ev);
		verbs_trace(c, "rdma_cm %s (status %d)", rdma_event_str(e.type), e.status);
		handle(c, &e);
		handled++;
	}
}
