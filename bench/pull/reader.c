/* pennant-bench-pull: the reader side. Per size: a bandwidth pass with --outstanding
 * reads in flight, then a latency pass with one read at a time. */
#include "bench_pull.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STALL_MS 10000

struct reader {
	pn_tp_ctx *ctx;
	pn_tp_peer *peer;
	pn_tp_mr *lmr;
	size_t landing;
	pn_mr_desc remote;
};

/* Wait for completions; every one must be a successful read. Returns count or -1. */
static int reap(struct reader *r, int max, int timeout_ms)
{
	pn_tp_completion c[64];
	int n = pn_tp_poll(r->ctx, c, max < 64 ? max : 64, timeout_ms);
	if (n < 0) {
		fprintf(stderr, "pennant-bench-pull: poll: %s\n", pn_tp_errmsg(r->ctx));
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (c[i].event != PN_TP_READ_DONE || c[i].status != 0) {
			fprintf(stderr, "pennant-bench-pull: event %d status %d (%s)\n", c[i].event,
				c[i].status, strerror(-c[i].status));
			return -1;
		}
	return n;
}

static int bw_pass(struct reader *r, const struct bench_opts *o, struct bench_row *row)
{
	size_t size = row->bytes;
	int n = bench_iters_for(o, size);
	size_t slots = bench_slots_for(o, size);
	double *tdone = malloc((size_t)n * sizeof(double));
	if (!tdone)
		return -1;
	int posted = 0, done = 0;
	double t0 = bench_now_us();
	while (done < n) {
		while (posted < n && posted - done < o->outstanding) {
			int rc = pn_tp_post_read(r->peer, r->lmr, ((size_t)posted % slots) * size, &r->remote, 0,
						 size, (uint64_t)posted);
			if (rc == -EAGAIN)
				break;
			if (rc) {
				fprintf(stderr, "pennant-bench-pull: post_read: %s\n", pn_tp_errmsg(r->ctx));
				free(tdone);
				return -1;
			}
			posted++;
		}
		int k = reap(r, n - done, STALL_MS);
		if (k <= 0) {
			if (k == 0)
				fprintf(stderr, "pennant-bench-pull: no completion in %d ms\n", STALL_MS);
			free(tdone);
			return -1;
		}
		double t = bench_now_us();
		for (int i = 0; i < k; i++)
			tdone[done++] = t;
	}
	double span = tdone[n - 1] - t0;
	row->iters = n;
	row->bw_avg_mib = (double)n * (double)size / span * 1e6 / 1048576.0;
	row->bw_avg_gbit = (double)n * (double)size * 8.0 / span / 1e3;
	row->mpps = n / span;
	/* Peak: the best window of about w consecutive completions. Completions reaped by
	 * one poll share a timestamp, so a window counts only those strictly after its
	 * start time (otherwise a burst would look infinitely fast). */
	int w = n / 16 > o->outstanding ? n / 16 : o->outstanding;
	row->bw_peak_mib = row->bw_avg_mib;
	for (int i = w; i < n; i++) {
		int j = i - w;
		while (j + 1 < i && tdone[j + 1] == tdone[j])
			j++;
		double dt = tdone[i] - tdone[j];
		if (dt > 0) {
			double bw = (double)(i - j) * (double)size / dt * 1e6 / 1048576.0;
			if (bw > row->bw_peak_mib)
				row->bw_peak_mib = bw;
		}
	}
	free(tdone);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* n sequential reads timed like perftest's ib_read_lat: one clock read just before each
 * post, and read i takes posted[i + 1] - posted[i] (a whole iteration: post, completion,
 * the clock read). Fills lat[0..n) in microseconds; -1 if a read failed, 1 if the TSC
 * did not move forward (time it again without). */
static int lat_timed(struct reader *r, size_t size, int n, bool tsc, uint64_t *ticks, double *lat)
{
	struct lat_clock k;
	lat_clock_begin(&k, tsc);
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		ticks[i] = lat_clock_now(&k);
		if (pn_tp_post_read(r->peer, r->lmr, 0, &r->remote, 0, size, (uint64_t)i) != 0 ||
		    reap(r, 1, STALL_MS) != 1) {
			fprintf(stderr, "pennant-bench-pull: latency read failed: %s\n", pn_tp_errmsg(r->ctx));
			rc = -1;
		}
	}
	ticks[n] = lat_clock_now(&k);
	double per_us = lat_clock_end(&k);
	if (rc)
		return rc;
	for (int i = 0; i < n; i++) {
		if (ticks[i + 1] <= ticks[i] || per_us <= 0)
			return 1;
		lat[i] = (double)(ticks[i + 1] - ticks[i]) / per_us;
	}
	return 0;
}

static int lat_pass(struct reader *r, const struct bench_opts *o, struct bench_row *row)
{
	size_t size = row->bytes;
	int n = o->lat_iters;
	uint64_t cap = o->max_bytes / size / 4;
	if ((uint64_t)n > cap)
		n = cap < 10 ? 10 : (int)cap;
	row->lat_iters = n;
	if (n == 0)
		return 0;
	double *lat = malloc((size_t)n * sizeof(double));
	uint64_t *ticks = malloc((size_t)(n + 1) * sizeof(uint64_t));
	int rc = lat && ticks ? lat_timed(r, size, n, true, ticks, lat) : -1;
	if (rc == 1)
		rc = lat_timed(r, size, n, false, ticks, lat);
	if (rc == 0) {
		double sum = 0;
		for (int i = 0; i < n; i++)
			sum += lat[i];
		qsort(lat, (size_t)n, sizeof(double), cmp_double);
		row->lat_min = lat[0];
		row->lat_med = lat[n / 2];
		row->lat_avg = sum / n;
		row->lat_p99 = lat[(size_t)ceil(0.99 * n) - 1];
		row->lat_p999 = lat[(size_t)ceil(0.999 * n) - 1];
	}
	free(lat), free(ticks);
	return rc ? -1 : 0;
}

static int wait_desc(struct reader *r)
{
	pn_tp_completion c;
	int n = pn_tp_poll(r->ctx, &c, 1, 30000);
	if (n != 1 || c.event != PN_TP_CTRL_RECV || c.len != 1 + PN_MR_DESC_WIRE_SIZE ||
	    ((const uint8_t *)c.data)[0] != 'D') {
		fprintf(stderr, "pennant-bench-pull: target did not send its region descriptor\n");
		return -1;
	}
	pn_mr_desc_unpack((const uint8_t *)c.data + 1, &r->remote);
	return 0;
}

int bench_reader(const struct bench_opts *o, const char *addr, const struct bench_baseline *base,
		 struct bench_row *rows, int *nrows)
{
	struct reader r = { 0 };
	r.ctx = bench_open(o, 0);
	if (!r.ctx)
		return 1;
	int rc = 1;
	void *land;
	r.landing = bench_landing_bytes(o);
	if (pn_tp_connect(r.ctx, addr, &r.peer, 30000) != 0 ||
	    pn_tp_alloc(r.ctx, r.landing, PN_ACCESS_LOCAL_WRITE, &land, &r.lmr) != 0) {
		fprintf(stderr, "pennant-bench-pull: %s\n", pn_tp_errmsg(r.ctx));
		goto out;
	}
	if (wait_desc(&r) != 0)
		goto out;
	if (r.remote.len < o->max_size) {
		fprintf(stderr, "pennant-bench-pull: target serves %llu bytes, sweep needs %zu\n",
			(unsigned long long)r.remote.len, o->max_size);
		goto out;
	}
	for (int i = 0; i < *nrows; i++) {
		if (base) {
			rows[i].base_mib = base->run(o, rows[i].bytes, bench_iters_for(o, rows[i].bytes));
			if (rows[i].base_mib < 0)
				fprintf(stderr, "pennant-bench-pull: baseline %s failed at %zu bytes\n",
					base->name, rows[i].bytes);
		}
		/* Warm-up: first touch of landing pages and socket buffers. */
		struct bench_opts warm = *o;
		warm.iters = 8;
		struct bench_row scratch = rows[i];
		if (bw_pass(&r, &warm, &scratch) || bw_pass(&r, o, &rows[i]) || lat_pass(&r, o, &rows[i])) {
			*nrows = i;
			goto out;
		}
	}
	rc = 0;
out:
	/* Tell the target to quit and wait until it has (it closes; we see it go down). */
	if (r.peer && pn_tp_send_ctrl(r.peer, "Q", 1) == 0) {
		double until = bench_now_us() + 5e6;
		pn_tp_completion c;
		while (bench_now_us() < until)
			if (pn_tp_poll(r.ctx, &c, 1, 100) == 1 && c.event == PN_TP_PEER_DOWN)
				break;
	}
	pn_tp_close(r.ctx);
	return rc;
}
