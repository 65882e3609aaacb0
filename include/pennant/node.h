/* Pennant aggregation node (pennant-node): a process between a group of workers and its
 * parent (the aggregator or another node), so that trees of any depth form. Toward its
 * children it is an aggregator: it accepts their HELLO, forwards each round's ROUND and
 * model, and pulls their gradients over the transport. Toward its parent it is one
 * worker (a pn_session, session.h): its registered gradient slot holds the SUM of its
 * children's gradients, and it says READY when that sum is complete. A sum node tells
 * its parent the sum's completed prefix before that (PROGRESS), so the parent reads each
 * chunk as soon as every child has contributed to it, never a partial one.
 *
 * The parent keeps the mean right by dividing by the leaves, not by its direct peers
 * (pn_agg_job_config.leaves, job.h): a node's sum counts as its children's gradients.
 * node/README.md has the design, the memory bound and what is not built yet.
 */
#ifndef PENNANT_NODE_H
#define PENNANT_NODE_H

#include "pennant/job.h" /* pn_worker_main */
#include "pennant/transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pn_node_mode {
	PN_NODE_SUM = 0,    /* streaming sum of the children's gradients (built) */
	PN_NODE_ROBUST = 1, /* a robust rule over the children's whole gradients, × G (built) */
	/* the children are one replica group (fractional repetition): each computes the sum of
	 * the group's G partitions; the node serves the first complete replica and checks that
	 * the others agree, bit for bit (built) */
	PN_NODE_REPLICA = 2,
} pn_node_mode;

/* "sum" / "robust" / "replica" → the mode, -EINVAL for another name. */
int pn_node_mode_from_name(const char *name);
/* --serve / --node-serve: "prefix" → 0, "whole" → 1 (pn_node_config.serve_whole), -EINVAL
 * for another name. */
int pn_node_serve_from_name(const char *name);

typedef struct pn_node_config {
	pn_tp_config tp;        /* backend, node id, job token, options: both sides use it */
	const char *parent;     /* the parent's address (an aggregator or a node) */
	int rank;               /* this node's rank at its parent */
	const char *listen;     /* where the children connect, e.g. "127.0.0.1:0" */
	int children;           /* G: children that must join */
	int first_rank;         /* the children's ranks: first_rank .. first_rank + G - 1 */
	int leaves;             /* workers in the whole job: the n each child is WELCOMEd with */
	size_t d;               /* floats in the gradient and the model */
	pn_node_mode mode;
	/* robust: the rule over the children (rule, f, m, beta, ...); p and d are set by the
	 * node (p = children). NULL in robust mode is refused. */
	const pn_agg_config *rule;
	int slots;              /* landing slots of the pool (0: 8) */
	size_t chunk_floats;    /* floats per pulled chunk (0: 16384) */
	int heartbeat_ms;       /* toward the children (0: 1000) */
	int silence_ms;         /* a child silent this long is gone (0: 5000) */
	int connect_timeout_ms; /* joining the parent (0: 60000) */
	int accept_timeout_ms;  /* the children joining (0: 60000) */
	/* sum mode: also sum in block fixed point (int32, one exponent per 256 coordinates,
	 * SwitchML-style) and serve that sum; its error against float32 is reported */
	bool fixed_point;
	/* sum mode: READY only once the whole sum is complete, no PROGRESS of its prefix
	 * before (pennant-node --serve whole; for comparison: the parent then waits for the
	 * node's slowest chunk before it reads any) */
	bool serve_whole;
	/* replica: identical replicas needed before the node serves one (0 or 1: the first
	 * complete one; 2 outvotes one Byzantine child per group, at the cost of waiting for
	 * the second replica) */
	int replica_quorum;
	FILE *log;              /* diagnostics, may be NULL */
	/* Fault injection (tests): with exit_abruptly the node _exits when the parent's round
	 * exit_at_round (or a later one) begins, as a killed node would: no STOP below. */
	bool exit_abruptly;
	int64_t exit_at_round;
	int stall_ms;           /* with exit_abruptly: first hang this long, silent, then exit */
	/* Called once listening, with the bound address (e.g. to tell forked children). */
	void (*on_listen)(void *ctx, const char *addr);
	void *on_listen_ctx;
} pn_node_config;

typedef struct pn_node_result {
	int64_t rounds;         /* rounds summed and submitted to the parent */
	uint64_t bytes_pulled;  /* gradient bytes pulled from the children */
	size_t memory_bytes;    /* what the node allocated for data: model and sum slots, plus
	                         * the landing pool (sum, replica) or the children's G × d
	                         * registered rows the reads land in (robust, no pool) */
	/* robust: child-rounds dropped for NaN/Inf, and child-rounds where a child had the
	 * round's highest (least trusted) score of the rule */
	int64_t nonfinite, top_suspect;
	double fixed_rel_err_max; /* --fixed-point: the largest per-round ‖fixed − float32‖/‖float32‖ */
	uint64_t fixed_rescales;  /* --fixed-point: blocks whose exponent went down mid-round */
	/* replica: child-rounds of the replicas not served, by how their check ended: equal
	 * to the served one bit for bit, different, or not checked (READY too late for the
	 * round, or the child gone); candidates given up for want of a quorum; and children
	 * lost while others went on */
	int64_t replica_agreed, replica_disagreed, replica_unchecked, replica_rejected;
	int children_lost;
	/* PROGRESS messages sent to the parent (the sum's completed prefix, before READY),
	 * and reads of the children posted on their own PROGRESS (a node below a node) */
	int64_t progress_sent;
	uint64_t reads_before_ready;
} pn_node_result;

/* Runs the node until its parent says STOP (0: STOP forwarded to the children), or
 * fails with -errno and one line in err: the parent gone, a child gone (a sum node cannot
 * serve a partial sum: it fails, and a root with bypass slots takes its workers, job.h
 * tree_nodes), a configuration out of range. */
int pn_node_run(const pn_node_config *cfg, pn_node_result *res, char *err, size_t errlen);

/* One host: forks G children BEFORE any transport exists (leaf_main(ctx, rank, addr)
 * in each, rank = first_rank + k, its return value the child's exit status), runs the
 * node here, hands each child the bound address, and reaps them. *bad_exits (may be
 * NULL) counts children that did not exit 0. */
int pn_node_run_local(pn_node_config *cfg, pn_worker_main leaf_main, void *ctx,
		      pn_node_result *res, int *bad_exits, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
