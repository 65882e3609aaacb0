/* Options of the verbs backend ("key=value;..."), documented in transport/verbs/README.md:
 *   dev=NAME        RDMA device by name (e.g. rxe0)
 *   addr=IP         or: the device that owns this local IP (also the source for connects)
 *   port=N          device port (default 1)
 *   gid_index=N     checked to exist on the port; rdma_cm picks the GID from the address
 *   ctrl_depth=N    posted receives (= credits) per peer for control messages (default 32)
 *   sq_reads=N      read pieces on a peer's send queue at once (default 256)
 *   max_msg=SIZE    split reads at this size (default and cap: the port's max message)
 *   chunk=SIZE      pn_tp_preferred_chunk (default 1M, capped at the split size)
 *   poll=hybrid|busy|event  busy-poll then sleep on the completion channel (default),
 *                   busy-poll only, or sleep at once
 *   spin_us=N       hybrid: how long to busy-poll before sleeping (default 2000)
 * SIZE accepts K/M suffixes (powers of 1024). Unknown keys are an error. */
#include "transport/verbs/verbs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* poll=hybrid|busy|event */
static int parse_poll(const struct pn_tp_option *o, const char *val, void *settings)
{
	(void)o;
	struct verbs_ctx *c = settings;
	if (strcmp(val, "hybrid") == 0) {
		c->event_wait = true;
		c->busy_only = false;
	} else if (strcmp(val, "busy") == 0) {
		c->event_wait = false;
		c->busy_only = true;
	} else if (strcmp(val, "event") == 0) {
		c->event_wait = true;
		c->busy_only = false;
		c->spin_us = 0;
	} else {
		return -EINVAL;
	}
	return 0;
}

static const struct pn_tp_option options[] = {
	PN_OPT_STR("dev", struct verbs_ctx, dev_name),
	PN_OPT_STR("addr", struct verbs_ctx, bind_ip),
	PN_OPT_NUM("port", struct verbs_ctx, port_num, 1, 255),
	PN_OPT_NUM("gid_index", struct verbs_ctx, gid_index, 0, 65535),
	PN_OPT_NUM("ctrl_depth", struct verbs_ctx, ctrl_depth, 4, 4096),
	PN_OPT_NUM("sq_reads", struct verbs_ctx, sq_reads, 1, 16384),
	PN_OPT_NUM("max_msg", struct verbs_ctx, max_msg_opt, 4096, 1u << 30),
	PN_OPT_NUM("chunk", struct verbs_ctx, chunk, 4096, 1u << 30),
	PN_OPT_NUM("spin_us", struct verbs_ctx, spin_us, 0, 10000000),
	{ .key = "poll", .parse = parse_poll, .want = "hybrid, busy or event" },
	{ .key = NULL },
};

int verbs_parse_options(struct verbs_ctx *c, const pn_tp_config *cfg, char *err, size_t errlen)
{
	c->port_num = 1;
	c->gid_index = -1;
	c->reads_in_flight = cfg->max_reads_in_flight ? cfg->max_reads_in_flight
						      : VERBS_READS_IN_FLIGHT_DEFAULT;
	c->sq_reads = VERBS_SQ_READS_DEFAULT;
	c->ctrl_depth = VERBS_CTRL_DEPTH_DEFAULT;
	c->chunk = VERBS_CHUNK_DEFAULT;
	c->spin_us = VERBS_SPIN_US_DEFAULT;
	c->event_wait = true;
	c->cq_depth = cfg->cq_depth;
	if (c->reads_in_flight > (1u << 20))
		return pn_fail(err, errlen, EINVAL, "verbs: max_reads_in_flight %u is too large (max %u)",
			       c->reads_in_flight, 1u << 20);
	return pn_kv_apply(cfg->options, options, c, "verbs", err, errlen);
}
