/* pennant-bench-stragglers: command-line options, their defaults and their ranges. */
#include "stragglers.h"

#include "bench_cli.h"
#include "version.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pennant-bench-stragglers [options]\n"
		"Simulates aggregation rounds with n workers and reports round time p50/p99 as ratios\n"
		"to a straggler-free uncoded round (same run) for: uncoded wait-for-all, uncoded\n"
		"ignore-stragglers (and its gradient bias), fractional, cyclic, expander (approximate)\n"
		"GC-DC and communication-efficient codes (messages of d/m: link time / m, load s+m);\n"
		"then heterogeneity-aware sizing on vs off.\n"
		"  --n N            workers (default 16)\n"
		"  --s S            stragglers to tolerate (default 2)\n"
		"  --model M        exp | markov | adversarial | all (default all)\n"
		"  --rounds R       rounds per model (default 1000)\n"
		"  --seed X         RNG seed (default 1)\n"
		"  --clusters P     GC-DC clusters (default: automatic)\n"
		"  --chunks K       chunks per gradient (default 8)\n"
		"  --comm T         link time of one gradient, in partition-compute units (default 0.05)\n"
		"  --comm-dim M     comm-efficient code: messages of d/M values (default 2)\n"
		"  --policy NAME    pull order: round-robin | earliest-ready | layer-priority\n"
		"  --window-worker W / --window-total W   reads in flight (default 2 / 8)\n"
		"  --exp-mean X     exp model: mean delay (default 1.0)\n"
		"  --p-slow X --p-recover X   markov transition probabilities (default 0.05 / 0.3)\n"
		"  --slow-delay X   markov/adversarial slow delay (default 10)\n"
		"  --jitter X       mean exponential jitter of every worker (default 0.1)\n"
		"  --json           JSON output\n"
		"  --uep            instead: unequal vs equal error protection at a deadline (Markov model,\n"
		"                   same load budget D = 1..4), using --n --rounds --seed and the markov options\n"
		"  --uep-slack X    deadline = D + X (default 1)\n"
		"  --uep-norms L --uep-sizes L   per-block norms and coordinate shares, comma-separated\n"
		"                   (default 0.2,0.5,1,2 and 0.4,0.3,0.2,0.1)\n"
		"  --matmul         instead: MDS-coded A*x vs uncoded, n = 2,4,..,--mm-max-n (default 256)\n"
		"  --mm-shift X --mm-rate X   worker time (shift + Exp(rate))/k (default 1 / 1)\n"
		"  --help\n"
		"Columns: load = partitions per worker; p50/p99/mean = round time / baseline;\n"
		"resid = mean ‖B_Fᵀa − 1‖/√n per round (0 = exact sum); bias = ‖mean_t(B_Fᵀa) − 1‖/√n\n"
		"(systematic under-weighting of some partitions); exact = rounds decoded exactly;\n"
		"cond = worst decode condition number (comm-efficient: of the generator columns G_F).\n");
}

/* "a,b,c" into v (at most 8); *count must agree between the lists given. */
static int parse_list(const char *str, double *v, int *count)
{
	int k = 0;
	const char *p = str;
	while (*p && k < 8) {
		char *end;
		double x = strtod(p, &end);
		if (end == p || !isfinite(x) || x < 0)
			return -EINVAL;
		v[k++] = x;
		p = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -EINVAL;
	}
	if (*p || k == 0)
		return -EINVAL;
	*count = k;
	return 0;
}

