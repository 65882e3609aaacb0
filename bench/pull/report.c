/* pennant-bench-pull: perftest-style tables and JSON. */
#include "bench_pull.h"

#include "json.h"

#include <math.h>

void bench_print(FILE *f, const struct bench_opts *o, const char *baseline_name,
		 const struct bench_row *rows, int n)
{
	fprintf(f, "# pennant-bench-pull: backend %s, %d outstanding, MiB = 2^20 B, Gbit = 1e9 bit\n",
		o->backend, o->outstanding);
	fprintf(f, "# BW peak = best window of max(outstanding, iters/16) completions (those after its start)\n");
	if (baseline_name)
		fprintf(f, "# baseline = %s, measured in this run\n", baseline_name);
	fprintf(f, "%-10s %-12s %-16s %-19s %-20s %-14s", " #bytes", "#iterations", "BW peak[MiB/s]",
		"BW average[MiB/s]", "BW average[Gbit/s]", "MsgRate[Mpps]");
	if (baseline_name)
		fprintf(f, " %-16s %s", "baseline[MiB/s]", "ours/baseline");
	fputc('\n', f);
	for (int i = 0; i < n; i++) {
		const struct bench_row *r = &rows[i];
		fprintf(f, " %-10zu %-12d %-16.2f %-19.2f %-20.3f %-14.6f", r->bytes, r->iters, r->bw_peak_mib,
			r->bw_avg_mib, r->bw_avg_gbit, r->mpps);
		if (baseline_name && r->base_mib > 0)
			fprintf(f, " %-16.2f %.3f", r->base_mib, r->bw_avg_mib / r->base_mib);
		else if (baseline_name)
			fprintf(f, " %-16s %s", "n/a", "n/a");
		fputc('\n', f);
	}
	fprintf(f, "\n# latency: one read in flight, post to next post (as ib_read_lat times it)\n");
	fprintf(f, "%-10s %-12s %-12s %-15s %-12s %-12s %s\n", " #bytes", "#iterations", "t_min[usec]",
		"t_median[usec]", "t_avg[usec]", "t_p99[usec]", "t_p99.9[usec]");
	for (int i = 0; i < n; i++) {
		const struct bench_row *r = &rows[i];
		fprintf(f, " %-10zu %-12d %-12.2f %-15.2f %-12.2f %-12.2f %.2f\n", r->bytes, r->lat_iters,
			r->lat_min, r->lat_med, r->lat_avg, r->lat_p99, r->lat_p999);
	}
}

int bench_write_json(const char *path, const struct bench_opts *o, const char *baseline_name,
		     const struct bench_row *rows, int n)
{
	pn_json j;
	if (pn_json_open(&j, path))
		return -1;
	pn_json_begin_object(&j);
	pn_json_provenance(&j, "pennant-bench-pull");
	pn_json_kstring(&j, "bench", "pull");
	pn_json_kstring(&j, "backend", o->backend);
	pn_json_kint(&j, "outstanding", o->outstanding);
	pn_json_kstring(&j, "baseline", baseline_name); /* null: none for this backend */
	pn_json_key(&j, "results");
	pn_json_begin_array(&j);
	for (int i = 0; i < n; i++) {
		const struct bench_row *r = &rows[i];
		bool base = r->base_mib > 0; /* not measured: null */
		pn_json_begin_object(&j);
		pn_json_kuint(&j, "bytes", r->bytes);
		pn_json_kint(&j, "iterations", r->iters);
		pn_json_knumber(&j, "bw_peak_mib", r->bw_peak_mib);
		pn_json_knumber(&j, "bw_avg_mib", r->bw_avg_mib);
		pn_json_knumber(&j, "bw_avg_gbit", r->bw_avg_gbit);
		pn_json_knumber(&j, "msg_rate_mpps", r->mpps);
		pn_json_knumber(&j, "baseline_mib", base ? r->base_mib : NAN);
		pn_json_knumber(&j, "ratio", base ? r->bw_avg_mib / r->base_mib : NAN);
		pn_json_kint(&j, "lat_iterations", r->lat_iters);
		pn_json_key(&j, "lat_us");
		pn_json_begin_object(&j);
		bool lat = r->lat_iters > 0;
		pn_json_knumber(&j, "min", lat ? r->lat_min : NAN);
		pn_json_knumber(&j, "median", lat ? r->lat_med : NAN);
		pn_json_knumber(&j, "avg", lat ? r->lat_avg : NAN);
		pn_json_knumber(&j, "p99", lat ? r->lat_p99 : NAN);
		pn_json_knumber(&j, "p99.9", lat ? r->lat_p999 : NAN);
		pn_json_end_object(&j);
		pn_json_end_object(&j);
	}
	pn_json_end_array(&j);
	pn_json_end_object(&j);
	return pn_json_close(&j);
}
