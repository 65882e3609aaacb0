/* pennant-train's command line: parsing, then the whole configuration checked up front
 * (the job configuration through the library's pn_agg_job_config_check, fault specs,
 * output paths, the job secret) so that nothing is forked for a job that cannot run. */
#include "options.h"
#include "option_values.h"

#include "bootstrap.h"
#include "cli.h"
#include "launch.h"
#include "usage.h"
#include "version.h"
#include "pennant/codes.h"
#include "pennant/node.h"
#include "pennant/rendezvous.h"
#include "pennant/sched.h"
#include "pennant/shard.h"
#include "pennant/straggler.h"
#include "pennant/train.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const role_names[] = {
	[TRAIN_LOCAL] = "local", [TRAIN_AGGREGATOR] = "aggregator",
	[TRAIN_WORKER] = "worker", [TRAIN_REFERENCE] = "reference",
};

const char *train_role_name(train_role role)
{
	return role_names[role];
}

static int role_from_name(const char *s)
{
	for (int i = 0; i < (int)(sizeof role_names / sizeof *role_names); i++)
		if (strcmp(s, role_names[i]) == 0)
			return i;
	return -1;
}

/* One line on stderr, exit status 2. */
int train_refuse(const train_opts *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", o->prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 2;
}

void train_job_config(const train_opts *o, size_t d, pn_agg_job_config *jc)
{
	bool bypass = train_tree_bypass(o); /* (absent workers' slots are not stragglers: wait all) */
	*jc = (pn_agg_job_config){.listen = o->listen, .n = train_root_slots(o),
				  .leaves = o->tree ? o->n : 0, .tree_nodes = bypass ? o->n / o->tree : 0,
				  .rounds = o->rounds, .seed = o->seed,
				  .wait = bypass ? "all" : o->wait, .deadline_ms = o->deadline_ms,
				  .pull_policy = o->pull_policy, .window_per_worker = o->window_per_worker,
				  .window_total = o->window_total, .pipelining = o->pipelining, .lr = o->lr,
				  .momentum = o->momentum, .weight_decay = o->wd, .d = d,
				  .code_kind = pn_code_kind_from_name(o->code), .s = o->s,
				  .comm_dim = o->comm_dim,
				  .serve = o->serve};
	/* a tree's root is a mean over its nodes (robust nodes run --rule over their group) */
	pn_agg_config_init(&jc->rule, jc->n, d, (pn_rule)pn_rule_from_name(o->tree ? "mean" : o->rule));
	jc->rule.grad_dtype = o->grad_dtype;
	jc->rule.f = o->tree ? 0 : o->f;
	jc->rule.m = o->m;
	jc->rule.beta = o->beta;
	jc->rule.r = o->r;
	jc->rule.lambda = o->lambda;
	jc->rule.flag_mode = strcmp(o->mode, "converged") == 0 ? PN_FLAG_CONVERGED : PN_FLAG_REFERENCE;
	jc->rule.threads = 1; /* 2 cores shared with n workers */
}

