/* Reader role: alternate raw and pull rounds over the same port and report pull/raw.
 * Raw: the target sends the region's bytes as RAW frames back to back; we count what
 * arrives (no request, no window, no retransmission, no copy). Pull: the full protocol
 * moves the same bytes into our landing buffer (READ requests, DATA, one copy). */
#include "bench_dpdk_raw.h"

#include "json.h"
#include "transport/dpdk/dpdk_debug.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct round {
	double raw_gbps, raw_mpps, raw_loss, pull_gbps, copy_gbps;
};

static int wait_ctrl(pn_tp_ctx *ctx, char *out, size_t cap, int timeout_ms)
{
	for (double end = bench_now_s() + timeout_ms / 1000.0; bench_now_s() < end;) {
		pn_tp_completion c;
		if (pn_tp_poll(ctx, &c, 1, 100) != 1)
			continue;
		if (c.event == PN_TP_PEER_DOWN)
			return -ENOTCONN;
		if (c.event == PN_TP_CTRL_RECV && c.len < cap) {
			memcpy(out, c.data, c.len);
			out[c.len] = 0;
			return (int)c.len;
		}
	}
	return -ETIMEDOUT;
}

/* The request to start the blast costs one control round trip, included in the time. */
static int raw_round(pn_tp_ctx *ctx, pn_tp_peer *peer, size_t size, struct round *r)
{
	uint32_t payload;
	pn_dp_debug_payload(ctx, &payload);
	uint64_t n = (size + payload - 1) / payload;
	pn_dp_debug_raw_reset(ctx);
	double t0 = bench_now_s();
	char msg[64];
	int len = snprintf(msg, sizeof msg, "RAW %llu %u", (unsigned long long)n, payload);
	if (pn_tp_send_ctrl(peer, msg, (size_t)len))
		return -1;
	uint64_t frames = 0, bytes = 0, span = 0, last = 0;
	double since = bench_now_s(), t_last = t0;
	/* done when all arrived, or nothing new for 300 ms (the rest was lost) */
	while (frames < n) {
		pn_tp_completion c;
		pn_tp_poll(ctx, &c, 1, 5);
		pn_dp_debug_raw_rx(ctx, &frames, &bytes, &span);
		if (frames != last) {
			last = frames;
			since = t_last = bench_now_s();
		} else if (bench_now_s() - since > (frames ? 0.3 : 10)) {
			break;
		}
	}
	if (!frames)
		return -1;
	/* goodput: bytes that arrived, from the request to the last arrival (what a pull
	 * could at best deliver in the same time; lost frames count for nothing) */
	double dt = t_last - t0;
	r->raw_gbps = (double)bytes * 8 / dt / 1e9;
	r->raw_mpps = (double)frames / dt / 1e6;
	r->raw_loss = 1.0 - (double)frames / (double)n;
	return 0;
}

