/* dpdk backend: registered regions. A region is named on the wire by a key whose low
 * bits are its slot; offsets are relative to the region. pn_tp_alloc gives DPDK memory,
 * which memif zero-copy can hand to the peer as is. */
#include "dp.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include <rte_malloc.h>
#include <rte_memory.h>
#include <rte_random.h>

void dp_region_free(struct dp_mr *mr)
{
	if (mr->base.owned)
		rte_free(mr->base.addr);
	free(mr);
}

static int add_region(struct dp_ctx *c, void *buf, size_t len, pn_tp_mr **out)
{
	struct dp_mr *mr = calloc(1, sizeof *mr);
	if (!mr)
		return pn_tp_fail(&c->base, ENOMEM, "dpdk: out of memory");
	const struct rte_memseg_list *a = rte_mem_virt2memseg_list(buf);
	mr->dpdk_mem = a && a == rte_mem_virt2memseg_list((uint8_t *)buf + len - 1);
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
	mr->base.desc.addr = 0; /* offsets are relative to the region; the core fills the rest */
	mr->base.desc.key = mr->key;
	c->regions[slot] = mr;
	pthread_mutex_unlock(&c->lock);
	*out = &mr->base;
	return 0;
}

int dp_alloc(pn_tp_ctx *ctx, size_t len, unsigned access, void **buf, pn_tp_mr **mr)
{
	(void)access;
	/* DPDK memory: memif zero-copy can hand it to the peer as is */
	void *p = rte_zmalloc("pn_region", len, 4096);
	if (!p)
		return pn_tp_fail(ctx, ENOMEM, "dpdk: rte_zmalloc(%zu) failed (raise mem_mb or hugepages)", len);
	int rc = add_region(dp_ctx(ctx), p, len, mr);
	if (rc) {
		rte_free(p);
		return rc;
	}
	*buf = p;
	return 0;
}

int dp_reg(pn_tp_ctx *ctx, void *buf, size_t len, unsigned access, pn_tp_mr **mr)
{
	(void)access;
	return add_region(dp_ctx(ctx), buf, len, mr);
}

int dp_dereg(pn_tp_mr *m)
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
	dp_region_free(mr);
	return 0;
}
