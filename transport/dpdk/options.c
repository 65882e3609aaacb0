/* Parse the dpdk backend's option string (keys documented in README.md). */
#include "dp.h"

#include <errno.h>
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

int dp_parse_options(const char *opts, uint32_t node_id, struct dp_opts *o, char *err, size_t errlen)
{
	set_defaults(o, node_id);
	pn_kv_iter it = {opts ? opts : ""};
	char key[64], val[1024];
	int rc;
	while ((rc = pn_kv_next(&it, key, sizeof key, val, sizeof val)) == 1) {
		uint64_t u = 0;
		int bad = 0;
		if (!strcmp(key, "vdev"))
			bad = add_vdevs(o, val);
		else if (!strcmp(key, "mem")) {
			if (!strcmp(val, "hugepages"))
				o->mem = DP_MEM_HUGE;
			else if (!strcmp(val, "in-memory"))
				o->mem = DP_MEM_INMEM;
			else if (!strncmp(val, "no-huge", 7)) {
				o->mem = DP_MEM_NOHUGE;
				if (val[7] == ':')
					bad = parse_u64(val + 8, 16, 1u << 20, &u), o->mem_mb = (unsigned)u;
				else if (val[7])
					bad = -EINVAL;
			} else
				bad = -EINVAL;
		} else if (!strcmp(key, "mem_mb")) {
			bad = parse_u64(val, 16, 1u << 20, &u), o->mem_mb = (unsigned)u;
			o->mem_mb_set = true;
		}
		else if (!strcmp(key, "prefix"))
			bad = copy_str(o->prefix, sizeof o->prefix, val);
		else if (!strcmp(key, "lcores"))
			bad = copy_str(o->lcores, sizeof o->lcores, val);
		else if (!strcmp(key, "log"))
			bad = copy_str(o->log_level, sizeof o->log_level, val);
		else if (!strcmp(key, "eal"))
			bad = copy_str(o->eal_extra, sizeof o->eal_extra, val);
		else if (!strcmp(key, "ip"))
			bad = pn_parse_ipv4(val, &o->ip);
		else if (!strcmp(key, "udp"))
			bad = parse_u64(val, 1, 65535, &u), o->udp_port = (uint16_t)u;
		else if (!strcmp(key, "mac"))
			bad = parse_mac(val, o->mac), o->have_mac = !bad;
		else if (!strcmp(key, "jumbo"))
			bad = parse_bool(val, &o->jumbo);
		else if (!strcmp(key, "mtu"))
			bad = parse_u64(val, 576, 9000, &u), o->mtu = (uint32_t)u;
		else if (!strcmp(key, "frames_per_req"))
			bad = parse_u64(val, 1, DP_MAX_FRAMES_PER_REQ, &u), o->frames_per_req = (uint32_t)u;
		else if (!strcmp(key, "window"))
			bad = parse_u64(val, 1024, 1ull << 32, &o->peer_window);
		else if (!strcmp(key, "total_window"))
			bad = parse_u64(val, 1024, 1ull << 34, &o->total_window);
		else if (!strcmp(key, "rto_init_us"))
			bad = parse_u64(val, 10, 10000000, &u), o->rto_init_us = (uint32_t)u;
		else if (!strcmp(key, "rto_min_us"))
			bad = parse_u64(val, 10, 10000000, &u), o->rto_min_us = (uint32_t)u;
		else if (!strcmp(key, "rto_max_us"))
			bad = parse_u64(val, 10, 60000000, &u), o->rto_max_us = (uint32_t)u;
		else if (!strcmp(key, "retries"))
			bad = parse_u64(val, 1, 100, &u), o->retries = (uint32_t)u;
		else if (!strcmp(key, "idle_sleep_us"))
			bad = parse_u64(val, 0, 100000, &u), o->idle_sleep_us = (uint32_t)u;
		else if (!strcmp(key, "lossless_rto_us"))
			bad = parse_u64(val, 10, 10000000, &u), o->lossless_rto_us = (uint32_t)u;
		else if (!strcmp(key, "lossless")) {
			bad = strcmp(val, "auto") && strcmp(val, "on") && strcmp(val, "off");
			o->lossless = !strcmp(val, "auto") ? -1 : !strcmp(val, "on");
		} else if (!strcmp(key, "mbufs"))
			bad = parse_u64(val, 1023, 1u << 20, &u), o->nb_mbufs = (uint32_t)u;
		else if (!strcmp(key, "single_file"))
			bad = parse_bool(val, &o->single_file);
		else {
			snprintf(err, errlen, "dpdk: unknown option '%s'", key);
			return -EINVAL;
		}
		if (bad) {
			snprintf(err, errlen, "dpdk: bad value '%s' for option '%s'", val, key);
			return -EINVAL;
		}
	}
	if (rc < 0) {
		snprintf(err, errlen, "dpdk: malformed option string '%s'", opts);
		return -EINVAL;
	}
	if (o->nvdev == 0) {
		snprintf(err, errlen, "dpdk: option vdev=... is required (e.g. net_memif0,role=client,socket=/tmp/x.sock)");
		return -EINVAL;
	}
	if (o->rto_min_us > o->rto_max_us || o->rto_init_us > o->rto_max_us) {
		snprintf(err, errlen, "dpdk: need rto_min_us <= rto_init_us <= rto_max_us");
		return -EINVAL;
	}
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
		if (bsize < frame) {
			snprintf(err, errlen, "dpdk: memif bsize %lu is smaller than our largest frame (%u B): add bsize=%u or more to the vdev",
				 bsize, frame, frame <= 2048 ? 2048 : 9216);
			return -EINVAL;
		}
	}
	return 0;
}
