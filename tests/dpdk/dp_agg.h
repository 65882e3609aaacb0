/* Aggregator side of the multi-process dpdk tests: spawn pn-dpdk-peer workers (possibly
 * in another network namespace), connect, pull their regions, check every byte. */
#ifndef PN_DP_AGG_H
#define PN_DP_AGG_H

#include "pennant/transport.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The job secret of these tests; the workers get it from the environment (PN_DPT_SECRET),
 * never on their command line. */
#define DPT_SECRET "pennant-dpdk-test-secret"
#define DPT_MAX_WORKERS 4

struct dpt_worker {
	pid_t pid;
	unsigned node;
	uint64_t seed;
	size_t size;
	char addr[64];
	pn_tp_peer *peer;
	pn_mr_desc desc;
	int have_desc;
};

/* Start pn-dpdk-peer with these options; prefix (may be NULL) is prepended, e.g.
 * "ip netns exec ns1". */
void dpt_spawn(struct dpt_worker *w, const char *prefix, const char *options);
/* Connect to every worker and collect its region descriptor. */
void dpt_connect_all(pn_tp_ctx *ctx, struct dpt_worker *w, int n);
/* Pull each worker's whole region `rounds` times into landing buffers and check every byte. */
void dpt_pull_all(pn_tp_ctx *ctx, struct dpt_worker *w, int n, int rounds);
/* Ask for a worker's stats over the control channel. */
void dpt_worker_stats(pn_tp_ctx *ctx, struct dpt_worker *w, pn_tp_stats *out);
/* BYE to every worker and wait for each to acknowledge. Workers then check their own
 * mempools once we are gone and report through their exit status. */
void dpt_bye_all(pn_tp_ctx *ctx, struct dpt_worker *w, int n);
/* Wait for a worker to exit (timeout: kill it); returns its exit status or -1. */
int dpt_reap(struct dpt_worker *w, int timeout_ms);
/* Kill whatever is left (test teardown). */
void dpt_kill_all(void);
/* Wait for one control message from peer p into buf; returns its length. */
size_t dpt_wait_ctrl(pn_tp_ctx *ctx, pn_tp_peer *p, void *buf, size_t cap);

#endif
