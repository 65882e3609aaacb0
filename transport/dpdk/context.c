/* dpdk backend: context lifetime and its ops table. The application-facing calls only
 * queue work for the service thread or collect its results, under ctx->lock (dp.h). */
#include "dp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pn_tp_ctx *dp_open(const pn_tp_config *cfg, char *err, size_t errlen)
{
	struct dp_ctx *c = pn_tp_ctx_new(sizeof *c, cfg, err, errlen);
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	pn_tp_cond_init(&c->cond);
	pn_cq_init(&c->cq);

	if (dp_parse_options(cfg->options, cfg->node_id, &c->o, err, errlen))
		goto fail;
	int rc = dp_eal_start(c, err, errlen);
	if (rc) {
		dp_eal_stop(c); /* no-op unless the EAL came up */
		goto fail;
	}
	if ((rc = dp_service_start(c))) {
		pn_errf(err, errlen, "dpdk: cannot start service thread: %s", strerror(-rc));
		dp_eal_stop(c);
		goto fail;
	}
	return &c->base;
fail:
	pn_cq_free(&c->cq);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
	return NULL;
}

static void dp_close(pn_tp_ctx *ctx)
{
	struct dp_ctx *c = dp_ctx(ctx);
	/* stop polling before anything else (a memif peer must not see us vanish mid-poll) */
	dp_service_stop(c);
	dp_print_why(c);
	for (int i = 0; i < c->npeers; i++) {
		dp_fail_peer_ops(c, c->peers[i], -ECANCELED);
		free(c->peers[i]);
	}
	/* ports first: frames a driver still holds point into regions and call back into
	 * them when released */
	dp_ports_close(c);
	for (int i = 0; i < DP_MAX_REGIONS; i++)
		if (c->regions[i])
			dp_region_free(c->regions[i]);
	dp_eal_stop(c);
	pn_cq_free(&c->cq);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}

static size_t dp_preferred_chunk(const pn_tp_ctx *ctx)
{
	const struct dp_ctx *c = (const struct dp_ctx *)ctx;
	return (size_t)c->o.frames_per_req * c->payload_max;
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
