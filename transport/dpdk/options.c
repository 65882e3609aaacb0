/* Parse the dpdk backend's option string (keys documented in README.md). */
#include "dp.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	uint64_t mult = 1;
	if (*end == 'k' || *end == 'K')
		mult = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mult = 1024 * 1024, end++;
	if (errno || end == s || *end || s[0] == '-' || v > hi / mult || v * mult < lo)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "1") || !strcmp(s, "true"))
		*out = true;
	else if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "0") || !strcmp(s, "false"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int copy_str(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return -EINVAL;
	strcpy(dst, v);
	return 0;
}

/* vdev=<a>|<b>: several ports in one value are separated by '|' (',' belongs to the
 * vdev's own arguments); the key may also simply repeat. */
static int add_vdevs(struct dp_opts *o, const char *v)
{
	char tmp[1024];
	if (copy_str(tmp, sizeof tmp, v))
		return -EINVAL;
	for (char *save = NULL, *tok = strtok_r(tmp, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
		if (o->nvdev == DP_MAX_PORTS || copy_str(o->vdev[o->nvdev], sizeof o->vdev[0], tok))
			return -EINVAL;
		o->nvdev++;
	}
	return 0;
}

static void set_defaults(struct dp_opts *o, uint32_t node_id)
{
	memset(o, 0, sizeof *o);
	o->mem = DP_MEM_INMEM;
	o->mem_mb = 256;
	snprintf(o->prefix, sizeof o->prefix, "pn%u", node_id);
	snprintf(o->log_level, sizeof o->log_level, "warning");
	o->ip = 0x0a580000u | ((node_id + 1) & 0xffff); /* 10.88.x.y */
	o->udp_port = 9000;
	o->frames_per_req = 16;
	o->peer_window = 1u << 20;
	o->total_window = 8u << 20;
	o->rto_init_us = 20000;
	o->rto_min_us = 5000;
	o->rto_max_us = 500000;
	o->retries = 12;
	o->connect_retry_ms = 50;
	o->idle_sleep_us = 10;
	o->lossless_rto_us = 500000;
	o->lossless = -1;
	o->nb_mbufs = 8191;
}

/* Table parsers: a number (parse_u64: base prefixes and k/m suffixes) or a string that
 * fits (may be empty), stored at the row's offset by its width. */
static int opt_num(const struct pn_tp_option *t, const char *val, void *settings)
{
	uint64_t v;
	if (parse_u64(val, t->lo, t->hi, &v))
		return -EINVAL;
	unsigned char *dst = (unsigned char *)settings + t->off;
	if (t->width == 2) {
		uint16_t x = (uint16_t)v;
		memcpy(dst, &x, 2);
	} else if (t->width == 4) {
		uint32_t x = (uint32_t)v;
		memcpy(dst, &x, 4);
	} else {
		memcpy(dst, &v, 8);
	}
	return 0;
}

static int opt_str(const struct pn_tp_option *t, const char *val, void *settings)
{
	return copy_str((char *)settings + t->off, t->width, val);
}

static int opt_bool(const struct pn_tp_option *t, const char *val, void *settings)
{
	return parse_bool(val, (bool *)((char *)settings + t->off));
}

static int opt_vdev(const struct pn_tp_option *t, const char *val, void *settings)
{
	(void)t;
	return add_vdevs(settings, val);
}

static int opt_mem(const struct pn_tp_option *t, const char *val, void *settings)
{
	(void)t;
	struct dp_opts *o = settings;
	uint64_t u;
	if (!strcmp(val, "hugepages"))
		o->mem = DP_MEM_HUGE;
	else if (!strcmp(val, "in-memory"))
		o->mem = DP_MEM_INMEM;
	else if (!strcmp(val, "no-huge"))
		o->mem = DP_MEM_NOHUGE;
	else if (!strncmp(val, "no-huge:", 8) && !parse_u64(val + 8, 16, 1u << 20, &u))
		o->mem = DP_MEM_NOHUGE, o->mem_mb = (unsigned)u;
	else
		return -EINVAL;
	return 0;
}

static int opt_mem_mb(const struct pn_tp_option *t, const char *val, void *settings)
{
	struct dp_opts *o = settings;
	o->mem_mb_set = true;
	return opt_num(t, val, settings);
}

static int opt_ip(const struct pn_tp_option *t, const char *val, void *settings)
{
	(void)t;
	return pn_parse_ipv4(val, &((struct dp_opts *)settings)->ip);
}

static int opt_mac(const struct pn_tp_option *t, const char *val, void *settings)
{
	(void)t;
	struct dp_opts *o = settings;
	int bad = parse_mac(val, o->mac);
	o->have_mac = !bad;
	return bad;
}

static int opt_lossless(const struct pn_tp_option *t, const char *val, void *settings)
{
	(void)t;
	struct dp_opts *o = settings;
	if (strcmp(val, "auto") && strcmp(val, "on") && strcmp(val, "off"))
		return -EINVAL;
	o->lossless = !strcmp(val, "auto") ? -1 : !strcmp(val, "on");
	return 0;
}

#define NUM(k, field, lo_, hi_)                                                                 \
	{ .key = (k), .parse = opt_num, .lo = (lo_), .hi = (hi_), .off = offsetof(struct dp_opts, field), \
	  .width = sizeof(((struct dp_opts *)0)->field) }
#define STR(k, field)                                                                           \
	{ .key = (k), .parse = opt_str, .off = offsetof(struct dp_opts, field),                        \
	  .width = sizeof(((struct dp_opts *)0)->field) }
#define BOOL(k, field) { .key = (k), .parse = opt_bool, .off = offsetof(struct dp_opts, field) }

static const struct pn_tp_option options[] = {
	{ .key = "vdev", .parse = opt_vdev },
	{ .key = "mem", .parse = opt_mem, .want = "hugepages, in-memory, no-huge or no-huge:MB" },
	{ .key = "mem_mb", .parse = opt_mem_mb, .lo = 16, .hi = 1u << 20, .off = offsetof(struct dp_opts, mem_mb),
	  .width = sizeof(unsigned) },
	STR("prefix", prefix),
	STR("lcores", lcores),
	STR("log", log_level),
	STR("eal", eal_extra),
	{ .key = "ip", .parse = opt_ip, .want = "a.b.c.d" },
	NUM("udp", udp_port, 1, 65535),
	{ .key = "mac", .parse = opt_mac, .want = "xx:xx:xx:xx:xx:xx" },
	BOOL("jumbo", jumbo),
	NUM("mtu", mtu, 576, 9000),
	NUM("frames_per_req", frames_per_req, 1, DP_MAX_FRAMES_PER_REQ),
	NUM("window", peer_window, 1024, 1ull << 32),
	NUM("total_window", total_window, 1024, 1ull << 34),
	NUM("rto_init_us", rto_init_us, 10, 10000000),
	NUM("rto_min_us", rto_min_us, 10, 10000000),
	NUM("rto_max_us", rto_max_us, 10, 60000000),
	NUM("retries", retries, 1, 100),
	NUM("idle_sleep_us", idle_sleep_us, 0, 100000),
	NUM("lossless_rto_us", lossless_rto_us, 10, 10000000),
	{ .key = "lossless", .parse = opt_lossless, .want = "auto, on or off" },
	NUM("mbufs", nb_mbufs, 1023, 1u << 20),
	BOOL("single_file", single_file),
	{ .key = NULL },
};

int dp_parse_options(const char *opts, uint32_t node_id, struct dp_opts *o, char *err, size_t errlen)
{
	set_defaults(o, node_id);
	int rc = pn_kv_apply(opts, options, o, "dpdk", err, errlen);
	if (rc)
		return rc;
	if (o->nvdev == 0)
		return pn_fail(err, errlen, EINVAL, "dpdk: option vdev=... is required (e.g. net_memif0,role=client,socket=/tmp/x.sock)");
	if (o->rto_min_us > o->rto_max_us || o->rto_init_us > o->rto_max_us)
		return pn_fail(err, errlen, EINVAL, "dpdk: need rto_min_us <= rto_init_us <= rto_max_us");
	if (!o->mtu)
		o->mtu = o->jumbo ? 9000 : 1500;
	/* memif splits a frame over several buffers when bsize is smaller, and DPDK 22.11
	 * corrupts such frames under back-pressure: insist on buffers that hold a frame */
	uint32_t frame = o->mtu + PN_DP_ETH_LEN;
	for (int i = 0; i < o->nvdev; i++) {
		if (strncmp(o->vdev[i], "net_memif", 9))
			continue;
		const char *b = strstr(o->vdev[i], "bsize=");
		unsigned long bsize = b ? strtoul(b + 6, NULL, 0) : 2048;
		if (bsize < frame)
			return pn_fail(err, errlen, EINVAL, "dpdk: memif bsize %lu is smaller than our largest frame (%u B): add bsize=%u or more to the vdev",
				       bsize, frame, frame <= 2048 ? 2048 : 9216);
	}
	return 0;
}
