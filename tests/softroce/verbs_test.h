/* Shared pieces of the verbs backend tests (test_verbs_*.c): the device the guest
 * names, opening contexts, forked peers that learn rank 0's address through a pipe,
 * the target job used by the read/credit/fault tests, and a raw rdma_cm client for
 * the handshake tests. Runs where PN_RDMA_DEV / PN_RDMA_ADDR name a device
 * (tests/softroce/run-in-guest); without them every test fails with that reason. */
#ifndef PN_TEST_VERBS_H
#define PN_TEST_VERBS_H

#include "transport/verbs/verbs.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SECRET "pennant-verbs-test-secret"
#define WAIT_MS 60000

const char *dev(void);
const char *addr(void);
pn_tp_ctx *open_ctx(uint32_t rank, const char *opts, uint32_t reads_in_flight, char *err, size_t errlen);
uint8_t pattern(uint64_t off, uint32_t seed);
int send_retry(pn_tp_ctx *ctx, pn_tp_peer *p, const void *m, size_t len);
/* Wait for a child (WAIT_MS at most, then SIGKILL and a failed expectation): its status. */
int reap(pid_t pid);
/* One completion within WAIT_MS, or the test fails. */
pn_tp_completion wait_one(pn_tp_ctx *ctx);

/* Fork a child that reads rank 0's address from a pipe and runs fn(to, arg), then exits
 * with its return value; it dies with us and after alarm_s seconds. *wfd: the pipe's
 * write end, for publish_listener. Called before any verbs context exists here. */
typedef int (*child_fn)(const char *to, const void *arg);
pid_t fork_with_address(child_fn fn, const void *arg, unsigned alarm_s, int *wfd);
/* Open rank 0 with opts, listen on PN_RDMA_ADDR port 0, and tell each of the n children
 * behind wfd[] where (closing the pipes). */
pn_tp_ctx *open_listener(const char *opts, uint32_t reads_in_flight, const int *wfd, int n);

/* ---- the target job: rank 0 and n forked targets each exposing one region */
enum { MSG_DESC = 'D', MSG_QUIT = 'Q', MSG_ECHO = 'E', MSG_BREAK_MR = 'X', MSG_BROKEN = 'Y' };

struct target_args {
	const char *opts;
	size_t len;
};

struct job {
	char opts[256]; /* "dev=PN_RDMA_DEV" + the test's options, for rank 0 and the targets */
	struct target_args a;
	int n;
	pid_t pid[4];
	pn_tp_ctx *ctx;
	pn_tp_peer *peer[4];
	pn_mr_desc desc[4];
};

/* Fork n targets each exposing len bytes, open rank 0, listen, accept them all, collect
 * their descriptors. Both sides open with "dev=PN_RDMA_DEV" followed by more_opts. */
void start(struct job *j, int n, const char *more_opts, uint32_t reads_in_flight, size_t len);
/* A LOCAL_WRITE region of len bytes on rank 0 for reads to land in. */
pn_tp_mr *landing(struct job *j, size_t len, void **buf);
/* Tell the targets to quit, expect them to exit 0, close rank 0. */
void finish(struct job *j);

/* ---- a raw rdma_cm client (speaks rdma_cm, not necessarily our protocol) */
struct cm_client {
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct addrinfo *ai;
};

/* Resolve `to`'s address and route and create a QP with qa: 0, or the step that failed
 * (2 address/channel, 3 address resolution, 4 route, 5 QP) as a child exit code. */
int cm_client_open(struct cm_client *c, const char *to, struct ibv_qp_init_attr *qa);
void cm_client_close(struct cm_client *c);

#endif
