/* A tree of sum nodes (include/pennant/node.h) on one host over tcp: the root aggregator
 * with 2 nodes of 2 workers each gives the flat job's model (the summation order differs:
 * float tolerance), and pulls half the flat job's bytes. The node's pool is smaller than
 * its children's gradients and the last chunk is partial, so slots are reused within a
 * round. Each sum node tells its parent its completed prefix (PROGRESS) every round; a
 * tree two nodes deep (a node whose children are nodes, which read their prefixes) gives
 * the flat model too. A worker dying under a node ends the job with an error naming the
 * node. */
#include "pennant/codes.h"
#include "pennant/job.h"
#include "pennant/node.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#define D 5000
#define LEAVES 4
#define G 2

typedef struct tree_test {
	int64_t die_round; /* the last leaf exits abruptly at this round (-1: never) */
	volatile sig_atomic_t *stop; /* MAP_SHARED: rank 0 raises it in stop_round (NULL: never) */
	int64_t stop_round;
	bool fixed_point; /* the nodes sum in block fixed point */
} tree_test;

/* Rank-dependent gradients, so that a sum missing or doubling a child shows. */
static int compute(void *ctx, uint64_t round, const float *model, const int *parts,
		   const double *coefs, int nparts, float *out, double *loss)
{
	(void)coefs, (void)nparts;
	const tree_test *t = ctx;
	if (t && t->stop && parts[0] == 0 && (int64_t)round == t->stop_round)
		*t->stop = 1; /* the root sees it while it waits for the nodes' sums */
	float target = (float)(parts[0] + 1);
	*loss = 0;
	for (int k = 0; k < D; k++) {
		out[k] = model[k] - target * (float)(k % 7) / 7.0f;
		*loss += 0.5 * (double)out[k] * out[k];
	}
	return 0;
}

static pn_tp_config tp(uint32_t id)
{
	return (pn_tp_config){.backend = "tcp", .node_id = id, .secret = "test-secret", .secret_len = 11};
}

static int leaf_main(void *ctx, int rank, const char *addr)
{
	const tree_test *t = ctx;
	pn_grad_source src = {.ctx = ctx, .d = D, .compute = compute};
	pn_worker_config wc = {.tp = tp((uint32_t)rank + 1), .connect = addr, .rank = rank,
			       .connect_timeout_ms = 20000};
	wc.faults.exit_at_round = rank == LEAVES - 1 ? t->die_round : -1;
	return pn_worker_run(&wc, &src) == 0 ? 0 : 1;
}

/* A sum node of rank `rank` at its parent over children first..first+G-1 (leaves, or
 * nodes: child_main), checking what it reports. */
static int run_node(const tree_test *t, uint32_t id, int rank, int first, const char *addr,
		    pn_worker_main child_main)
{
	pn_node_config nc = {.tp = tp(id), .parent = addr, .rank = rank, .listen = "127.0.0.1:0",
			     .children = G, .first_rank = first, .leaves = LEAVES, .d = D,
			     .mode = PN_NODE_SUM, .slots = 3, .chunk_floats = 512,
			     .accept_timeout_ms = 20000, .fixed_point = t->fixed_point};
	pn_node_result res;
	char err[512];
	int kids_bad = -1;
	int rc = pn_node_run_local(&nc, child_main, (void *)t, &res, &kids_bad, err, sizeof err);
	if (rc)
		fprintf(stderr, "node %u: %s\n", id, err);
	else if (!t->stop && res.bytes_pulled != (uint64_t)res.rounds * G * D * sizeof(float))
		return 3; /* every child's every chunk, once per round (a stop abandons one) */
	else if (nc.fixed_point && !(res.fixed_rel_err_max >= 0 && res.fixed_rel_err_max < 1e-6))
		return fprintf(stderr, "node %u: fixed-point error %g\n", id, res.fixed_rel_err_max), 4;
	/* 10 chunks, 3 slots: at most 3 reads land per poll, so the prefix grows in steps and
	 * is announced every round (fixed point serves the block sum whole: never) */
	else if (!t->stop && (nc.fixed_point ? res.progress_sent != 0 : res.progress_sent < res.rounds))
		return fprintf(stderr, "node %u: %lld PROGRESS in %lld rounds\n", id,
			       (long long)res.progress_sent, (long long)res.rounds), 5;
	/* over nodes: their prefixes read before their READY, never a last chunk (READY's) */
	else if (!t->stop && child_main != leaf_main &&
		 !(res.reads_before_ready > 0 && res.reads_before_ready <= (uint64_t)res.rounds * G * (D / 512)))
		return fprintf(stderr, "node %u: %llu reads before READY\n", id,
			       (unsigned long long)res.reads_before_ready), 6;
	if (!rc)
		fprintf(stderr, "node %u: %lld PROGRESS sent, %llu reads of its children before their READY\n",
			id, (long long)res.progress_sent, (unsigned long long)res.reads_before_ready);
	return rc || kids_bad ? 1 : 0;
}

