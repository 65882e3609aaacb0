/* pennant-bench-pull: command line, parsed once, up front. */
#include "bench_pull.h"

#include "bench_cli.h"
#include "version.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pennant-bench-pull [options]\n"
		"  --backend NAME      tcp (default), dpdk, verbs\n"
		"  --options STR       backend options; {rank} becomes 0 (reader) or 1 (target)\n"
		"  --sizes MIN:MAX     powers of two from MIN to MAX (K/M suffixes; default 2:8M)\n"
		"  --iters N           reads per size (default 1000; capped by --max-bytes)\n"
		"  --lat-iters N       sequential reads per size for the latency table (default 1000)\n"
		"  --max-bytes SIZE    bytes moved per size at most (default 1G)\n"
		"  --outstanding N     reads in flight in the bandwidth pass (default 16)\n"
		"  --json PATH         also write results as JSON ('-': stdout, tables to stderr)\n"
		"  --no-baseline       skip the same-run raw baseline\n"
		"  --listen ADDR       forked mode: where the target listens (default 127.0.0.1:0)\n"
		"  --server ADDR       run only the target: listen at ADDR, serve one reader\n"
		"  --connect ADDR      run only the reader against a --server at ADDR\n"
		"  --token-file FILE   split roles: the job secret (else PENNANT_JOB_TOKEN; forked\n"
		"                      mode draws a random one)\n"
		"  --version\n"
		"Without --server/--connect the target is a forked child process.\n");
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s)
		return -1;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end)
		return -1;
	*out = (size_t)v;
	return 0;
}

int bench_iters_for(const struct bench_opts *o, size_t size)
{
	uint64_t cap = o->max_bytes / size;
	int n = o->iters;
	if ((uint64_t)n > cap)
		n = cap < 10 ? 10 : (int)cap;
	return n;
}

size_t bench_landing_bytes(const struct bench_opts *o)
{
	size_t l = (size_t)o->outstanding * o->max_size;
	if (l > BENCH_LANDING_MAX)
		l = BENCH_LANDING_MAX;
	return l < o->max_size ? o->max_size : l;
}

size_t bench_slots_for(const struct bench_opts *o, size_t size)
{
	size_t slots = bench_landing_bytes(o) / size;
	return slots > (size_t)o->outstanding ? (size_t)o->outstanding : slots;
}

int bench_parse(int argc, char **argv, struct bench_opts *o)
{
	*o = (struct bench_opts){ .backend = "tcp", .options = "", .listen = "127.0.0.1:0",
				  .min_size = 2, .max_size = 8u << 20, .iters = 1000, .lat_iters = 1000,
				  .max_bytes = 1ull << 30, .outstanding = 16, .baseline = true };
	static const struct option lo[] = {
		{ "backend", required_argument, 0, 'b' }, { "options", required_argument, 0, 'o' },
		{ "sizes", required_argument, 0, 's' },   { "iters", required_argument, 0, 'n' },
		{ "lat-iters", required_argument, 0, 'L' }, { "max-bytes", required_argument, 0, 'm' },
		{ "outstanding", required_argument, 0, 'q' }, { "json", required_argument, 0, 'j' },
		{ "no-baseline", no_argument, 0, 'B' },   { "listen", required_argument, 0, 'l' },
		{ "server", required_argument, 0, 'S' },  { "connect", required_argument, 0, 'C' },
		{ "token-file", required_argument, 0, 'T' }, { 0, 0, 0, 0 },
	};
	struct bench_cli cli = { .prog = "pennant-bench-pull", .usage = usage, .opts = lo };
	const char *token_file = NULL;
	int c, status;
	while ((c = bench_cli_next(&cli, argc, argv, &status)) != -1) {
		size_t v;
		char *colon;
		switch (c) {
		case BENCH_CLI_EXIT: return status;
		case 'b': o->backend = optarg; break;
		case 'o': o->options = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'S': o->server = optarg; break;
		case 'C': o->connect = optarg; break;
		case 'j': o->json = optarg; break;
		case 'B': o->baseline = false; break;
		case 'n': o->iters = atoi(optarg); break;
		case 'L': o->lat_iters = atoi(optarg); break;
		case 'q': o->outstanding = atoi(optarg); break;
		case 'm':
			if (parse_size(optarg, &v) || v == 0)
				goto bad;
			o->max_bytes = v;
			break;
		case 's':
			colon = strchr(optarg, ':');
			if (!colon) {
				if (parse_size(optarg, &v))
					goto bad;
				o->min_size = o->max_size = v;
			} else {
				*colon = '\0';
				if (parse_size(optarg, &o->min_size) || parse_size(colon + 1, &o->max_size))
					goto bad;
			}
			break;
		case 'T': token_file = optarg; break;
		default: goto bad;
		}
	}
	if (o->min_size == 0 || o->max_size < o->min_size || o->iters <= 0 ||
	    o->lat_iters < 0 || o->outstanding <= 0 || (o->server && o->connect))
		goto bad;
	char err[256];
	int got = pn_secret_load(&o->secret, token_file, err, sizeof err);
	if (got < 0) {
		fprintf(stderr, "pennant-bench-pull: %s\n", err);
		return 2;
	}
	if (!got && (o->server || o->connect)) {
		fprintf(stderr, "pennant-bench-pull: --server/--connect need the job secret: set %s or "
				"give --token-file FILE\n", PN_SECRET_ENV);
		return 2;
	}
	if (!got && pn_secret_random(&o->secret, 32, err, sizeof err)) {
		fprintf(stderr, "pennant-bench-pull: %s\n", err);
		return 2;
	}
	return -1;
bad:
	fprintf(stderr, "pennant-bench-pull: bad arguments (see pennant-bench-pull --help)\n");
	return 2;
}
