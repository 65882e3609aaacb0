/* Straggler policy: when a round has enough, which workers stay needed. */
#include "pennant/straggler.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static pn_code *make(pn_code_kind kind, int n, int s)
{
	pn_code_params p;
	pn_code_params_init(&p, kind, n, s);
	pn_code *c = NULL;
	cr_assert_eq(pn_code_create(&p, &c, NULL, 0), 0);
	return c;
}

static void flags(bool *out, int n, const char *pattern)
{
	for (int i = 0; i < n; i++)
		out[i] = pattern[i] == '1';
}

/* The verdict with the finished and failed workers given as "0"/"1" strings. */
static pn_round_verdict decide(const pn_straggler_policy *pol, const pn_code *c, const char *finished,
			       const char *failed, double elapsed, bool *need)
{
	int n = (int)strlen(finished);
	bool fin[64], fail[64];
	cr_assert(n <= 64 && (int)strlen(failed) == n);
	flags(fin, n, finished);
	flags(fail, n, failed);
	return pn_straggler_decide(pol, c, fin, fail, elapsed, need);
}

/* One verdict to check: workers finished/failed ("0"/"1" strings) after elapsed seconds. */
struct step {
	const char *finished, *failed;
	double elapsed;
	pn_round_verdict want;
};

static void run_steps(const pn_straggler_policy *pol, const pn_code *c, const struct step *steps,
		      size_t n)
{
	bool need[64];
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(decide(pol, c, steps[i].finished, steps[i].failed, steps[i].elapsed, need),
			     steps[i].want, "finished %s failed %s at %g s", steps[i].finished,
			     steps[i].failed, steps[i].elapsed);
}

Test(straggler, wait_all)
{
	pn_code *c = make(PN_CODE_UNCODED, 4, 0);
	pn_straggler_policy pol = { .mode = PN_WAIT_ALL };
	bool need[4];
	cr_assert_eq(decide(&pol, c, "1101", "0000", 0, need), PN_ROUND_WAIT);
	cr_assert(need[2]);
	cr_assert_not(need[0]);
	cr_assert_eq(decide(&pol, c, "1111", "0000", 0, need), PN_ROUND_ENOUGH);
	for (int i = 0; i < 4; i++)
		cr_assert_not(need[i]);
	pn_code_free(c);
}

/* A dead worker shrinks the set waited for; the others are still all waited for (never
 * the code's threshold: dropping fast honest workers as stragglers would hand an attacker
 * a larger share of the rule's inputs). */
Test(straggler, wait_all_after_a_failure_waits_for_every_other_worker)
{
	pn_code *c = make(PN_CODE_FRACTIONAL, 6, 1); /* groups {0,1} {2,3} {4,5} */
	pn_straggler_policy pol = { .mode = PN_WAIT_ALL };
	bool fin[6], fail[6], need[6];
	flags(fail, 6, "000100");
	flags(fin, 6, "101010"); /* decodable, but 1 and 5 are alive and not finished */
	cr_assert(pn_code_ready(c, fin));
	cr_assert_eq(pn_straggler_decide(&pol, c, fin, fail, 0, need), PN_ROUND_WAIT);
	cr_assert(need[1] && need[5]);
	cr_assert_not(need[3], "the failed worker is not waited for");
	flags(fin, 6, "111011");
	cr_assert_eq(pn_straggler_decide(&pol, c, fin, fail, 0, need), PN_ROUND_ENOUGH);
	/* the same holds with a cap that has not passed yet */
	pol.deadline = 1.0;
	flags(fin, 6, "101010");
	cr_assert_eq(pn_straggler_decide(&pol, c, fin, fail, 0.5, need), PN_ROUND_WAIT);
	/* past the cap, late (alive) workers are dropped once the code decodes */
	cr_assert_eq(pn_straggler_decide(&pol, c, fin, fail, 1.5, need), PN_ROUND_DEADLINE);
	flags(fin, 6, "110000");
	cr_assert_eq(pn_straggler_decide(&pol, c, fin, fail, 1.5, need), PN_ROUND_WAIT,
		     "not decodable yet: keep waiting");
	cr_assert(need[2] && need[4] && !need[3]);
	/* everyone failed: nothing can come */
	flags(fin, 6, "000000");
	flags(fail, 6, "111111");
	cr_assert_eq(pn_straggler_decide(&pol, c, fin, fail, 0, need), PN_ROUND_IMPOSSIBLE);
	pn_code_free(c);
}

