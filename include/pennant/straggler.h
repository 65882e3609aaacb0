/* Pennant straggler policy: when does a round have enough, and whom to stop pulling from.
 *
 * Asked after every completion (and on timer ticks for the deadline mode):
 *     bool needed[n];
 *     pn_round_verdict v = pn_straggler_decide(&pol, code, finished, failed, elapsed, needed);
 *     pn_pull_set_needed(puller, needed, ...);    // cancel pulls from workers not needed
 *     if (v == PN_ROUND_ENOUGH || v == PN_ROUND_DEADLINE) decode with the finished set.
 *
 * Modes:
 *   WAIT_ALL       every worker that has not failed (an uncoded, exact round). A failed worker
 *                  only leaves the set waited for; with `deadline` > 0, once it has passed,
 *                  the round ends (DEADLINE) as soon as the code can decode what finished.
 *                  IMPOSSIBLE only when every worker failed.
 *   WAIT_CODE      the code's threshold (pn_code_ready); workers the code no longer needs
 *                  (e.g. other replicas of a finished fractional group) are released early.
 *   WAIT_DEADLINE  as WAIT_CODE, but at `deadline` (same clock as elapsed) the round ends
 *                  with whatever finished (approximate decode; check the residual).
 *   WAIT_COUNT     the first `count` finished workers (ignore-stragglers, approximate codes).
 */
#ifndef PENNANT_STRAGGLER_H
#define PENNANT_STRAGGLER_H

#include "pennant/codes.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pn_wait_mode {
	PN_WAIT_ALL = 0,
	PN_WAIT_CODE,
	PN_WAIT_DEADLINE,
	PN_WAIT_COUNT,
	PN_WAIT_MODE_COUNT_
} pn_wait_mode;

typedef struct pn_straggler_policy {
	pn_wait_mode mode;
	double deadline; /* WAIT_DEADLINE: seconds (or the caller's unit) since the round began;
			  * WAIT_ALL: optional cap on waiting for stragglers (0: none) */
	int count;       /* WAIT_COUNT: workers to wait for (1..n) */
} pn_straggler_policy;

typedef enum pn_round_verdict {
	PN_ROUND_WAIT = 0,    /* keep pulling from the workers marked needed */
	PN_ROUND_ENOUGH,      /* the policy's condition holds: decode now */
	PN_ROUND_DEADLINE,    /* deadline passed: decode what finished (may be approximate) */
	PN_ROUND_IMPOSSIBLE,  /* failures make the condition unreachable (or nothing finished
			       * at the deadline): the caller decides (retry, skip the round) */
} pn_round_verdict;

/* "all", "code", "deadline", "count"; -1 if unknown. */
int pn_wait_mode_from_name(const char *name);
const char *pn_wait_mode_name(pn_wait_mode mode);
const char *pn_round_verdict_name(pn_round_verdict v);

/* Validates the policy against a code of n workers; -EINVAL with a message. */
int pn_straggler_check(const pn_straggler_policy *pol, int n, char *err, size_t errlen);

/* finished / failed: n flags each (failed workers will never finish). needed (may be NULL)
 * receives n flags: unfinished workers still worth pulling from; all false once the round
 * is decided. */
pn_round_verdict pn_straggler_decide(const pn_straggler_policy *pol, const pn_code *code,
				     const bool *finished, const bool *failed, double elapsed,
				     bool *needed);

#ifdef __cplusplus
}
#endif
#endif