static int parse_argv(int argc, char **argv, train_opts *o, bool *help)
{
	enum { O_ROLE = 256, O_N, O_ROUNDS, O_MODEL, O_BATCH, O_LR, O_MOM, O_WD, O_DATA, O_EVAL,
	       O_SEED, O_RULE, O_F, O_R, O_LAMBDA, O_MODE, O_M, O_BETA, O_CODE, O_S, O_WAIT,
	       O_DEADLINE, O_PULL, O_WIN, O_WINT, O_PIPE, O_BYZ, O_BYZR, O_ATTACK, O_STRAG, O_KILLR, O_KILLNODE,
	       O_KILLN, O_BACKEND, O_TPO, O_LISTEN, O_CONNECT, O_RANK, O_TOKEN, O_TOKEN_FILE, O_JSON,
	       O_QUIET, O_REF, O_SAVE, O_VERSION, O_CHECK, O_RDV, O_RDV_TIMEOUT, O_SERVE,
	       O_SAVEW, O_DIM, O_SHARDS, O_COMM_DIM, O_GRAD_DTYPE, O_TREE, O_NODE_MODE, O_FIXED_POINT,
	       O_NO_BYPASS, O_NODE_STALL, O_QUORUM, O_NODE_SERVE };
	static const struct option lo[] = {
		{"role", 1, 0, O_ROLE}, {"workers", 1, 0, O_N}, {"rounds", 1, 0, O_ROUNDS},
		{"model", 1, 0, O_MODEL}, {"batch", 1, 0, O_BATCH}, {"lr", 1, 0, O_LR},
		{"momentum", 1, 0, O_MOM}, {"weight-decay", 1, 0, O_WD}, {"data", 1, 0, O_DATA},
		{"eval-every", 1, 0, O_EVAL}, {"seed", 1, 0, O_SEED}, {"rule", 1, 0, O_RULE},
		{"f", 1, 0, O_F}, {"r", 1, 0, O_R}, {"lambda", 1, 0, O_LAMBDA}, {"mode", 1, 0, O_MODE},
		{"m", 1, 0, O_M}, {"beta", 1, 0, O_BETA}, {"code", 1, 0, O_CODE}, {"s", 1, 0, O_S},
		{"comm-dim", 1, 0, O_COMM_DIM},
		{"wait", 1, 0, O_WAIT}, {"deadline-ms", 1, 0, O_DEADLINE}, {"pull-policy", 1, 0, O_PULL},
		{"window", 1, 0, O_WIN}, {"window-total", 1, 0, O_WINT}, {"pipelining", 1, 0, O_PIPE},
		{"byzantine", 1, 0, O_BYZ}, {"byzantine-ranks", 1, 0, O_BYZR}, {"attack", 1, 0, O_ATTACK},
		{"straggle", 1, 0, O_STRAG}, {"kill-rank", 1, 0, O_KILLR}, {"kill-node", 1, 0, O_KILLNODE}, {"kill-round", 1, 0, O_KILLN},
		{"backend", 1, 0, O_BACKEND}, {"tp-options", 1, 0, O_TPO}, {"listen", 1, 0, O_LISTEN},
		{"connect", 1, 0, O_CONNECT}, {"rank", 1, 0, O_RANK}, {"token", 1, 0, O_TOKEN},
		{"rendezvous", 1, 0, O_RDV}, {"rendezvous-timeout", 1, 0, O_RDV_TIMEOUT},
		{"token-file", 1, 0, O_TOKEN_FILE}, {"json", 1, 0, O_JSON}, {"save-model", 1, 0, O_SAVE},
		{"quiet", 0, 0, O_QUIET}, {"reference", 0, 0, O_REF}, {"version", 0, 0, O_VERSION},
		{"check", 0, 0, O_CHECK}, {"serve", 1, 0, O_SERVE}, {"save-worker-model", 1, 0, O_SAVEW},
		{"dim", 1, 0, O_DIM}, {"shards", 1, 0, O_SHARDS}, {"grad-dtype", 1, 0, O_GRAD_DTYPE},
		{"tree", 1, 0, O_TREE}, {"node-mode", 1, 0, O_NODE_MODE}, {"replica-quorum", 1, 0, O_QUORUM},
		{"fixed-point", 0, 0, O_FIXED_POINT}, {"no-bypass", 0, 0, O_NO_BYPASS},
		{"node-stall-ms", 1, 0, O_NODE_STALL}, {"node-serve", 1, 0, O_NODE_SERVE},
		{"help", 0, 0, 'h'}, {0, 0, 0, 0},
	};
	opterr = 0;
	int c, idx = 0;
	long long v;
	double x;
	/* integer options: field, lower and upper bound */
#define INT(field, lo_, hi_)                                                                         \
	do {                                                                                         \
		if (!parse_long(optarg, lo_, hi_, &v))                                               \
			return train_refuse(o, "--%s expects an integer in [%lld, %lld], got '%s'",        \
				      lo[idx].name, (long long)(lo_), (long long)(hi_), optarg);     \
		o->field = v;                                                                        \
	} while (0)
#define REAL(field)                                                                                  \
	do {                                                                                         \
		if (!parse_real(optarg, &x))                                                         \
			return train_refuse(o, "--%s expects a finite number, got '%s'", lo[idx].name,     \
				      optarg);                                                       \
		o->field = x;                                                                        \
	} while (0)
	while ((c = getopt_long(argc, argv, ":h", lo, &idx)) != -1) {
		switch (c) {
		case O_ROLE:
			if (role_from_name(optarg) < 0)
				return train_refuse(o, "unknown role '%s' (local, aggregator, worker, reference)",
					      optarg);
			o->role = (train_role)role_from_name(optarg);
			o->role_given = o->role != TRAIN_LOCAL;
			break;
		case O_REF: o->role = TRAIN_REFERENCE, o->role_given = true; break;
		case O_N: INT(n, 1, 1000); o->workers_given = true; break;
		case O_ROUNDS: INT(rounds, 1, INT64_MAX); break;
		case O_MODEL: o->model = optarg; break;
		case O_BATCH: INT(batch, 1, 1 << 20); break;
		case O_LR: REAL(lr); break;
		case O_MOM: REAL(momentum); break;
		case O_WD: REAL(wd); break;
		case O_DATA: o->data = optarg; break;
		case O_EVAL: INT(eval_every, 0, INT32_MAX); break;
		case O_SEED: INT(seed, 0, INT64_MAX); break;
		case O_RULE: o->rule = optarg; break;
		case O_F: INT(f, 0, 1000); break;
		case O_R: INT(r, 0, 1000); break;
		case O_LAMBDA: REAL(lambda); break;
		case O_MODE: o->mode = optarg; break;
		case O_M: INT(m, 0, 1000); break;
		case O_BETA: REAL(beta); break;
		case O_CODE: o->code = optarg; break;
		case O_S: INT(s, 0, 1000); break;
		case O_COMM_DIM: INT(comm_dim, 1, 1000); break;
		case O_WAIT: o->wait = optarg; break;
		case O_DEADLINE: REAL(deadline_ms); break;
		case O_PULL: o->pull_policy = optarg; break;
		case O_WIN: INT(window_per_worker, 0, 1 << 16); break;
		case O_WINT: INT(window_total, 0, 1 << 20); break;
		case O_PIPE:
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return train_refuse(o, "--pipelining is on or off, got '%s'", optarg);
			o->pipelining = strcmp(optarg, "on") == 0;
			break;
		case O_BYZ: INT(byz_count, 0, 1000); break;
		case O_BYZR: o->byz_ranks = optarg; break;
		case O_ATTACK: o->attack = optarg; break;
		case O_STRAG: {
			char *colon = strchr(optarg, ':');
			if (!colon)
				return train_refuse(o, "--straggle RANKS:SPEC (e.g. 4,7:exp:200), got '%s'", optarg);
			*colon = 0;
			o->straggle_ranks = optarg;
			o->straggle_spec = colon + 1;
			break;
		}
		case O_KILLR: INT(kill_rank, 0, 999); break;
		case O_KILLNODE: INT(kill_node, 0, 999); break;
		case O_NO_BYPASS: o->no_bypass = true; break;
		case O_NODE_STALL: INT(node_stall_ms, 1, 600000); break;
		case O_KILLN: INT(kill_round, 0, INT64_MAX); break;
		case O_BACKEND: o->backend = optarg; break;
		case O_TPO: o->tp_options = optarg; break;
		case O_LISTEN: o->listen = optarg; break;
		case O_CONNECT: o->connect = optarg; break;
		case O_RANK: INT(rank, 0, 999); break;
		case O_RDV: o->rendezvous = optarg; break;
		case O_RDV_TIMEOUT: INT(rendezvous_timeout_s, 1, 86400); break;
		case O_TOKEN:
			return train_refuse(o, "--token is refused: the command line is visible to every user "
					 "(ps, /proc); put the secret in %s or in a file given with "
					 "--token-file FILE (chmod 600)", PN_SECRET_ENV);
		case O_TOKEN_FILE: o->token_file = optarg; break;
		case O_JSON: o->json = optarg; break;
		case O_SAVE: o->save_model = optarg; break;
		case O_SAVEW: o->save_worker_model = optarg; break;
		case O_DIM: INT(dim, 1, 1LL << 31); break;
		case O_SHARDS: INT(shards, 1, PN_SHARD_MAX); break;
		case O_TREE: INT(tree, 1, 1000); break;
		case O_NODE_MODE: o->node_mode = optarg; break;
		case O_FIXED_POINT: o->fixed_point = true; break;
		case O_NODE_SERVE:
			if (pn_node_serve_from_name(optarg) < 0)
				return train_refuse(o, "--node-serve is prefix or whole, got '%s'", optarg);
			o->node_serve = optarg;
			break;
		case O_QUORUM: INT(replica_quorum, 1, PN_JOB_MAX_PARTS); break;
		case O_SERVE:
			if (strcmp(optarg, "model") && strcmp(optarg, "gradient"))
				return train_refuse(o, "--serve is model or gradient, got '%s'", optarg);
			o->serve = strcmp(optarg, "gradient") == 0 ? PN_SERVE_GRADIENT : PN_SERVE_MODEL;
			break;
		case O_GRAD_DTYPE: {
			int t = pn_dtype_from_name(optarg);
			if (t < 0)
				return train_refuse(o, "--grad-dtype is f32, bf16 or f16, got '%s'", optarg);
			o->grad_dtype = (pn_dtype)t;
			break;
		}
		case O_QUIET: o->quiet = true; break;
		case O_CHECK: o->check_only = true; break;
		case O_VERSION: pn_tools_print_version(stdout, o->prog); return 0;
		case 'h': *help = true; break;
		default: return pn_cli_bad_option(o->prog, c, argv);
		}
	}
#undef INT
#undef REAL
	if (optind != argc)
		return train_refuse(o, "unexpected argument '%s' (see %s --help)", argv[optind], o->prog);
	return -1;
}

