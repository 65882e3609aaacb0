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
#include <stdlib.h>
#include <string.h>

/* Numeric option within [lo, hi]. */
static int num(const char *key, const char *val, uint64_t lo, uint64_t hi, uint64_t *out,
	       char *err, size_t errlen)
{
	if (pn_kv_parse_size(val, out) != 0 || *out < lo || *out > hi) {
		snprintf(err, errlen, "verbs: option %s=%s: want a number in [%llu, %llu]", key, val,
			 (unsigned long long)lo, (unsigned long long)hi);
		return -EINVAL;
	}
	return 0;
}

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
	if (c->reads_in_flight > (1u << 20)) {
		snprintf(err, errlen, "verbs: max_reads_in_flight %u is too large (max %u)",
			 c->reads_in_flight, 1u << 20);
		return -EINVAL;
	}

	pn_kv_iter it = { cfg->options };
	char key[64], val[256];
	int rc;
	while ((rc = pn_kv_next(&it, key, sizeof(key), val, sizeof(val))) > 0) {
		uint64_t v = 0;
		int bad = 0;
		if (strcmp(key, "dev") == 0) {
			if (!val[0] || strlen(val) >= sizeof(c->dev_name))
				bad = -EINVAL;
			else
				snprintf(c->dev_name, sizeof(c->dev_name), "%s", val);
		} else if (strcmp(key, "addr") == 0) {
			if (!val[0] || strlen(val) >= sizeof(c->bind_ip))
				bad = -EINVAL;
			else
				snprintf(c->bind_ip, sizeof(c->bind_ip), "%s", val);
		} else if (strcmp(key, "port") == 0) {
			if (!(bad = num(key, val, 1, 255, &v, err, errlen)))
				c->port_num = (uint8_t)v;
		} else if (strcmp(key, "gid_index") == 0) {
			if (!(bad = num(key, val, 0, 65535, &v, err, errlen)))
				c->gid_index = (int)v;
		} else if (strcmp(key, "ctrl_depth") == 0) {
			if (!(bad = num(key, val, 4, 4096, &v, err, errlen)))
				c->ctrl_depth = (uint32_t)v;
		} else if (strcmp(key, "sq_reads") == 0) {
			if (!(bad = num(key, val, 1, 16384, &v, err, errlen)))
				c->sq_reads = (uint32_t)v;
		} else if (strcmp(key, "max_msg") == 0) {
			if (!(bad = num(key, val, 4096, 1u << 30, &v, err, errlen)))
				c->max_msg_opt = (uint32_t)v;
		} else if (strcmp(key, "chunk") == 0) {
			if (!(bad = num(key, val, 4096, 1u << 30, &v, err, errlen)))
				c->chunk = (uint32_t)v;
		} else if (strcmp(key, "spin_us") == 0) {
			if (!(bad = num(key, val, 0, 10000000, &v, err, errlen)))
				c->spin_us = (uint32_t)v;
		} else if (strcmp(key, "poll") == 0) {
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
				bad = -EINVAL;
			}
		} else {
			snprintf(err, errlen, "verbs: unknown option '%s' (see transport/verbs/README.md)", key);
			return -EINVAL;
		}
		if (bad) {
			if (!err[0])
				snprintf(err, errlen, "verbs: bad value for option %s: '%s'", key, val);
			return -EINVAL;
		}
	}
	if (rc < 0) {
		snprintf(err, errlen, "verbs: malformed options '%s' (want key=value;...)", cfg->options);
		return -EINVAL;
	}
	return 0;
}
