/* Straggler policy: decides when a round has enough finished workers. */
#include "sched/names.h"
#include "pennant/straggler.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[PN_WAIT_MODE_COUNT_] = { "all", "code", "deadline", "count" };
static const char *const verdict_names[] = { "wait", "enough", "deadline", "impossible" };

int pn_wait_mode_from_name(const char *name)
{
	return pn_name_find(mode_names, PN_WAIT_MODE_COUNT_, name);
}

const char *pn_wait_mode_name(pn_wait_mode mode)
{
	return pn_name_at(mode_names, PN_WAIT_MODE_COUNT_, (unsigned)mode);
}

const char *pn_round_verdict_name(pn_round_verdict v)
{
	return pn_name_at(verdict_names, PN_ROUND_IMPOSSIBLE + 1, (unsigned)v);
}

int pn_straggler_check(const pn_straggler_policy *pol, int n, char *err, size_t errlen)
{
	const char *why = NULL;
	if (!pol || (unsigned)pol->mode >= PN_WAIT_MODE_COUNT_)
		why = "unknown wait mode";
	else if (pol->mode == PN_WAIT_DEADLINE && !(pol->deadline > 0))
		why = "deadline mode needs deadline > 0";
	else if (pol->mode == PN_WAIT_COUNT && (pol->count < 1 || pol->count > n))
		why = "count mode needs 1 <= count <= n";
	return pn_refused(err, errlen, "straggler policy", why) ? -EINVAL : 0;
}

static void mark_none(int n, bool *needed)
{
	if (needed)
		memset(needed, 0, sizeof(bool) * (size_t)n);
}

/* Would the code be ready if every worker that has not failed finished? */
static bool code_reachable(const pn_code *code, const bool *failed)
{
	int n = pn_code_n(code);
	bool *hope = malloc(sizeof(bool) * (size_t)n);
	if (!hope)
		return true; /* cannot tell: do not give up on the round */
	for (int i = 0; i < n; i++)
		hope[i] = !failed[i];
	bool ok = pn_code_ready(code, hope);
	free(hope);
	return ok;
}

pn_round_verdict pn_straggler_decide(const pn_straggler_policy *pol, const pn_code *code,
				     const bool *finished, const bool *failed, double elapsed,
				     bool *needed)
{
	int n = pn_code_n(code), done = 0, dead = 0;
	for (int i = 0; i < n; i++) {
		done += finished[i] ? 1 : 0;
		dead += !finished[i] && failed[i] ? 1 : 0;
	}
	switch (pol->mode) {
	case PN_WAIT_ALL:
		/* A failed worker leaves the set waited for; it never lowers the bar to the
		 * code's threshold for the others. */
		if (done > 0 && done + dead == n) {
			mark_none(n, needed);
			return PN_ROUND_ENOUGH;
		}
		if (done == 0 && dead == n) {
			mark_none(n, needed);
			return PN_ROUND_IMPOSSIBLE;
		}
		/* Past the optional cap, stragglers (alive but late) are no longer waited for
		 * once the code can decode what finished. */
		if (pol->deadline > 0 && elapsed >= pol->deadline && pn_code_ready(code, finished)) {
			mark_none(n, needed);
			return PN_ROUND_DEADLINE;
		}
		break;
	case PN_WAIT_COUNT:
		if (done >= pol->count) {
			mark_none(n, needed);
			return PN_ROUND_ENOUGH;
		}
		if (n - dead < pol->count) {
			mark_none(n, needed);
			return PN_ROUND_IMPOSSIBLE;
		}
		break;
	case PN_WAIT_CODE:
	case PN_WAIT_DEADLINE:
		if (pn_code_ready(code, finished)) {
			mark_none(n, needed);
			return PN_ROUND_ENOUGH;
		}
		if (pol->mode == PN_WAIT_DEADLINE && elapsed >= pol->deadline) {
			mark_none(n, needed);
			return done > 0 ? PN_ROUND_DEADLINE : PN_ROUND_IMPOSSIBLE;
		}
		if (pol->mode == PN_WAIT_CODE && !code_reachable(code, failed)) {
			mark_none(n, needed);
			return PN_ROUND_IMPOSSIBLE;
		}
		if (needed) {
			pn_code_needed(code, finished, needed);
			for (int i = 0; i < n; i++)
				needed[i] = needed[i] && !failed[i];
		}
		return PN_ROUND_WAIT;
	default:
		mark_none(n, needed);
		return PN_ROUND_IMPOSSIBLE;
	}
	if (needed)
		for (int i = 0; i < n; i++)
			needed[i] = !finished[i] && !failed[i];
	return PN_ROUND_WAIT;
}
