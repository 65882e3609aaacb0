/* pennant-bench-pull: perftest-style tables and JSON. */
#include "bench_pull.h"

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
	fprintf(f, "\n# latency: one read in flight\n");
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
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "{\"bench\":\"pull\",\"backend\":\"%s\",\"outstanding\":%d,\"baseline\":", o->backend,
		o->outstanding);
	if (baseline_name)
		fprintf(f, "\"%s\"", baseline_name);
	else
		fprintf(f, "null");
	fprintf(f, ",\"results\":[");
	for (int i = 0; i < n; i++) {
		const struct bench_row *r = &rows[i];
		fprintf(f,
			"%s\n{\"bytes\":%zu,\"iterations\":%d,\"bw_peak_mib\":%.3f,\"bw_avg_mib\":%.3f,"
			"\"bw_avg_gbit\":%.4f,\"msg_rate_mpps\":%.6f,\"baseline_mib\":%.3f,\"ratio\":%.4f,"
			"\"lat_iterations\":%d,\"lat_us\":{\"min\":%.3f,\"median\":%.3f,\"avg\":%.3f,"
			"\"p99\":%.3f,\"p99.9\":%.3f}}",
			i ? "," : "", r->bytes, r->iters, r->bw_peak_mib, r->bw_avg_mib, r->bw_avg_gbit, r->mpps,
			r->base_mib, r->base_mib > 0 ? r->bw_avg_mib / r->base_mib : 0.0, r->lat_iters,
			r->lat_min, r->lat_med, r->lat_avg, r->lat_p99, r->lat_p999);
	}
	fprintf(f, "\n]}\n");
	return fclose(f) == 0 ? 0 : -1;
}
