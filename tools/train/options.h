/* pennant-train's command line: parsing and the whole validation, done before anything
 * is forked, opened or loaded, so a bad configuration costs one line and exit status 2. */
#ifndef PENNANT_TOOLS_TRAIN_OPTIONS_H
#define PENNANT_TOOLS_TRAIN_OPTIONS_H

#include "secret.h"
#include "pennant/job.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum train_role {
	TRAIN_LOCAL,      /* aggregator + n forked workers on this host */
	TRAIN_AGGREGATOR,
	TRAIN_WORKER,
	TRAIN_REFERENCE,  /* one process, no distribution */
} train_role;

/* Where a worker of a split job learns the aggregator's address (bootstrap.h). */
typedef enum train_addr_source {
	TRAIN_ADDR_NONE,  /* a local or reference run: nothing to exchange */
	TRAIN_ADDR_FLAG,  /* --connect (worker), --listen (aggregator): the user's addresses */
	TRAIN_ADDR_ENV,   /* PENNANT_AGGREGATOR */
	TRAIN_ADDR_FILE,  /* --rendezvous FILE */
	TRAIN_ADDR_MPI,   /* broadcast by launcher rank 0 */
} train_addr_source;

typedef struct train_opts {
	const char *prog;          /* program name, for messages */
	train_role role;
	int n, byz_count, rank;
	const char *byz_ranks, *attack;
	const char *rule, *mode, *code, *wait, *pull_policy;
	int f, r, m, s;
	double lambda, beta;
	int64_t rounds;
	int batch, eval_every;
	double lr, momentum, wd, deadline_ms;
	const char *model, *data;
	const char *backend, *tp_options, *listen, *connect;
	const char *token_file;
	pn_secret secret;          /* len 0: none (a loopback-only job without a secret) */
	uint64_t seed;
	bool pipelining, quiet;
	bool check_only;           /* --check: validate everything, run nothing */
	const char *json;          /* path, "-" for stdout */
	const char *save_model;
	const char *save_worker_model; /* a worker's own final model (rank 0's when local) */
	pn_serve serve;            /* --serve model|gradient */
	pn_dtype grad_dtype;       /* --grad-dtype f32|bf16|f16: what workers expose and the job pulls */
	int64_t dim;               /* --dim D: gradients of the workers' own model (0: the built-in one) */
	int comm_dim;              /* --comm-dim M: comm-efficient messages of d/M (0: the code's default) */
	int shards;                /* --shards K: aggregator shards (1: the unsharded job) */
	int shard_index;           /* a launched sharded job's aggregator: its shard (its launcher rank) */
	char shard0[256];          /* shard k > 0 of a launched job: shard 0's address (from MPI) */
	char *shard_addrs;         /* a launched sharded job's worker: "a0,a1,..." (from MPI) */
	int bcasts;                /* MPI: the address broadcasts (roots 0, 1, ...) joined so far */
	int tree;                  /* --tree G: local tree, G workers per node (0: flat) */
	const char *node_mode;     /* --node-mode sum|robust (only sum is built) */
	bool fixed_point;          /* --fixed-point: sum nodes sum in block fixed point */
	const char *node_serve;    /* --node-serve prefix|whole: sum nodes' PROGRESS, or READY only */
	int replica_quorum;        /* --replica-quorum Q: identical replicas a replica node needs */
	int node_index;            /* a tree under mpirun: this rank is node j (role worker), else -1 */
	const char *straggle_ranks, *straggle_spec;
	pn_faults straggle;        /* the parsed --straggle delay */
	int kill_rank;
	int kill_node; /* --tree: node K exits abruptly at --kill-round (-1: none) */
	bool no_bypass; /* --tree: a dead node ends the job instead of being bypassed */
	int node_stall_ms; /* --kill-node: the node first hangs this long (0: exits at once) */
	/* a local tree's worker: the root to join if its node goes away (NULL: none), and the
	 * root's peer slot for it */
	const char *fallback;
	int fallback_rank;
	int64_t kill_round;
	int window_per_worker, window_total;
	bool *byz, *slow;          /* n flags each: Byzantine ranks, straggling ranks */
	FILE *out;                 /* human lines: stdout, or stderr when the JSON goes to stdout */
	char memif_dir[64];        /* the local DPDK memif topology's socket folder, if built */
	bool role_given, workers_given; /* by a flag or the program name: a launcher must agree */
	const char *launcher;      /* "mpirun", "srun", "PMIx" when one started the job, else NULL */
	int launch_rank, launch_size;
	const char *rendezvous;    /* --rendezvous FILE */
	int rendezvous_timeout_s;
	train_addr_source addr_source;
	char job_id[128];          /* the launcher's job id (names the rendezvous file), may be "" */
	const char *job_id_from;   /* the variable it came from, NULL: none */
	char addr_buf[256];        /* a worker's looked-up aggregator address (o->connect) */
	char published[256];       /* what the aggregator published ("" : nothing yet) */
	bool told;                 /* the aggregator has told its workers (MPI: broadcast done) */
	double t_start;            /* wall clock at start (a rendezvous file must be newer) */
} train_opts;

/* Parses and validates argv. Returns -1 when the job should run, else the exit status:
 * 0 after --help or --version, 2 after a one-line reason on stderr. */
int train_options(int argc, char **argv, train_opts *o);
const char *train_role_name(train_role role);
/* "PROG: reason" on stderr; returns 2, the exit status of a refused configuration. */
__attribute__((format(printf, 2, 3))) int train_refuse(const train_opts *o, const char *fmt, ...);
/* The aggregator's job configuration from the options (rule, code, policies, optimizer),
 * for a model of d parameters (0: not known yet, as when validating). The caller adds the
 * transport, the model and the callbacks. */
void train_job_config(const train_opts *o, size_t d, pn_agg_job_config *jc);
void train_options_free(train_opts *o);
/* tree.c: the aggregator's direct peers: the nodes of a tree (n / G), else the n workers */
int train_peers(const train_opts *o);
/* tree.c: whether a dead node's workers join the root (a local tcp tree of sum nodes,
 * unless --no-bypass), and the root's peer slots: the nodes, plus then one per worker */
bool train_tree_bypass(const train_opts *o);
int train_root_slots(const train_opts *o);
/* tree.c: what --tree G accepts (its first version); -1 to go on, else 2 after a line */
int train_validate_tree(train_opts *o);

#endif
