/* Conformance harness: runs one aggregator (rank 0, this process) against k forked
 * targets (ranks 1..k) on whichever backend the environment names. See README.md for
 * the environment contract. Children never call Criterion; they report through their
 * exit status and through control messages. */
#ifndef PENNANT_TESTS_TRANSPORT_HARNESS_H
#define PENNANT_TESTS_TRANSPORT_HARNESS_H

#include "pennant/transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONF_MAX_RANKS 8
#define CONF_SECRET "pennant-conformance-secret"
#define CONF_MAX_DESCS 2

/* Environment, read once. */
const char *conf_backend(void);
int conf_deadline_ms(void);       /* hang guard for every wait (PN_CONF_DEADLINE_MS, default 20000) */
bool conf_responder_is_cpu(void); /* PN_CONF_RESPONDER != "nic": bytes_served is counted */
uint64_t conf_seed(void);

/* Rank's listen address from PN_CONF_LISTEN (default 127.0.0.1:0). */
void conf_listen_addr(char *out, size_t len, uint32_t rank);
/* Open a context for a rank with the option template applied and this job secret (a
 * string). NULL + message on stderr on failure. */
pn_tp_ctx *conf_open(uint32_t rank, const char *secret);

/* Deterministic payload: byte at region offset off for a seed. */
void pattern_fill(void *buf, size_t len, uint64_t seed, uint64_t off0);
/* Index of the first byte that differs from the pattern, or SIZE_MAX if all match. */
size_t pattern_check(const void *buf, size_t len, uint64_t seed, uint64_t off0);
uint64_t conf_rand(uint64_t *state); /* small seeded PRNG for offsets and sizes */

/* What a standard target (rank >= 1) exposes. Region 0 is REMOTE_READ with the pattern of
 * seed = rank; region 1 (if no_access_len) has no remote access. */
struct conf_target_spec {
	size_t len;
	size_t no_access_len;
};

/* Child role: runs in the forked process after it learnt rank 0's address. Returns the
 * exit status (0 = success). */
typedef int (*conf_child_fn)(uint32_t rank, const char *addr, const void *arg);
int conf_target_main(uint32_t rank, const char *addr, const void *arg);

struct conf_job {
	int nchildren;
	pid_t pid[CONF_MAX_RANKS];
	int addr_fd[CONF_MAX_RANKS]; /* write end of each child's address pipe */
	pn_tp_ctx *ctx;
	pn_tp_peer *peer[CONF_MAX_RANKS]; /* by rank */
	pn_mr_desc desc[CONF_MAX_RANKS][CONF_MAX_DESCS];
	int ndesc[CONF_MAX_RANKS];
	char addr[256];
};

/* Fork children (before any context exists), then open rank 0 and listen. */
void conf_spawn(struct conf_job *job, int nchildren, conf_child_fn fn, const void *arg);
/* Same, with a role per child: fns[i], args[i] for rank i + 1. */
void conf_spawn_roles(struct conf_job *job, int nchildren, const conf_child_fn *fns,
		      const void *const *args);
/* Tell one child where rank 0 listens. */
void conf_tell_rank(struct conf_job *job, uint32_t rank);
/* Send rank 0's address to the children that have not been told yet. */
void conf_tell_address(struct conf_job *job);
/* Accept every child, and collect the descriptors the standard targets announce. */
void conf_accept_all(struct conf_job *job, int descs_per_child);
/* Convenience: spawn + tell + accept_all for standard targets. */
void conf_start_targets(struct conf_job *job, int nchildren, const struct conf_target_spec *spec);
/* conf_start_targets, then a LOCAL_WRITE landing region of land_len bytes on rank 0
 * for the reads (returned, with its region in *lmr). */
void *conf_start_reader(struct conf_job *job, int nchildren, const struct conf_target_spec *spec,
			size_t land_len, pn_tp_mr **lmr);
/* Ask every live child to quit, check exit statuses, close the context. */
void conf_finish(struct conf_job *job);
/* Wait for one child to exit (bounded); returns its wait status. */
int conf_reap(struct conf_job *job, uint32_t rank);

/* Poll for exactly one completion, failing the test if none comes before the deadline. */
void conf_poll_one(pn_tp_ctx *ctx, pn_tp_completion *out);
/* Wait for a READ_DONE with this cookie, failing on anything unexpected. Returns status. */
int conf_wait_read(pn_tp_ctx *ctx, uint64_t cookie);
/* Send a control message, retrying on -EAGAIN while polling nothing away (bounded). */
void conf_send(pn_tp_peer *peer, const void *msg, size_t len);
/* Ask a standard target for its counters. */
void conf_target_stats(struct conf_job *job, uint32_t rank, pn_tp_stats *out);

/* Control message types between rank 0 and standard targets (first byte). */
enum {
	MSG_DESC = 'D',      /* target -> 0: index byte + packed descriptor */
	MSG_QUIT = 'Q',      /* 0 -> target */
	MSG_STATS_REQ = 'S', /* 0 -> target */
	MSG_STATS = 'T',     /* target -> 0: pn_tp_stats */
	MSG_ECHO = 'E',      /* 0 -> target: echoed back verbatim */
	MSG_GEN = 'G',       /* 0 -> target: uint32 n; target sends n MSG_SEQ */
	MSG_SEQ = 'C',       /* target -> 0: uint32 seq + pattern bytes, length 5 + seq % 252 */
	MSG_READ_BACK = 'R', /* 0 -> target: packed desc of a rank-0 region; target reads it all */
	MSG_READ_RESULT = 'r', /* target -> 0: int32 status, uint8 data ok */
};

#endif