Test(straggler, wait_code_releases_unneeded_replicas)
{
	pn_code *c = make(PN_CODE_FRACTIONAL, 6, 1); /* groups {0,1} {2,3} {4,5} */
	pn_straggler_policy pol = { .mode = PN_WAIT_CODE };
	bool fin[6], fail[6] = { false }, need[6];
	flags(fin, 6, "100000");
	cr_assert_eq(pn_straggler_decide(&pol, c, fin, fail, 0, need), PN_ROUND_WAIT);
	cr_assert_not(need[1], "replica of a finished worker");
	cr_assert(need[2] && need[3] && need[4] && need[5]);
	flags(fin, 6, "100101");
	cr_assert_eq(pn_straggler_decide(&pol, c, fin, fail, 0, need), PN_ROUND_ENOUGH);
	/* Both replicas of group 1 failed: unreachable. */
	flags(fin, 6, "100000");
	flags(fail, 6, "001100");
	cr_assert_eq(pn_straggler_decide(&pol, c, fin, fail, 0, need), PN_ROUND_IMPOSSIBLE);
	pn_code_free(c);
}

Test(straggler, wait_code_cyclic_threshold)
{
	pn_code *c = make(PN_CODE_CYCLIC, 6, 2);
	pn_straggler_policy pol = { .mode = PN_WAIT_CODE };
	bool need[6];
	cr_assert_eq(decide(&pol, c, "110100", "000000", 0, need), PN_ROUND_WAIT);
	cr_assert(need[2] && need[4] && need[5]);
	cr_assert_eq(decide(&pol, c, "110100", "001001", 0, need), PN_ROUND_WAIT, "4 can still finish: 1 more needed");
	cr_assert(need[4]);
	cr_assert_not(need[2], "failed workers are not waited for");
	cr_assert_eq(decide(&pol, c, "110100", "001011", 0, need), PN_ROUND_IMPOSSIBLE);
	cr_assert_eq(decide(&pol, c, "110110", "000000", 0, need), PN_ROUND_ENOUGH);
	pn_code_free(c);
}

/* Verdict sequences of the deadline and count policies, one table row per policy. */
Test(straggler, deadline_and_count_verdicts)
{
	static const struct {
		pn_code_kind kind;
		int n, s;
		pn_straggler_policy pol;
		struct step steps[4];
	} cases[] = {
		{ PN_CODE_CYCLIC, 6, 1, { .mode = PN_WAIT_DEADLINE, .deadline = 2.0 },
		  { { "110000", "000000", 1.9, PN_ROUND_WAIT },
		    { "110000", "000000", 2.0, PN_ROUND_DEADLINE },
		    { "000000", "000000", 5.0, PN_ROUND_IMPOSSIBLE },
		    { "111110", "000000", 0.1, PN_ROUND_ENOUGH } } },
		{ PN_CODE_UNCODED, 5, 0, { .mode = PN_WAIT_COUNT, .count = 3 },
		  { { "10100", "00000", 0, PN_ROUND_WAIT },
		    { "10101", "00000", 0, PN_ROUND_ENOUGH },
		    { "10000", "01100", 0, PN_ROUND_WAIT },
		    { "10000", "01110", 0, PN_ROUND_IMPOSSIBLE } } },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		pn_code *c = make(cases[k].kind, cases[k].n, cases[k].s);
		run_steps(&cases[k].pol, c, cases[k].steps, 4);
		pn_code_free(c);
	}
}

Test(straggler, nobody_is_waited_for_past_the_deadline)
{
	pn_code *c = make(PN_CODE_CYCLIC, 6, 1);
	pn_straggler_policy pol = { .mode = PN_WAIT_DEADLINE, .deadline = 2.0 };
	bool need[6];
	cr_assert_eq(decide(&pol, c, "110000", "000000", 2.0, need), PN_ROUND_DEADLINE);
	for (int i = 0; i < 6; i++)
		cr_assert_not(need[i]);
	pn_code_free(c);
}

Test(straggler, check_rejects_bad_policies)
{
	char err[128] = "";
	pn_straggler_policy pol = { .mode = PN_WAIT_DEADLINE, .deadline = 0 };
	cr_assert_eq(pn_straggler_check(&pol, 4, err, sizeof err), -EINVAL);
	cr_assert(strstr(err, "deadline"));
	pol = (pn_straggler_policy){ .mode = PN_WAIT_COUNT, .count = 5 };
	cr_assert_eq(pn_straggler_check(&pol, 4, err, sizeof err), -EINVAL);
	pol = (pn_straggler_policy){ .mode = (pn_wait_mode)42 };
	cr_assert_eq(pn_straggler_check(&pol, 4, err, sizeof err), -EINVAL);
	pol = (pn_straggler_policy){ .mode = PN_WAIT_CODE };
	cr_assert_eq(pn_straggler_check(&pol, 4, err, sizeof err), 0);
	for (int m = 0; m < PN_WAIT_MODE_COUNT_; m++)
		cr_assert_eq(pn_wait_mode_from_name(pn_wait_mode_name(m)), m);
	cr_assert_eq(pn_wait_mode_from_name("soon"), -1);
}
