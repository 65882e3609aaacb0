/* pennant-agg on .npy files of extreme but finite magnitude: every rule exits 0 with a
 * finite output file, or exits non-zero with a message (never rc 0 with inf/NaN). Half
 * inputs ('<f2', bf16): the output equals the library's on the widened values.
 * argv[1] is the pennant-agg binary. */
#include "helpers.h"
#include "pennant/npy.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define P 8
#define D 16

static int run_tool(const char *tool, const char *rule, const char *in, const char *out,
		    const char *errfile)
{
	fflush(NULL); /* the child must not flush our buffered lines again */
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen(errfile, "w", stderr) || !freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(tool, tool, "--rule", rule, "--f", "1", in, "-o", out, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* One bf16 or fp16 input file through the tool against pn_aggregate on its widened
 * values (one block: the same operations in the same order, so equal bits). */
static int half_input(const char *tool, pn_dtype t, const char *rule, const char *in,
		      const char *out, const char *errf)
{
	float center[D], wide[P * D], ref[D], *x = make_gradients(P, D, 0.5, 11, center);
	uint16_t h[P * D];
	pn_f32_to_half(t, h, x, P * D);
	pn_half_to_f32(t, wide, h, P * D);
	free(x);
	size_t shape[2] = {P, D};
	char err[256];
	pn_agg_config cfg = agg_config(P, D, (pn_rule)pn_rule_from_name(rule), 1, 0, 1);
	if (pn_npy_write_typed(in, h, t, shape, 2, err, sizeof err) != 0 ||
	    pn_aggregate(&cfg, wide, ref, NULL, NULL, err, sizeof err) != 0) {
		printf("FAIL %s/%s: setup: %s\n", pn_dtype_name(t), rule, err);
		return 1;
	}
	int rc = run_tool(tool, rule, in, out, errf);
	float *y = NULL;
	size_t sh[PN_NPY_MAX_DIMS];
	int nd = 0;
	bool ok = rc == 0 && pn_npy_read_f32(out, &y, sh, &nd, err, sizeof err) == 0 && nd == 1 &&
		  sh[0] == D && memcmp(y, ref, sizeof ref) == 0;
	if (!ok)
		printf("FAIL %s/%s: rc %d, output differs from the library on the widened values\n",
		       pn_dtype_name(t), rule, rc);
	free(y);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PENNANT-AGG\n", argv[0]);
		return 2;
	}
	char dir[] = "/tmp/pn-agg-tool-XXXXXX";
	if (!mkdtemp(dir))
		return 2;
	char in[256], out[256], errf[256], err[256];
	snprintf(in, sizeof in, "%s/in.npy", dir);
	snprintf(out, sizeof out, "%s/out.npy", dir);
	snprintf(errf, sizeof errf, "%s/stderr", dir);
	/* every rule the tool can run alone (weighted needs the caller's weights) */
	static const char *const rules[] = {"mean", "median", "trimmed-mean", "meamed", "phocas",
					    "krum", "multi-krum", "bulyan", "geomed", "flag"};
	int failures = 0, checked = 0;
	float x[P * D];
	for (int s = 0; s < MAGNITUDE_CASES; s++) {
		magnitude_case(s, P, D, x);
		size_t shape[2] = {P, D};
		if (pn_npy_write_f32(in, x, shape, 2, err, sizeof err) != 0) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
		for (size_t r = 0; r < sizeof rules / sizeof *rules; r++) {
			unlink(out);
			int rc = run_tool(argv[1], rules[r], in, out, errf);
			checked++;
			if (rc == 0) {
				float *y = NULL;
				size_t sh[PN_NPY_MAX_DIMS];
				int nd = 0;
				if (pn_npy_read_f32(out, &y, sh, &nd, err, sizeof err) != 0 || nd != 1 ||
				    sh[0] != D) {
					printf("FAIL %s, %s: rc 0 but no (d,) output: %s\n", rules[r],
					       magnitude_case_name[s], err);
					failures++;
				} else {
					for (int c = 0; c < D; c++)
						if (!isfinite(y[c])) {
							printf("FAIL %s, %s: rc 0 and output[%d] = %g\n", rules[r],
							       magnitude_case_name[s], c, y[c]);
							failures++;
							break;
						}
				}
				free(y);
			} else {
				/* a refusal must say why, and only the 1e38 case may be refused */
				FILE *f = fopen(errf, "r");
				char msg[512] = "";
				if (f) {
					if (!fgets(msg, sizeof msg, f))
						msg[0] = 0;
					fclose(f);
				}
				if (!msg[0] || s != MAG_HUGEST_ROWS) {
					printf("FAIL %s, %s: rc %d, message '%s'\n", rules[r],
					       magnitude_case_name[s], rc, msg);
					failures++;
				}
			}
		}
	}
	for (int t = PN_DTYPE_BF16; t <= PN_DTYPE_F16; t++)
		for (int r = 0; r < 3; r++, checked++)
			failures += half_input(argv[1], (pn_dtype)t, (const char *[]){"krum", "median", "flag"}[r],
					       in, out, errf);
	unlink(in), unlink(out), unlink(errf), rmdir(dir);
	printf("%d cases, %d failures\n", checked, failures);
	return failures ? 1 : 0;
}
