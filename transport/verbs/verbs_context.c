/* verbs backend: context lifetime and its ops table. */
#include "transport/verbs/verbs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void verbs_trace(const struct verbs_ctx *c, const char *fmt, ...)
{
	if (!c->trace)
		return;
	int64_t us = pn_tp_now_us();
	char line[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[verbs %u %lld.%06lld] %s\n", c->base.cfg.node_id, (long long)(us / 1000000),
		(long long)(us % 1000000), line);
}

static void verbs_close(pn_tp_ctx *ctx);

static pn_tp_ctx *verbs_open(const pn_tp_config *cfg, char *err, size_t errlen)
{
	struct verbs_ctx *c = pn_tp_ctx_new(sizeof(*c), cfg, err, errlen);
	if (!c)
		return NULL;
	pn_cq_init(&c->comps);
	const char *t = getenv("PN_VERBS_TRACE");
	c->trace = t && t[0] == '1';
	if (verbs_parse_options(c, cfg, err, errlen) != 0 || verbs_device_open(c, err, errlen) != 0) {
		verbs_close(&c->base);
		return NULL;
	}
	return &c->base;
}

static void verbs_close(pn_tp_ctx *ctx)
{
	struct verbs_ctx *c = verbs_ctx_of(ctx);
	/* Peers first (their QPs use the CQ and their ids the event channel), then pending
	 * requests, the listener, memory, and the device objects last. */
	for (uint32_t i = 0; i < c->npeers; i++) {
		verbs_peer_down(c->peers[i], -ECANCELED, false, "context closed");
		verbs_peer_free(c->peers[i]);
	}
	free(c->peers);
	while (c->req_head)
		verbs_request_drop(c, c->req_head, VERBS_REJ_RESOURCES);
	if (c->listen_id)
		rdma_destroy_id(c->listen_id);
	verbs_mr_free_all(c);
	verbs_device_close(c);
	pn_cq_free(&c->comps);
	free(c->delivered);
	free(c);
}

static size_t verbs_preferred_chunk(const pn_tp_ctx *ctx)
{
	return ((const struct verbs_ctx *)ctx)->chunk;
}

const struct pn_tp_ops pn_tp_verbs_ops = {
	.name = "verbs",
	.open = verbs_open,
	.close = verbs_close,
	.preferred_chunk = verbs_preferred_chunk,
	.alloc = verbs_alloc,
	.reg = verbs_reg,
	.dereg = verbs_dereg,
	.listen = verbs_listen,
	.local_addr = verbs_local_addr,
	.accept = verbs_accept,
	.connect = verbs_connect,
	.disconnect = verbs_disconnect,
	.post_read = verbs_post_read,
	.send_ctrl = verbs_send_ctrl,
	.poll = verbs_poll,
	.refresh_stats = NULL, /* counters are kept in base.stats directly (one thread) */
};
