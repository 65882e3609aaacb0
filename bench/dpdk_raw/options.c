/* Command line, parsed once, up front; the clock and the context both roles open. */
#include "bench_dpdk_raw.h"

#include "bench_cli.h"
#include "version.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pennant-bench-dpdk-raw --role reader|target --options DPDK_OPTS --addr IP:PORT\n"
		"         [--node N] [--size BYTES (64M)] [--rounds N (5)] [--outstanding N (32)]\n"
		"         [--chunk BYTES] [--label TEXT] [--json PATH|-] [--token-file FILE] [--version]\n"
		"Both roles need the same job secret: PENNANT_JOB_TOKEN or --token-file FILE.\n"
		"The target exposes a region and blasts RAW frames on request; the reader alternates a\n"
		"raw round (frames with no protocol, counted on arrival) and a pull round (the full\n"
		"protocol: READ requests, DATA, copy into the landing buffer) and prints pull/raw.\n"
		"scripts/dpdk-bench sets up memif or af_packet and runs both roles.\n");
}

static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end == 'K' || *end == 'k')
		v <<= 10;
	else if (*end == 'M' || *end == 'm')
		v <<= 20;
	else if (*end == 'G' || *end == 'g')
		v <<= 30;
	return (size_t)v;
}

int bench_parse(int argc, char **argv, struct bench_opts *o)
{
	*o = (struct bench_opts){.node = 1, .size = 64u << 20, .rounds = 5, .outstanding = 32, .label = ""};
	static const struct option lo[] = {
		{"role", 1, 0, 'r'}, {"options", 1, 0, 'o'}, {"addr", 1, 0, 'a'}, {"node", 1, 0, 'n'},
		{"size", 1, 0, 's'}, {"rounds", 1, 0, 'R'}, {"outstanding", 1, 0, 'q'}, {"chunk", 1, 0, 'c'},
		{"json", 1, 0, 'j'}, {"label", 1, 0, 'l'}, {"token-file", 1, 0, 'T'}, {0, 0, 0, 0}};
	struct bench_cli cli = {.prog = "pennant-bench-dpdk-raw", .usage = usage, .opts = lo};
	const char *token_file = NULL;
	int status;
	for (int ch; (ch = bench_cli_next(&cli, argc, argv, &status)) != -1;) {
		switch (ch) {
		case BENCH_CLI_EXIT: return status;
		case 'r': o->role = optarg; break;
		case 'o': o->options = optarg; break;
		case 'a': o->addr = optarg; break;
		case 'n': o->node = (unsigned)strtoul(optarg, NULL, 0); break;
		case 's': o->size = parse_size(optarg); break;
		case 'R': o->rounds = atoi(optarg); break;
		case 'q': o->outstanding = atoi(optarg); break;
		case 'c': o->chunk = parse_size(optarg); break;
		case 'j': o->json = optarg; break;
		case 'l': o->label = optarg; break;
		case 'T': token_file = optarg; break;
		default: usage(stderr); return 2;
		}
	}
	if (!o->role || !o->options || !o->addr || !o->size || o->rounds < 1 || o->outstanding < 1 ||
	    (strcmp(o->role, "reader") && strcmp(o->role, "target"))) {
		fprintf(stderr, "pennant-bench-dpdk-raw: need --role reader|target, --options and --addr "
				"(see pennant-bench-dpdk-raw --help)\n");
		return 2;
	}
	char err[256];
	int got = pn_secret_load(&o->secret, token_file, err, sizeof err);
	if (got <= 0) {
		fprintf(stderr, "pennant-bench-dpdk-raw: %s\n",
			got < 0 ? err : "no job secret: set " PN_SECRET_ENV " or give --token-file FILE");
		return 2;
	}
	return -1;
}

pn_tp_ctx *bench_open(const struct bench_opts *o, uint32_t node_id, const char *who)
{
	char err[512] = "";
	pn_tp_config cfg = {.backend = "dpdk", .node_id = node_id, .options = o->options,
			    .secret = o->secret.bytes, .secret_len = o->secret.len};
	pn_tp_ctx *ctx = pn_tp_open(&cfg, err, sizeof err);
	if (!ctx)
		fprintf(stderr, "%s: %s\n", who, err);
	return ctx;
}