static int node_main(void *ctx, int node, const char *addr)
{
	return run_node(ctx, LEAVES + 1 + (uint32_t)node, node, node * G, addr, leaf_main);
}

/* Depth 2: the root's one peer is a node over G nodes (ranks 0..G-1 at it), node k over
 * leaves k·G .. k·G + G - 1. */
static int lower_node_main(void *ctx, int node, const char *addr)
{
	return run_node(ctx, LEAVES + 10 + (uint32_t)node, node, node * G, addr, leaf_main);
}

static int upper_node_main(void *ctx, int node, const char *addr)
{
	return run_node(ctx, LEAVES + 1 + (uint32_t)node, node, 0, addr, lower_node_main);
}

static pn_agg_job_config config(int peers, int leaves, const float *init)
{
	pn_agg_job_config c = {.tp = tp(0), .listen = "127.0.0.1:0", .n = peers, .leaves = leaves,
			       .rounds = 10, .seed = 1, .wait = "all", .deadline_ms = 5000,
			       .pipelining = true, .lr = 0.1, .momentum = 0.9, .accept_timeout_ms = 20000,
			       .init_model = init, .d = D};
	pn_agg_config_init(&c.rule, peers, D, PN_RULE_MEAN);
	c.rule.threads = 1;
	c.code_kind = pn_code_kind_from_name("uncoded");
	return c;
}

static float init_model[D];

/* ‖x − ref‖ / ‖ref‖ over the D coordinates; *ref_norm2 (may be NULL) gets ‖ref‖². */
static double relative_difference(const float *x, const float *ref, double *ref_norm2)
{
	double diff = 0, norm = 0;
	for (int k = 0; k < D; k++) {
		diff += ((double)x[k] - ref[k]) * ((double)x[k] - ref[k]);
		norm += (double)ref[k] * ref[k];
	}
	if (ref_norm2)
		*ref_norm2 = norm;
	return sqrt(diff / norm);
}

/* The flat job of the LEAVES workers: the reference a tree is compared with. */
static void run_flat(tree_test *t, pn_agg_job_result *flat)
{
	char err[512] = "";
	int bad = -1;
	pn_agg_job_config c = config(LEAVES, 0, init_model);
	cr_assert_eq(pn_run_local(&c, leaf_main, t, flat, &bad, err, sizeof err), 0, "flat: %s", err);
	cr_expect_eq(bad, 0);
}

Test(node_tree, two_sum_nodes_give_the_flat_model_and_halve_the_root_pulls)
{
	tree_test t = {.die_round = -1};
	char err[512] = "";
	pn_agg_job_result flat, tree;
	int bad = -1;
	pn_agg_job_config c = config(LEAVES, 0, init_model);
	int rc = pn_run_local(&c, leaf_main, &t, &flat, &bad, err, sizeof err);
	cr_assert_eq(rc, 0, "flat: %s", err);
	cr_expect_eq(bad, 0);
	c = config(LEAVES / G, LEAVES, init_model);
	rc = pn_run_local(&c, node_main, &t, &tree, &bad, err, sizeof err);
	cr_assert_eq(rc, 0, "tree: %s", err);
	cr_expect_eq(bad, 0, "every node exited 0 (and pulled every chunk once per round)");
	cr_expect_eq(tree.rounds_done, 10);
	double norm;
	double rel = relative_difference(tree.model, flat.model, &norm);
	cr_expect_gt(norm, 1.0, "the flat job trained");
	cr_expect_leq(rel, 1e-5, "tree vs flat: relative difference %g", rel);
	cr_expect_eq(flat.tp_stats.bytes_read, 10ull * LEAVES * D * sizeof(float));
	cr_expect_eq(tree.tp_stats.bytes_read, 10ull * (LEAVES / G) * D * sizeof(float),
		     "the root pulls one sum per node: %llu bytes",
		     (unsigned long long)tree.tp_stats.bytes_read);
	pn_agg_job_result_free(&flat);
	pn_agg_job_result_free(&tree);
}

/* Two levels of sum nodes: the root's one peer sums two nodes' sums (reading each node's
 * prefix on its PROGRESS), and the model is still the flat job's; the root pulls one d. */
