/* verbs backend: memory registration.
 *
 * Access flags map one to one: LOCAL_WRITE -> IBV_ACCESS_LOCAL_WRITE, REMOTE_READ ->
 * IBV_ACCESS_REMOTE_READ, REMOTE_WRITE -> IBV_ACCESS_REMOTE_WRITE (plus LOCAL_WRITE,
 * which verbs requires alongside it). Nothing is remote-writable unless asked.
 * REMOTE_READ regions are announced to every peer (see verbs.h). */
#include "transport/verbs/verbs.h"
#include "transport/list.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int verbs_access_flags(unsigned access)
{
	int f = 0;
	if (access & PN_ACCESS_LOCAL_WRITE)
		f |= IBV_ACCESS_LOCAL_WRITE;
	if (access & PN_ACCESS_REMOTE_READ)
		f |= IBV_ACCESS_REMOTE_READ;
	if (access & PN_ACCESS_REMOTE_WRITE)
		f |= IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_LOCAL_WRITE;
	return f;
}

static int register_region(struct verbs_ctx *c, void *buf, size_t len, unsigned access,
			   void *alloc_base, pn_tp_mr **out)
{
	struct verbs_mr *m = calloc(1, sizeof(*m));
	if (!m)
		return pn_tp_fail(&c->base, ENOMEM, "verbs: out of memory");
	m->mr = ibv_reg_mr(c->pd, buf, len, verbs_access_flags(access));
	if (!m->mr) {
		int e = errno ? errno : EIO;
		free(m);
		return pn_tp_fail(&c->base, e, "verbs: ibv_reg_mr(%zu bytes): %s%s", len, strerror(e),
				  e == ENOMEM || e == EPERM ? " (check ulimit -l / RLIMIT_MEMLOCK)" : "");
	}
	m->alloc_base = alloc_base;
	m->base.desc.addr = (uint64_t)(uintptr_t)buf;
	m->base.desc.key = m->mr->rkey;
	m->next = c->mrs;
	if (c->mrs)
		c->mrs->prev = m;
	c->mrs = m;
	/* The core fills len/access/owner after we return; announce with what we know. */
	m->base.len = len;
	m->base.access = access;
	if (access & PN_ACCESS_REMOTE_READ)
		verbs_announce_mr(c, m, true);
	*out = &m->base;
	return 0;
}

int verbs_alloc(pn_tp_ctx *ctx, size_t len, unsigned access, void **buf, pn_tp_mr **mr)
{
	struct verbs_ctx *c = verbs_ctx_of(ctx);
	void *p = pn_tp_page_alloc(len); /* page-aligned: what ibv_reg_mr pins */
	if (!p)
		return pn_tp_fail(ctx, ENOMEM, "verbs: cannot allocate %zu bytes", len);
	int rc = register_region(c, p, len, access, p, mr);
	if (rc) {
		free(p);
		return rc;
	}
	*buf = p;
	return 0;
}

int verbs_reg(pn_tp_ctx *ctx, void *buf, size_t len, unsigned access, pn_tp_mr **mr)
{
	return register_region(verbs_ctx_of(ctx), buf, len, access, NULL, mr);
}

static void unlink_and_free(struct verbs_ctx *c, struct verbs_mr *m)
{
	PN_LIST_UNLINK(c->mrs, m, prev, next);
	free(m->alloc_base);
	free(m);
}

/* True if a read still in flight lands in this region. */
static bool reads_landing_in(struct verbs_ctx *c, const struct verbs_mr *m)
{
	for (uint32_t i = 0; i < c->npeers; i++)
		for (const struct verbs_op *op = c->peers[i]->live_head; op; op = op->live_next)
			if (op->lkey == m->mr->lkey)
				return true;
	return false;
}

int verbs_dereg(pn_tp_mr *mr)
{
	struct verbs_mr *m = (struct verbs_mr *)mr;
	struct verbs_ctx *c = verbs_ctx_of(mr->ctx);
	/* Pulling the registration from under the NIC would fail those reads with a local
	 * protection error and take their peers down: refuse instead. */
	if (reads_landing_in(c, m))
		return pn_tp_fail(&c->base, EBUSY, "verbs: reads are still landing in this region");
	if (m->base.access & PN_ACCESS_REMOTE_READ)
		verbs_announce_mr(c, m, false);
	int rc = ibv_dereg_mr(m->mr);
	if (rc != 0) {
		rc = rc > 0 ? rc : (errno ? errno : EIO);
		return pn_tp_fail(&c->base, rc, "verbs: ibv_dereg_mr: %s", strerror(rc));
	}
	unlink_and_free(c, m);
	return 0;
}

void verbs_mr_free_all(struct verbs_ctx *c)
{
	while (c->mrs) {
		struct verbs_mr *m = c->mrs;
		ibv_dereg_mr(m->mr);
		unlink_and_free(c, m);
	}
}