/* Everything that can be known before the job starts. */
static int validate(train_opts *o)
{
	char err[512];
	int rc;
	bool local = o->role == TRAIN_LOCAL;
	if (!(o->lr > 0) || !(o->momentum >= 0 && o->momentum < 1) || !(o->wd >= 0))
		return train_refuse(o, "need --lr > 0, --momentum in [0, 1), --weight-decay >= 0");
	if (!(o->deadline_ms > 0))
		return train_refuse(o, "--deadline-ms must be > 0");
	if (pn_rule_from_name(o->rule) < 0)
		return train_refuse(o, "unknown rule '%s' (see %s --help)", o->rule, o->prog);
	if (pn_byzantine_from_name(o->attack) <= 0)
		return train_refuse(o, "unknown attack '%s' (see %s --help)", o->attack, o->prog);
	if (strcmp(o->mode, "reference") && strcmp(o->mode, "converged"))
		return train_refuse(o, "--mode is reference or converged, got '%s'", o->mode);
	/* Robust rules want every honest message: wait for all up to the deadline, then
	 * decode what the code allows. The mean is the code's decode: stop at its threshold. */
	if (!o->wait)
		o->wait = strcmp(o->rule, "mean") == 0 ? "code" : "all";
	if (pn_wait_mode_from_name(o->wait) < 0)
		return train_refuse(o, "unknown --wait '%s' (all, code, deadline)", o->wait);
	if (!pn_pull_policy_by_name(o->pull_policy))
		return train_refuse(o, "unknown --pull-policy '%s' (round-robin, earliest-ready, "
				 "layer-priority)", o->pull_policy);
	if (!o->code)
		o->code = o->s > 0 && o->n % (o->s + 1) == 0 ? "fractional" : "uncoded";
	if (pn_code_kind_from_name(o->code) < 0)
		return train_refuse(o, "unknown code '%s' (see %s --help)", o->code, o->prog);
	if (strcmp(o->code, "uncoded") == 0 && strcmp(o->wait, "code") == 0)
		o->s = 0;
	/* m settled here, not by the code's default, so every role sizes the same messages */
	bool ce = strcmp(o->code, "comm-efficient") == 0;
	if (!ce && o->comm_dim > 1)
		return train_refuse(o, "--comm-dim %d needs --code comm-efficient (code %s sends whole "
				    "gradients)", o->comm_dim, o->code);
	if (!o->comm_dim)
		o->comm_dim = ce ? 2 : 1;
	if (ce && o->s + o->comm_dim > o->n)
		return train_refuse(o, "--code comm-efficient needs s + m <= n workers (s=%d, m=%d, n=%d)",
				    o->s, o->comm_dim, o->n);
	/* K > 1 shards (pennant/shard.h): the first network version decides with wait=all
	 * across shards, serves the model and sends whole gradients (no comm-efficient code);
	 * other policies are refused (across hosts: see after the bootstrap choice below). */
	if (o->shards > 1 && ce)
		return train_refuse(o, "--shards %d sends whole gradients: --code comm-efficient is not "
				    "sharded", o->shards);
	if (o->shards > 1 && strcmp(o->wait, "all") != 0)
		return train_refuse(o, "--shards %d needs --wait all (one decision across shards waits "
				    "for every worker); got --wait %s", o->shards, o->wait);
	if (o->shards > 1 && o->serve != PN_SERVE_MODEL)
		return train_refuse(o, "--shards %d serves the model: --serve gradient is not sharded", o->shards);

	if ((rc = train_validate_tree(o)) >= 0)
		return rc;

	o->byz = calloc((size_t)o->n, sizeof(bool));
	o->slow = calloc((size_t)o->n, sizeof(bool));
	if (!o->byz || !o->slow)
		return train_refuse(o, "out of memory");
	if (o->byz_ranks) {
		int k = parse_ranks(o->byz_ranks, o->n, o->byz, err, sizeof err);
		if (k < 0)
			return train_refuse(o, "--byzantine-ranks: %s", err);
		o->byz_count = k;
	} else if (local) {
		if (o->byz_count >= o->n)
			return train_refuse(o, "--byzantine must be in [0, %d) with %d workers", o->n, o->n);
		uint64_t s = o->seed * 7919 + 17;
		for (int k = 0; k < o->byz_count;) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			int r = (int)(s % (uint64_t)o->n);
			if (!o->byz[r])
				o->byz[r] = true, k++;
		}
	} else {
		o->byz_count = 0;
	}
	if (o->straggle_ranks) {
		if (parse_ranks(o->straggle_ranks, o->n, o->slow, err, sizeof err) < 0)
			return train_refuse(o, "--straggle: %s", err);
		if (pn_delay_parse(o->straggle_spec, &o->straggle, err, sizeof err))
			return train_refuse(o, "--straggle: %s", err);
	}
	if (o->kill_rank >= o->n)
		return train_refuse(o, "--kill-rank %d is not a worker (0..%d)", o->kill_rank, o->n - 1);
	if (o->kill_rank >= 0 && o->kill_node >= 0)
		return train_refuse(o, "--kill-rank and --kill-node: one fault at a time");
	if ((o->kill_rank >= 0 || o->kill_node >= 0) != (o->kill_round >= 0))
		return train_refuse(o, "--kill-rank (or --kill-node) and --kill-round go together");
	/* The rule assumes f attackers: the injected ones in a local demo, else none unless
	 * told (a real job does not know its attackers). */
	if (o->f < 0)
		o->f = local ? o->byz_count : 0;

	/* The rule against the workers a round may have, the code, the policies: the
	 * library's own check of the job configuration that will run. */
	if (o->role != TRAIN_REFERENCE && o->role != TRAIN_WORKER) {
		if (o->f >= o->n)
			return train_refuse(o, "--f %d must be below the %d workers", o->f, o->n);
		pn_agg_job_config jc;
		train_job_config(o, 0, &jc);
		if (pn_agg_job_config_check(&jc, err, sizeof err))
			return train_refuse(o, "%s", err);
	}
	if (o->role == TRAIN_WORKER && (o->rank < 0 || o->rank >= o->n))
		return train_refuse(o, "a worker needs --rank in [0, %d) (or a launcher's rank)", o->n);
	/* where the workers find the aggregator: --connect, the environment, a file, MPI */
	if ((rc = train_bootstrap_choose(o)) >= 0)
		return rc;
	/* across hosts, MPI carries the K shards' addresses (mpi_shard_addresses) */
	if (o->shards > 1 && !local && o->addr_source != TRAIN_ADDR_MPI)
		return train_refuse(o, "--shards %d across hosts needs mpirun (or srun --mpi=pmix) and a "
				    "pennant-train built with MPI, which carries the shards' addresses; --connect, "
				    "--rendezvous and %s are not built for a sharded job yet", o->shards,
				    PN_RENDEZVOUS_ENV);
	/* --dim: aggregate gradients of a model this program does not know (the workers' own,
	 * e.g. PyTorch through python/pennant): no model, no test set, only the service */
	if (o->dim && (o->role != TRAIN_AGGREGATOR || o->serve != PN_SERVE_GRADIENT))
		return train_refuse(o, "--dim D is for an aggregator serving gradients of the workers' own "
				    "model (--role aggregator --serve gradient)");
	if (o->dim && o->save_model)
		return train_refuse(o, "--save-model with --dim: the aggregator holds no model, the "
				    "workers do (save it there)");
	if (o->save_model && !writable_path(o->save_model, err, sizeof err))
		return train_refuse(o, "--save-model %s cannot be written: %s", o->save_model, err);
	if (o->save_worker_model && !writable_path(o->save_worker_model, err, sizeof err))
		return train_refuse(o, "--save-worker-model %s cannot be written: %s", o->save_worker_model, err);
	if (o->json && strcmp(o->json, "-") && !writable_path(o->json, err, sizeof err))
		return train_refuse(o, "--json %s cannot be written: %s", o->json, err);

	/* The secret: a file or the environment; a job of forked processes draws its own. */
	int got = pn_secret_load(&o->secret, o->token_file, err, sizeof err);
	if (got < 0)
		return train_refuse(o, "%s", err);
	if (!got && local && pn_secret_random(&o->secret, 32, err, sizeof err))
		return train_refuse(o, "%s", err);
	if (!o->listen)
		o->listen = local ? "127.0.0.1:0" : "0.0.0.0:7470";
	if (!valid_address(o->listen))
		return train_refuse(o, "--listen %s is not HOST:PORT", o->listen);
	if (o->connect && !valid_address(o->connect))
		return train_refuse(o, "--connect %s is not HOST:PORT", o->connect);
	/* Split roles share a secret only if the user gives one; on loopback too, since any
	 * local user could otherwise join (the transport refuses an empty secret). */
	if (!got && o->role == TRAIN_AGGREGATOR)
		return train_refuse(o, "an aggregator listening on %s%s needs the job secret its workers share: "
				 "set %s or give --token-file FILE", o->listen,
			      loopback_address(o->listen) ? "" : " (not loopback)", PN_SECRET_ENV);
	if (!got && o->role == TRAIN_WORKER)
		return train_refuse(o, "a worker joining %s%s needs the job secret: set %s or give "
				 "--token-file FILE%s", o->connect ? o->connect : "its aggregator",
			      !o->connect || loopback_address(o->connect) ? "" : " (not loopback)", PN_SECRET_ENV,
			      o->launcher ? " (mpirun: -x " PN_SECRET_ENV "; srun passes the environment)" : "");
	return -1;
}

