/* pennant-node: an aggregation node between a group of workers and its parent (the
 * aggregator or another node). See include/pennant/node.h and node/README.md.
 *
 *   PENNANT_JOB_TOKEN=... pennant-node --connect AGG:7470 --rank 0 --children 4 \
 *       --workers 16 --dim 235146 --listen 0.0.0.0:7471
 */
#include "cli.h"
#include "version.h"
#include "pennant/node.h"
#include "pennant/token.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *prog = "pennant-node";

static void usage(FILE *o)
{
	fprintf(o,
		"usage: pennant-node --connect HOST:PORT --rank R --children G --workers N --dim D [options]\n"
		"\n"
		"Sits between G workers and its parent (an aggregator or another node): toward the\n"
		"workers it is their aggregator (they connect to --listen as to an aggregator, with\n"
		"their own ranks), toward the parent it is worker R, whose gradient is the SUM of its\n"
		"workers' gradients. The parent divides by the job's N workers (its --tree / leaves).\n"
		"The job secret comes from --token-file FILE or PENNANT_JOB_TOKEN, never from argv.\n"
		"\n"
		"options:\n"
		"  --connect HOST:PORT  the parent's address (required)\n"
		"  --rank R             this node's rank at its parent (required)\n"
		"  --children G         workers that join this node (required)\n"
		"  --first-rank B       their ranks are B .. B+G-1 (default R*G)\n"
		"  --workers N          workers in the whole job (required; what each worker is told)\n"
		"  --dim D              floats in the gradient and the model (required)\n"
		"  --listen HOST:PORT   where the workers connect (default 0.0.0.0:7471)\n"
		"  --node-mode M        sum (default): streaming sum; robust: the rule over the children's\n"
		"                       whole gradients (holds children x d floats), served x children;\n"
		"                       replica: the children are one replica group (each computes the\n"
		"                       group's G partitions): the first complete one is served, the\n"
		"                       others are checked against it; G - 1 may be late or gone\n"
		"  --quorum Q           replica: serve once Q replicas are identical (default 1; 2\n"
		"                       outvotes one Byzantine child)\n"
		"  --rule R             robust: the rule (median, trimmed-mean, krum, flag, ...)\n"
		"  --f F                robust: Byzantine children assumed in this group (default 0)\n"
		"  --m M, --beta B      robust: Multi-Krum's selection, trimmed mean's fraction\n"
		"  --slots S            landing slots of the pool (default 8)\n"
		"  --chunk-floats C     floats per pulled chunk (default 16384)\n"
"  --fixed-point        sum in int32 block fixed point (one exponent per 256 coordinates,\n"
"                       SwitchML-style) and serve that; its error against float32 is printed\n"
		"  --serve S            sum: prefix (default): tell the parent each completed prefix of\n"
		"                       the sum (PROGRESS), so it reads a chunk as soon as every worker\n"
		"                       has contributed to it; whole: READY only once the whole sum is\n"
		"                       done (with --fixed-point the sum is always served whole)\n"
		"  --backend B          transport (default tcp)\n"
		"  --tp-options S       backend options, key=value;...\n"
		"  --token-file FILE    the job secret (chmod 600); else PENNANT_JOB_TOKEN\n"
		"  --silence-ms MS      a worker silent this long is gone (default 5000)\n"
		"  --quiet              no progress lines\n"
		"  --version            print the version and commit\n"
		"  -h, --help           this help\n");
}

/* One line and the --help hint; returns 2, the exit status of a refused command line. */
__attribute__((format(printf, 1, 2))) static int bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s --help)\n", prog);
	return 2;
}