Test(node_tree, a_node_over_nodes_gives_the_flat_model)
{
	tree_test t = {.die_round = -1};
	char err[512] = "";
	pn_agg_job_result flat, tree;
	int bad = -1;
	run_flat(&t, &flat);
	pn_agg_job_config c = config(1, LEAVES, init_model);
	c.tp.options = "piece=4K"; /* the root pulls 5 chunks of the node, not 1: it can read a prefix */
	cr_assert_eq(pn_run_local(&c, upper_node_main, &t, &tree, &bad, err, sizeof err), 0, "tree: %s", err);
	cr_expect_eq(bad, 0, "every node exited 0, pulled every chunk once and said PROGRESS each round");
	cr_expect_eq(tree.rounds_done, 10);
	double rel = relative_difference(tree.model, flat.model, NULL);
	cr_expect_leq(rel, 1e-5, "depth-2 tree vs flat: relative difference %g", rel);
	cr_expect_eq(tree.tp_stats.bytes_read, 10ull * D * sizeof(float));
	cr_expect(tree.reads_before_ready > 0 && tree.reads_before_ready <= 10 * 4,
		  "the root read the node's prefix before its READY, never its last chunk: %llu reads",
		  (unsigned long long)tree.reads_before_ready);
	pn_agg_job_result_free(&flat);
	pn_agg_job_result_free(&tree);
}

/* The same tree with the nodes summing in block fixed point (int32, one exponent per
 * 256 coordinates): the flat model within the same tolerance, and each node's measured
 * error against its float32 sum below 1e-6 (node_main checks; with 2 addends of one
 * magnitude both round the exact sum alike, so 0 is measured here: the bound itself and a
 * non-zero error are tested in test_fixed_sum.c). */
Test(node_tree, fixed_point_sum_nodes_give_the_flat_model)
{
	tree_test t = {.die_round = -1};
	char err[512] = "";
	pn_agg_job_result flat, tree;
	int bad = -1;
	run_flat(&t, &flat);
	t.fixed_point = true;
	pn_agg_job_config c = config(LEAVES / G, LEAVES, init_model);
	cr_assert_eq(pn_run_local(&c, node_main, &t, &tree, &bad, err, sizeof err), 0, "tree: %s", err);
	cr_expect_eq(bad, 0, "every node exited 0 with its quantisation error below 1e-6");
	double rel = relative_difference(tree.model, flat.model, NULL);
	cr_expect_leq(rel, 1e-5, "fixed-point tree vs flat: relative difference %g", rel);
	pn_agg_job_result_free(&flat);
	pn_agg_job_result_free(&tree);
}

/* The last worker exits abruptly in round 3: its node cannot serve the sum and fails,
 * and the root ends the job with an error naming the node instead of stepping on a
 * mean that misses two workers. */
Test(node_tree, a_worker_dying_under_a_node_ends_the_job_with_an_error)
{
	tree_test t = {.die_round = 3};
	char err[512] = "";
	pn_agg_job_result res;
	int bad = -1;
	pn_agg_job_config c = config(LEAVES / G, LEAVES, init_model);
	int rc = pn_run_local(&c, node_main, &t, &res, &bad, err, sizeof err);
	cr_expect_eq(rc, -ECONNRESET, "rc %d: %s", rc, err);
	cr_expect(strstr(err, "node 1 went away in round 3") && strstr(err, "no bypass slots"), "%s", err);
	cr_expect_eq(res.rounds_done, 3, "rounds 0..2 completed (%lld)", (long long)res.rounds_done);
	cr_expect_eq(bad, 1, "the failed node exits nonzero, node 0 is stopped and exits 0 (%d bad)", bad);
	pn_agg_job_result_free(&res);
}

/* A stop request at the root while the nodes sum round 4: the root abandons the round and
 * says STOP, each node abandons its sum, forwards STOP, and every process exits 0. */
Test(node_tree, a_stop_request_at_the_root_stops_every_node_and_worker_cleanly)
{
	volatile sig_atomic_t *stop = mmap(NULL, sizeof *stop, PROT_READ | PROT_WRITE,
					   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert(stop != MAP_FAILED);
	*stop = 0;
	tree_test t = {.die_round = -1, .stop = stop, .stop_round = 4};
	char err[512] = "";
	pn_agg_job_result res;
	int bad = -1;
	pn_agg_job_config c = config(LEAVES / G, LEAVES, init_model);
	c.stop_requested = stop;
	int rc = pn_run_local(&c, node_main, &t, &res, &bad, err, sizeof err);
	cr_expect_eq(rc, -EINTR, "rc %d: %s", rc, err);
	cr_expect_eq(res.rounds_done, 4, "rounds 0..3 completed (%lld)", (long long)res.rounds_done);
	cr_expect_eq(bad, 0, "every node (and under it every worker) exited 0 (%d did not)", bad);
	pn_agg_job_result_free(&res);
	munmap((void *)stop, sizeof *stop);
}
