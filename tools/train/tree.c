/* Trees (--tree G): what a tree run accepts, and in a local tree node `node` of the
 * root's n/G peers, a forked process of the root that forks its G workers (ranks
 * node·G .. node·G + G - 1) itself. */
#include "roles.h"
#include "topology.h"
#include "pennant/node.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

/* --tree G: the first version is one level of sum nodes under a mean over tcp or dpdk, every
 * worker waited for (node/README.md says what is not built). -1 to go on, else 2. */
int train_validate_tree(train_opts *o)
{
	if (!o->tree && o->kill_node >= 0)
		return train_refuse(o, "--kill-node goes with --tree G");
	if (o->node_stall_ms && o->kill_node < 0)
		return train_refuse(o, "--node-stall-ms goes with --kill-node K --kill-round N");
	if (!o->tree && (o->node_mode || o->fixed_point || o->node_serve))
		return train_refuse(o, "--%s goes with --tree G",
				    o->node_mode ? "node-mode" : o->fixed_point ? "fixed-point" : "node-serve");
	if (o->replica_quorum && (!o->node_mode || strcmp(o->node_mode, "replica")))
		return train_refuse(o, "--replica-quorum goes with --tree G --node-mode replica");
	if (!o->tree)
		return -1;
	if (!o->node_mode)
		o->node_mode = "sum";
	int mode = pn_node_mode_from_name(o->node_mode);
	if (mode < 0)
		return train_refuse(o, "--node-mode is sum, robust or replica, got '%s'", o->node_mode);
	bool robust = mode == PN_NODE_ROBUST, replica = mode == PN_NODE_REPLICA;
	/* robust: --rule and --f are each node's over its G workers (f per group; default:
	 * the attackers spread evenly, ceil(byzantine / nodes)); the root is a mean over nodes */
	if (robust && o->f < 0)
		o->f = (o->byz_count + o->n / o->tree - 1) / (o->n / o->tree);
	/* local: the whole tree forked here; an aggregator alone: the root, whose n/G peers are
	 * pennant-node processes started by the user (each with its G pennant-workers) */
	/* under mpirun (launch.c: root, nodes, workers), MPI tells each its parent (tree_mpi.c) */
	bool mpi = o->launcher && strcmp(o->launcher, "srun") != 0;
	if (o->launcher ? !mpi : o->role != TRAIN_LOCAL && o->role != TRAIN_AGGREGATOR)
		return train_refuse(o, "--tree is for a local run, mpirun, or the root aggregator started by "
				    "hand (its peers are pennant-node processes); not for %s%s",
				    o->launcher ? "a job started by " : "a ",
				    o->launcher ? o->launcher : train_role_name(o->role));
	if (o->n % o->tree != 0)
		return train_refuse(o, "--tree %d must divide the %d workers", o->tree, o->n);
	if (strcmp(o->backend, "auto") == 0)
		o->backend = "tcp";
	if (strcmp(o->backend, "tcp") && strcmp(o->backend, "dpdk"))
		return train_refuse(o, "--tree runs over tcp or dpdk (memif locally, or --tp-options), got "
				    "--backend %s", o->backend);
	if ((!robust && strcmp(o->rule, "mean")) || strcmp(o->code, "uncoded") || o->s != 0)
		return train_refuse(o, "--tree with sum nodes needs --rule mean --code uncoded (s = 0); got "
				    "--rule %s --code %s --s %d", o->rule, o->code, o->s);
	/* replica nodes take stragglers, a killed worker and Byzantine workers (found by the check) */
	bool byz = (o->role == TRAIN_LOCAL && o->byz_count) || o->byz_ranks;
	if (byz && !robust && !replica)
		return train_refuse(o, "--tree with sum nodes cannot stand Byzantine workers: pass --byzantine 0, "
				    "or use --node-mode robust or replica");
	if ((o->straggle_ranks || o->kill_rank >= 0) && !replica)
		return train_refuse(o, "--straggle and --kill-rank under --tree need --node-mode replica (a sum "
				    "or robust node waits for all of its children)");
	if (o->serve != PN_SERVE_MODEL || o->shards != 1)
		return train_refuse(o, "--tree takes --serve model and one shard (got --serve %s, --shards %d)",
				    o->serve == PN_SERVE_MODEL ? "model" : "gradient", o->shards);
	if (mode != PN_NODE_SUM && (o->fixed_point || o->node_serve))
		return train_refuse(o, "--%s is for sum nodes (a robust node runs its rule in float over whole "
				    "gradients, a replica node serves one child's gradient)",
				    o->fixed_point ? "fixed-point" : "node-serve");
	if (replica && o->replica_quorum > o->tree)
		return train_refuse(o, "--replica-quorum %d is more than the %d replicas of a group",
				    o->replica_quorum, o->tree);
	if (replica && o->tree > PN_JOB_MAX_PARTS)
		return train_refuse(o, "--node-mode replica: a group computes its G partitions, at most %d",
				    PN_JOB_MAX_PARTS);
	if (o->kill_node >= o->n / o->tree || (o->kill_node >= 0 && o->role != TRAIN_LOCAL))
		return train_refuse(o, "--kill-node %d is not a node of this local tree (0..%d)", o->kill_node,
				    o->n / o->tree - 1);
	if (o->grad_dtype != PN_DTYPE_F32 || o->comm_dim > 1)
		return train_refuse(o, "--tree sums f32 whole gradients: no --grad-dtype %s, no --comm-dim",
				    pn_dtype_name(o->grad_dtype));
	return -1;
}