static int parse_count(const char *s, const char *name, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: --%s expects an integer in [%lld, %lld], got '%s'\n", prog, name, lo, hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_CONNECT = 256, O_RANK, O_CHILDREN, O_FIRST, O_WORKERS, O_DIM, O_LISTEN, O_MODE,
	       O_SLOTS, O_CHUNK, O_BACKEND, O_TPO, O_TOKEN_FILE, O_SILENCE, O_QUIET, O_VERSION, O_FIXED, O_QUORUM,
	       O_RULE, O_F, O_M, O_BETA, O_SERVE };
	static const struct option lo[] = {
		{"connect", 1, 0, O_CONNECT}, {"rank", 1, 0, O_RANK}, {"children", 1, 0, O_CHILDREN},
		{"first-rank", 1, 0, O_FIRST}, {"workers", 1, 0, O_WORKERS}, {"dim", 1, 0, O_DIM},
		{"listen", 1, 0, O_LISTEN}, {"node-mode", 1, 0, O_MODE}, {"slots", 1, 0, O_SLOTS},
		{"chunk-floats", 1, 0, O_CHUNK}, {"backend", 1, 0, O_BACKEND}, {"tp-options", 1, 0, O_TPO},
		{"token-file", 1, 0, O_TOKEN_FILE}, {"silence-ms", 1, 0, O_SILENCE},
		{"fixed-point", 0, 0, O_FIXED},
		{"rule", 1, 0, O_RULE}, {"f", 1, 0, O_F}, {"m", 1, 0, O_M}, {"beta", 1, 0, O_BETA},
		{"quorum", 1, 0, O_QUORUM}, {"serve", 1, 0, O_SERVE},
		{"quiet", 0, 0, O_QUIET}, {"version", 0, 0, O_VERSION}, {"help", 0, 0, 'h'}, {0, 0, 0, 0},
	};
	pn_node_config nc = {.listen = "0.0.0.0:7471", .rank = -1, .first_rank = -1,
			     .tp = {.backend = "tcp"}, .log = stderr};
	long long rank = -1, children = 0, first = -1, workers = 0, dim = 0, slots = 0, chunk = 0,
		  silence = 0, quorum = 0;
	const char *token_file = NULL, *mode = "sum", *rule = NULL, *serve = NULL;
	long long f = 0, mk = 0;
	double beta = 0;
	opterr = 0;
	int c, idx = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, &idx)) != -1) {
		int rc = 0;
		switch (c) {
		case O_CONNECT: nc.parent = optarg; break;
		case O_RANK: rc = parse_count(optarg, "rank", 0, 4094, &rank); break;
		case O_CHILDREN: rc = parse_count(optarg, "children", 1, 4095, &children); break;
		case O_FIRST: rc = parse_count(optarg, "first-rank", 0, 4094, &first); break;
		case O_WORKERS: rc = parse_count(optarg, "workers", 1, 4095, &workers); break;
		case O_DIM: rc = parse_count(optarg, "dim", 1, 1LL << 31, &dim); break;
		case O_LISTEN: nc.listen = optarg; break;
		case O_MODE: mode = optarg; break;
		case O_SLOTS: rc = parse_count(optarg, "slots", 1, 4096, &slots); break;
		case O_CHUNK: rc = parse_count(optarg, "chunk-floats", 1, 1 << 24, &chunk); break;
		case O_BACKEND: nc.tp.backend = optarg; break;
		case O_TPO: nc.tp.options = optarg; break;
		case O_TOKEN_FILE: token_file = optarg; break;
		case O_SILENCE: rc = parse_count(optarg, "silence-ms", 2, 86400000, &silence); break;
		case O_QUIET: nc.log = NULL; break;
		case O_FIXED: nc.fixed_point = true; break;
		case O_QUORUM: rc = parse_count(optarg, "quorum", 1, PN_JOB_MAX_PARTS, &quorum); break;
		case O_RULE: rule = optarg; break;
		case O_SERVE: serve = optarg; break;
		case O_F: rc = parse_count(optarg, "f", 0, 4094, &f); break;
		case O_M: rc = parse_count(optarg, "m", 0, 4094, &mk); break;
		case O_BETA:
			beta = strtod(optarg, NULL);
			if (!(beta >= 0 && beta < 0.5))
				return bad("--beta must be in [0, 0.5), got '%s'", optarg);
			break;
		case O_VERSION: pn_tools_print_version(stdout, prog); return 0;
		case 'h': usage(stdout); return 0;
		default: return pn_cli_bad_option(prog, c, argv);
		}
		if (rc)
			return 2;
	}
	if (optind != argc)
		return bad("unexpected argument '%s'", argv[optind]);
	int m = pn_node_mode_from_name(mode);
	if (m < 0)
		return bad("--node-mode is sum, robust or replica, got '%s'", mode);
	pn_agg_config ac;
	if (m == PN_NODE_ROBUST) {
		if (!rule || pn_rule_from_name(rule) < 0 || pn_rule_from_name(rule) == PN_RULE_WEIGHTED)
			return bad("--node-mode robust needs --rule R (a rule of pennant-train --help), got '%s'",
				   rule ? rule : "none");
		pn_agg_config_init(&ac, (int)children, (size_t)dim, (pn_rule)pn_rule_from_name(rule));
		ac.f = (int)f;
		ac.m = (int)mk;
		ac.beta = beta;
		ac.threads = 1;
		char e[256];
		if (pn_agg_config_check(&ac, e, sizeof e))
			return bad("--rule %s over %lld children: %s", rule, children, e);
		nc.rule = &ac;
	} else if (rule) {
		return bad("--rule goes with --node-mode robust");
	}
	if (m != PN_NODE_SUM && nc.fixed_point)
		return bad("--fixed-point goes with --node-mode sum");
	int whole = serve ? pn_node_serve_from_name(serve) : 0;
	if (whole < 0)
		return bad("--serve is prefix or whole, got '%s'", serve);
	if (serve && m != PN_NODE_SUM)
		return bad("--serve goes with --node-mode sum (robust and replica nodes serve whole rounds)");
	nc.serve_whole = whole == 1;
	if (quorum && (m != PN_NODE_REPLICA || quorum > children))
		return bad("--quorum Q goes with --node-mode replica, Q <= --children");
	nc.replica_quorum = (int)quorum;
	if (!nc.parent || rank < 0 || !children || !workers || !dim)
		return bad("--connect, --rank, --children, --workers and --dim are required");
	if (first < 0)
		first = rank * children;
	if (first + children > workers)
		return bad("workers %lld..%lld do not fit a job of %lld", first, first + children - 1, workers);
	static uint8_t secret[PN_JOB_TOKEN_MAX + 1];
	size_t slen = 0;
	char err[512];
	int got = pn_job_token_load(token_file, secret, &slen, err, sizeof err);
	if (got <= 0) {
		fprintf(stderr, "%s: %s\n", prog, got < 0 ? err : "the job secret is needed: set "
			PN_JOB_TOKEN_ENV " or give --token-file FILE");
		return 2;
	}
	nc.tp.secret = secret;
	nc.tp.secret_len = slen;
	nc.tp.node_id = (uint32_t)(workers + 1 + rank); /* 0 root, rank + 1 workers, then nodes */
	nc.rank = (int)rank;
	nc.children = (int)children;
	nc.first_rank = (int)first;
	nc.leaves = (int)workers;
	nc.d = (size_t)dim;
	nc.mode = (pn_node_mode)m;
	nc.slots = (int)slots;
	nc.chunk_floats = (size_t)chunk;
	nc.silence_ms = (int)silence;
	pn_node_result res;
	int rc = pn_node_run(&nc, &res, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	if (nc.log)
		fprintf(stderr, "%s: %lld rounds, %.1f MB pulled, %.2f MB of data memory, %lld progress "
			"messages\n", prog, (long long)res.rounds, res.bytes_pulled / 1e6, res.memory_bytes / 1e6,
			(long long)res.progress_sent);
	if (nc.log && nc.fixed_point)
		fprintf(stderr, "%s: fixed-point sum: largest relative error against float32 %.3g, %llu "
			"block rescales\n", prog, res.fixed_rel_err_max, (unsigned long long)res.fixed_rescales);
	if (nc.log && m == PN_NODE_REPLICA)
		fprintf(stderr, "%s: replica checks: %lld agreed, %lld differed, %lld not checked; %lld "
			"candidates given up; %d children lost\n", prog, (long long)res.replica_agreed,
			(long long)res.replica_disagreed, (long long)res.replica_unchecked,
			(long long)res.replica_rejected, res.children_lost);
	return 0;
}