int train_options(int argc, char **argv, train_opts *o)
{
	*o = (train_opts){.role = TRAIN_LOCAL, .n = 15, .byz_count = 3, .attack = "uniform",
			  .rule = "flag", .mode = "reference", .pull_policy = "round-robin", .f = -1,
			  .r = 8, .s = 2, .rounds = 150, .batch = 32, .eval_every = 10, .lr = 0.05,
			  .momentum = 0.9, .wd = 1e-4, .deadline_ms = 1000, .model = "mlp",
			  .data = PN_FMNIST_DIR, .backend = "auto", .seed = 1, .pipelining = true,
			  .kill_rank = -1, .kill_node = -1, .kill_round = -1, .rank = -1, .out = stdout,
			  .rendezvous_timeout_s = 120, .shards = 1, .node_index = -1};
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	o->t_start = (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
	o->prog = "pennant-train";
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (strcmp(base, "pennant-aggregator") == 0)
		o->prog = base, o->role = TRAIN_AGGREGATOR, o->role_given = true;
	else if (strcmp(base, "pennant-worker") == 0)
		o->prog = base, o->role = TRAIN_WORKER, o->role_given = true;
	bool help = false;
	int rc = parse_argv(argc, argv, o, &help);
	if (rc >= 0)
		return rc;
	if (help) {
		train_usage(stdout, o->prog, o->role);
		return 0;
	}
	/* Launchers (mpirun, srun, PMIx): the role and rank from the job's layout. */
	if ((rc = train_launch_detect(o)) >= 0)
		return rc;
	if (o->json && strcmp(o->json, "-") == 0)
		o->out = stderr; /* stdout carries the JSON alone */
	return validate(o);
}

void train_options_free(train_opts *o)
{
	train_bootstrap_end(o);
	pn_secret_wipe(&o->secret);
	free(o->byz);
	free(o->slow);
	o->byz = o->slow = NULL;
}