int stragglers_parse(int argc, char **argv, struct options *o)
{
	*o = (struct options){ .n = 16, .s = 2, .rounds = 1000, .chunks = 8, .window_worker = 2, .comm_dim = 2,
			       .window_total = 8, .model = -1, .seed = 1, .comm = 0.05,
			       .policy = &pn_policy_earliest_ready };
	model_defaults(&o->mp);
	uep_defaults(&o->ue);
	o->mm = (matmul_options){ .max_n = 256, .shift = 1.0, .rate = 1.0 };
	static const struct option longopts[] = {
		{ "n", required_argument, 0, 'n' },          { "s", required_argument, 0, 's' },
		{ "model", required_argument, 0, 'm' },      { "rounds", required_argument, 0, 'r' },
		{ "seed", required_argument, 0, 'x' },       { "clusters", required_argument, 0, 'P' },
		{ "chunks", required_argument, 0, 'k' },     { "comm", required_argument, 0, 'c' },
		{ "policy", required_argument, 0, 'o' },     { "window-worker", required_argument, 0, 'w' },
		{ "window-total", required_argument, 0, 'W' }, { "exp-mean", required_argument, 0, 'e' },
		{ "p-slow", required_argument, 0, 'a' },     { "p-recover", required_argument, 0, 'b' },
		{ "slow-delay", required_argument, 0, 'd' }, { "jitter", required_argument, 0, 'j' },
		{ "json", no_argument, 0, 'J' },             { "comm-dim", required_argument, 0, 'M' },
		{ "uep", no_argument, 0, 'U' },              { "uep-slack", required_argument, 0, 'S' },
		{ "uep-norms", required_argument, 0, 'N' },  { "uep-sizes", required_argument, 0, 'Z' },
		{ "matmul", no_argument, 0, 'X' },           { "mm-max-n", required_argument, 0, 'G' },
		{ "mm-shift", required_argument, 0, 'H' },   { "mm-rate", required_argument, 0, 'R' },
		{ 0, 0, 0, 0 },
	};
	struct bench_cli cli = { .prog = "pennant-bench-stragglers", .usage = usage, .opts = longopts };
	int c, status;
	char *end;
	while ((c = bench_cli_next(&cli, argc, argv, &status)) != -1) {
		if (c == BENCH_CLI_EXIT) {
			if (status == 0)
				exit(0);
			return -EINVAL;
		}
		bool numeric = optarg && c != 'm' && c != 'o' && c != 'N' && c != 'Z';
		double v = numeric ? strtod(optarg, &end) : 0;
		if (numeric && (*end || end == optarg || !isfinite(v))) {
			fprintf(stderr, "bad number '%s'\n", optarg);
			return -EINVAL;
		}
		switch (c) {
		case 'n': o->n = (int)v; break;
		case 's': o->s = (int)v; break;
		case 'r': o->rounds = (int)v; break;
		case 'x': o->seed = (uint64_t)v; break;
		case 'P': o->clusters = (int)v; break;
		case 'k': o->chunks = (int)v; break;
		case 'c': o->comm = v; break;
		case 'M': o->comm_dim = (int)v; break;
		case 'U': o->uep = true; break;
		case 'S': o->ue.slack = v; break;
		case 'X': o->matmul = true; break;
		case 'G': o->mm.max_n = (int)v; break;
		case 'H': o->mm.shift = v; break;
		case 'R': o->mm.rate = v; break;
		case 'N':
		case 'Z':
			if (parse_list(optarg, c == 'N' ? o->ue.norm : o->ue.size, &o->ue.blocks) < 0) {
				fprintf(stderr, "bad list '%s' (1..8 comma-separated numbers >= 0)\n", optarg);
				return -EINVAL;
			}
			break;
		case 'w': o->window_worker = (int)v; break;
		case 'W': o->window_total = (int)v; break;
		case 'e': o->mp.exp_mean = v; break;
		case 'a': o->mp.p_slow = v; break;
		case 'b': o->mp.p_recover = v; break;
		case 'd': o->mp.slow_delay = v; break;
		case 'j': o->mp.jitter = v; break;
		case 'J': o->json = true; break;
		case 'm':
			if (strcmp(optarg, "all") == 0) {
				o->model = -1;
			} else if ((o->model = model_from_name(optarg)) < 0) {
				fprintf(stderr, "unknown model '%s' (exp, markov, adversarial, all)\n", optarg);
				return -EINVAL;
			}
			break;
		case 'o':
			if (!(o->policy = pn_pull_policy_by_name(optarg))) {
				fprintf(stderr, "unknown policy '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		default: usage(stderr); return -EINVAL;
		}
		if (numeric && v < 0) {
			fprintf(stderr, "negative value '%s'\n", optarg);
			return -EINVAL;
		}
	}
	const char *why = NULL;
	if (o->n < 1 || o->n > 1024)
		why = "--n must be in [1, 1024]";
	else if (o->s < 0 || o->s >= o->n)
		why = "--s must be in [0, n)";
	else if (o->rounds < 1 || o->rounds > 10000000)
		why = "--rounds must be in [1, 1e7]";
	else if (o->chunks < 1 || o->chunks > 4096)
		why = "--chunks must be in [1, 4096]";
	else if (o->mm.max_n < 2 || o->mm.max_n > 4096 || !(o->mm.rate > 0))
		why = "--mm-max-n must be in [2, 4096], --mm-rate > 0";
	else if (o->comm_dim < 1 || o->comm_dim > o->n)
		why = "--comm-dim must be in [1, n]";
	else if (o->window_worker < 1 || o->window_total < 1)
		why = "windows must be >= 1";
	else if (!(o->comm >= 0) || !(o->mp.p_slow <= 1) || !(o->mp.p_recover <= 1) ||
		 !(o->mp.p_slow + o->mp.p_recover > 0))
		why = "probabilities must be in [0, 1] (and not both 0), comm >= 0";
	if (why) {
		fprintf(stderr, "pennant-bench-stragglers: %s\n", why);
		return -EINVAL;
	}
	return 0;
}