int train_peers(const train_opts *o)
{
	return o->tree ? o->n / o->tree : o->n;
}

bool train_tree_bypass(const train_opts *o)
{
	/* the workers must reach the root: tcp does, and dpdk given its options (af_packet on
	 * one switch); the local memif topology links each only to its node. A robust node's
	 * group would lose its rule under a plain mean. */
	bool reach = strcmp(o->backend, "tcp") == 0 || (strcmp(o->backend, "dpdk") == 0 && o->tp_options);
	return o->tree && !o->no_bypass && o->role == TRAIN_LOCAL && !o->launcher && reach &&
	       pn_node_mode_from_name(o->node_mode) == PN_NODE_SUM;
}

int train_root_slots(const train_opts *o)
{
	return train_peers(o) + (train_tree_bypass(o) ? o->n : 0);
}

pn_node_config train_node_config(const train_opts *o, int node, const char *parent, const char *listen,
				 size_t d, pn_agg_config *rule, char *optbuf, size_t optlen)
{
	pn_node_mode mode = (pn_node_mode)pn_node_mode_from_name(o->node_mode);
	if (mode == PN_NODE_ROBUST) { /* the job's --rule over each group of G */
		pn_agg_config_init(rule, o->tree, d, (pn_rule)pn_rule_from_name(o->rule));
		rule->f = o->f;
		rule->m = o->m;
		rule->beta = o->beta;
		rule->r = o->r;
		rule->lambda = o->lambda;
		rule->threads = 1;
	}
	/* node ids: 0 the root, rank + 1 the workers, then the nodes */
	return (pn_node_config){.rule = mode == PN_NODE_ROBUST ? rule : NULL,
				.tp = topology_tp_config(o, (uint32_t)(o->n + 1 + node), optbuf, optlen),
				.parent = parent, .rank = node, .listen = listen, .children = o->tree,
				.first_rank = node * o->tree, .leaves = o->n, .d = d,
				.mode = mode, .fixed_point = o->fixed_point, .accept_timeout_ms = 120000,
				.serve_whole = o->node_serve && pn_node_serve_from_name(o->node_serve) == 1,
				.replica_quorum = o->replica_quorum,
				.log = o->quiet ? NULL : stderr,
				.exit_abruptly = o->kill_node == node, .exit_at_round = o->kill_round,
				.stall_ms = o->node_stall_ms};
}

int train_node_report(const train_opts *o, const pn_node_config *nc, int rc, const pn_node_result *res,
		      const char *err)
{
	int node = nc->rank;
	if (rc)
		fprintf(stderr, "%s: node %d: %s\n", o->prog, node, err);
	else if (!o->quiet)
		fprintf(stderr, "%s: node %d: %lld rounds, %.1f MB pulled from its %d workers, %.2f MB of "
			"data memory (its children's d-vectors would be %.2f MB)\n", o->prog, node,
			(long long)res->rounds, res->bytes_pulled / 1e6, o->tree, res->memory_bytes / 1e6,
			(double)o->tree * (double)nc->d * 4 / 1e6);
	if (!rc && !o->quiet && nc->mode == PN_NODE_ROBUST)
		fprintf(stderr, "%s: node %d: %lld child-rounds dropped (NaN/Inf)\n", o->prog, node,
			(long long)res->nonfinite);
	if (!rc && nc->mode == PN_NODE_REPLICA && !o->quiet)
		fprintf(stderr, "%s: node %d: replica checks: %lld agreed, %lld differed, %lld not checked; "
			"%lld candidates given up; %d worker(s) lost\n", o->prog, node,
			(long long)res->replica_agreed, (long long)res->replica_disagreed,
			(long long)res->replica_unchecked, (long long)res->replica_rejected, res->children_lost);
	if (!rc && nc->fixed_point && !o->quiet)
		fprintf(stderr, "%s: node %d: fixed-point sum: largest relative error against float32 %.3g "
			"over the rounds, %llu block rescales\n", o->prog, node, res->fixed_rel_err_max,
			(unsigned long long)res->fixed_rescales);
	return rc ? 1 : 0;
}

int train_local_node(void *ctx, int node, const char *addr)
{
	train_local *lc = ctx;
	train_opts *o = lc->o;
	struct sigaction ign = {.sa_handler = SIG_IGN}, dfl = {.sa_handler = SIG_DFL};
	sigaction(SIGINT, &ign, NULL); /* stopped by its parent, as a worker is */
	sigaction(SIGTERM, &dfl, NULL);
	char optbuf[4096];
	/* dpdk: the node's own ip and udp port (its options) */
	const char *listen = strcmp(o->backend, "dpdk") ? "127.0.0.1:0" : "*:0";
	pn_agg_config rule;
	pn_node_config nc = train_node_config(o, node, addr, listen, lc->job->model.nparams, &rule, optbuf,
					      sizeof optbuf);
	if (train_tree_bypass(o)) /* its workers (forked below) inherit it */
		snprintf(lc->root_addr, sizeof lc->root_addr, "%s", addr);
	pn_node_result res = {0};
	char err[512] = "";
	int bad = 0;
	int rc = train_node_report(o, &nc, pn_node_run_local(&nc, train_local_worker, lc, &res, &bad, err,
							     sizeof err), &res, err);
	if (bad)
		fprintf(stderr, "%s: node %d: %d worker(s) did not exit cleanly\n", o->prog, node, bad);
	return rc || bad ? 1 : 0;
}