static int pull_round(pn_tp_ctx *ctx, pn_tp_peer *peer, pn_tp_mr *land, const pn_mr_desc *d,
		      const struct bench_opts *o, size_t chunk, struct round *r)
{
	size_t next = 0;
	int out = 0;
	double t0 = bench_now_s();
	while (next < o->size || out) {
		while (next < o->size && out < o->outstanding) {
			size_t len = o->size - next < chunk ? o->size - next : chunk;
			int rc = pn_tp_post_read(peer, land, next, d, next, len, next);
			if (rc == -EAGAIN)
				break;
			if (rc) {
				fprintf(stderr, "reader: post_read: %s\n", pn_tp_errmsg(ctx));
				return -1;
			}
			next += len;
			out++;
		}
		pn_tp_completion c[32];
		int k = pn_tp_poll(ctx, c, 32, 30000);
		if (k <= 0) {
			fprintf(stderr, "reader: pull stalled\n");
			return -1;
		}
		for (int i = 0; i < k; i++) {
			if (c[i].event == PN_TP_PEER_DOWN || (c[i].event == PN_TP_READ_DONE && c[i].status)) {
				fprintf(stderr, "reader: read failed (%d)\n", c[i].status);
				return -1;
			}
			if (c[i].event == PN_TP_READ_DONE)
				out--;
		}
	}
	double dt = bench_now_s() - t0;
	r->pull_gbps = (double)o->size * 8 / dt / 1e9;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bench_reader(const struct bench_opts *o, pn_tp_ctx *ctx)
{
	int rc = 1;
	pn_tp_peer *peer;
	void *buf;
	pn_tp_mr *land;
	char msg[PN_TP_CTRL_MAX + 1];
	pn_mr_desc d;
	if (pn_tp_connect(ctx, o->addr, &peer, 60000) ||
	    pn_tp_alloc(ctx, o->size, PN_ACCESS_LOCAL_WRITE, &buf, &land)) {
		fprintf(stderr, "reader: %s\n", pn_tp_errmsg(ctx));
		goto out;
	}
	if (wait_ctrl(ctx, msg, sizeof msg, 20000) != PN_MR_DESC_WIRE_SIZE) {
		fprintf(stderr, "reader: no region descriptor from the target\n");
		goto out;
	}
	pn_mr_desc_unpack((const uint8_t *)msg, &d);
	size_t chunk = o->chunk ? o->chunk : 4 * pn_tp_preferred_chunk(ctx);
	uint32_t payload;
	pn_dp_debug_payload(ctx, &payload);
	FILE *tab = o->json && strcmp(o->json, "-") == 0 ? stderr : stdout;
	struct copy_limit *cl = copy_limit_new(o->size, payload);
	if (!cl) {
		fprintf(stderr, "reader: out of memory for the copy baseline\n");
		goto out;
	}
	fprintf(tab, "# pennant-bench-dpdk-raw %s: %zu bytes per round, %d rounds, payload %u B/frame, "
	       "reads of %zu B, %d outstanding\n", o->label, o->size, o->rounds, payload, chunk, o->outstanding);
	fprintf(tab, "# copy = one core memcpy()ing %u-byte blocks into a landing buffer (the one-copy limit)\n", payload);
	fprintf(tab, "%-6s %12s %10s %9s %12s %10s %12s %10s\n", "round", "raw Gbit/s", "raw Mpps", "raw loss",
	       "pull Gbit/s", "pull/raw", "copy Gbit/s", "pull/copy");
	struct round *r = calloc((size_t)o->rounds, sizeof *r);
	double ratio[64], raw[64], pull[64], copy[64], pcopy[64];
	int n = o->rounds < 64 ? o->rounds : 64;
	for (int i = 0; i < n; i++) {
		if (raw_round(ctx, peer, o->size, &r[i]) || pull_round(ctx, peer, land, &d, o, chunk, &r[i])) {
			fprintf(stderr, "reader: round %d failed\n", i);
			free(r);
			copy_limit_free(cl);
			goto out;
		}
		r[i].copy_gbps = copy_limit_round(cl);
		if (i == 0) {
			const uint8_t *b = buf;
			for (size_t k = 0; k < o->size; k++)
				if (b[k] != 0xa5) {
					fprintf(stderr, "reader: landed data differs at %zu\n", k);
					free(r);
					copy_limit_free(cl);
					goto out;
				}
		}
		raw[i] = r[i].raw_gbps;
		pull[i] = r[i].pull_gbps;
		ratio[i] = r[i].pull_gbps / r[i].raw_gbps;
		copy[i] = r[i].copy_gbps;
		pcopy[i] = r[i].pull_gbps / r[i].copy_gbps;
		fprintf(tab, "%-6d %12.2f %10.3f %8.2f%% %12.2f %10.3f %12.2f %10.3f\n", i, r[i].raw_gbps, r[i].raw_mpps,
		       100 * r[i].raw_loss, r[i].pull_gbps, ratio[i], r[i].copy_gbps, pcopy[i]);
	}
	copy_limit_free(cl);
	pn_tp_stats st;
	pn_tp_get_stats(ctx, &st);
	double mr = median(ratio, n), mraw = median(raw, n), mpull = median(pull, n);
	double mcopy = median(copy, n), mpc = median(pcopy, n);
	fprintf(tab, "median: raw %.2f Gbit/s, pull %.2f Gbit/s, pull/raw %.3f (re-requests %llu, duplicates %llu)\n",
	       mraw, mpull, mr, (unsigned long long)st.retransmits, (unsigned long long)st.drop_duplicate);
	fprintf(tab, "median: one-copy limit %.2f Gbit/s (%.2f GB/s), pull/copy %.3f\n", mcopy, mcopy / 8, mpc);
	if (o->json) {
		pn_json j = {0};
		if (pn_json_open(&j, o->json) == 0) {
			pn_json_begin_object(&j);
			pn_json_provenance(&j, "pennant-bench-dpdk-raw");
			pn_json_kstring(&j, "label", o->label);
			pn_json_kuint(&j, "bytes_per_round", o->size);
			pn_json_kuint(&j, "payload", payload);
			pn_json_key(&j, "rounds");
			pn_json_begin_array(&j);
			for (int i = 0; i < n; i++) {
				pn_json_begin_object(&j);
				pn_json_knumber(&j, "raw_gbps", r[i].raw_gbps);
				pn_json_knumber(&j, "raw_mpps", r[i].raw_mpps);
				pn_json_knumber(&j, "raw_loss", r[i].raw_loss);
				pn_json_knumber(&j, "pull_gbps", r[i].pull_gbps);
				pn_json_knumber(&j, "copy_gbps", r[i].copy_gbps);
				pn_json_end_object(&j);
			}
			pn_json_end_array(&j);
			pn_json_knumber(&j, "median_raw_gbps", mraw);
			pn_json_knumber(&j, "median_pull_gbps", mpull);
			pn_json_knumber(&j, "median_pull_over_raw", mr);
			pn_json_knumber(&j, "median_copy_gbps", mcopy);
			pn_json_knumber(&j, "median_pull_over_copy", mpc);
			pn_json_kuint(&j, "retransmits", st.retransmits);
			pn_json_end_object(&j);
		}
		if (pn_json_close(&j))
			fprintf(stderr, "reader: cannot write %s\n", o->json);
	}
	free(r);
	pn_tp_send_ctrl(peer, "BYE", 3);
	rc = wait_ctrl(ctx, msg, sizeof msg, 10000) > 0 ? 0 : 1;
out:
	return rc;
}
