/* dpdk backend: posting a read. The core has checked the arguments (bounds, access,
 * length, owner); the read becomes READ requests of frames_per_req frames each, which
 * the service thread sends within the peer's window (requester.c). */
#include "dp.h"
#include "transport/list.h"

#include <errno.h>
#include <stdlib.h>

int dp_post_read(pn_tp_peer *peer, pn_tp_mr *local, size_t local_off,
		 const pn_mr_desc *remote, uint64_t remote_off, size_t len, uint64_t cookie)
{
	struct dp_peer *p = (struct dp_peer *)peer;
	struct dp_ctx *c = dp_ctx(peer->ctx);
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
	PN_FIFO_APPEND(p->ops_head, p->ops_tail, op, next);
	p->nops++;
	c->ops_used++;
	pthread_mutex_unlock(&c->lock);
	return 0;
}
