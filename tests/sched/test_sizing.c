/* Heterogeneity-aware sizing: proportional shares, hysteresis, bad samples. */
#include "pennant/sizing.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>

static pn_sizing *make_with(pn_sizing_config cfg)
{
	char err[128] = "";
	pn_sizing *s = pn_sizing_create(&cfg, err, sizeof err);
	cr_assert_not_null(s, "%s", err);
	return s;
}

static pn_sizing *make(int n, double thr)
{
	return make_with((pn_sizing_config){ .workers = n, .replan_threshold = thr, .smoothing = 1.0 });
}

Test(sizing, shares_follow_throughput)
{
	pn_sizing *s = make(4, 0.2);
	double rate[4] = { 100, 100, 400, 25 }; /* CPU, CPU, GPU, slow node */
	for (int w = 0; w < 4; w++)
		cr_assert_eq(pn_sizing_observe(s, w, rate[w], 1.0), 0);
	size_t sh[4];
	bool re;
	cr_assert_eq(pn_sizing_plan(s, 6250, sh, &re), 0);
	cr_assert(re);
	size_t sum = 0;
	for (int w = 0; w < 4; w++) {
		sum += sh[w];
		cr_assert_leq(fabs((double)sh[w] - 6250.0 * rate[w] / 625.0), 1.0, "worker %d got %zu", w, sh[w]);
	}
	cr_assert_eq(sum, 6250);
	/* Equal finishing times: share / rate roughly constant. */
	for (int w = 1; w < 4; w++)
		cr_assert_float_eq((double)sh[w] / rate[w], (double)sh[0] / rate[0], 0.05);
	pn_sizing_free(s);
}

Test(sizing, replans_only_past_threshold)
{
	pn_sizing *s = make(3, 0.2);
	size_t sh[3], first[3];
	bool re;
	for (int w = 0; w < 3; w++)
		pn_sizing_observe(s, w, 100, 1);
	pn_sizing_plan(s, 300, first, &re);
	cr_assert(re);
	pn_sizing_observe(s, 1, 115, 1); /* +15%: noise */
	pn_sizing_plan(s, 300, sh, &re);
	cr_assert_not(re);
	for (int w = 0; w < 3; w++)
		cr_assert_eq(sh[w], first[w]);
	pn_sizing_observe(s, 1, 50, 1); /* halved: a real change */
	pn_sizing_plan(s, 300, sh, &re);
	cr_assert(re);
	cr_assert_lt(sh[1], first[1]);
	pn_sizing_stats st;
	pn_sizing_get_stats(s, &st);
	cr_assert_eq(st.plans, 3);
	cr_assert_eq(st.replans, 1);
	pn_sizing_free(s);
}

Test(sizing, min_share_and_unmeasured_workers)
{
	pn_sizing *s = make_with((pn_sizing_config){ .workers = 3, .min_share = 10 });
	pn_sizing_observe(s, 0, 1000, 1);
	pn_sizing_observe(s, 1, 1, 1);
	size_t sh[3];
	cr_assert_eq(pn_sizing_plan(s, 100, sh, NULL), 0);
	cr_assert_geq(sh[1], 10);
	cr_assert_eq(sh[0] + sh[1] + sh[2], 100);
	/* Unmeasured worker 2 counts as the mean (500.5): about half of worker 0's share. */
	cr_assert_gt(sh[2], sh[1]);
	cr_assert_lt(sh[2], sh[0]);
	cr_assert_eq(pn_sizing_plan(s, 29, sh, NULL), -EINVAL, "below 3 × min_share");
	pn_sizing_free(s);
}

Test(sizing, bad_samples_are_rejected_and_counted)
{
	pn_sizing *s = make(2, 0);
	cr_assert_eq(pn_sizing_observe(s, 0, -1, 1), -EINVAL);
	cr_assert_eq(pn_sizing_observe(s, 0, 1, 0), -EINVAL);
	cr_assert_eq(pn_sizing_observe(s, 0, NAN, 1), -EINVAL);
	cr_assert_eq(pn_sizing_observe(s, 0, 1, INFINITY), -EINVAL);
	cr_assert_eq(pn_sizing_observe(s, 7, 1, 1), -EINVAL);
	cr_assert_eq(pn_sizing_throughput(s, 0), 0);
	pn_sizing_stats st;
	pn_sizing_get_stats(s, &st);
	cr_assert_eq(st.rejected, 5);
	cr_assert_eq(st.samples, 0);
	pn_sizing_config bad = { .workers = 0 };
	char err[100] = "";
	cr_assert_null(pn_sizing_create(&bad, err, sizeof err));
	cr_assert(err[0]);
	pn_sizing_free(s);
}

Test(sizing, smoothing_damps_a_single_outlier)
{
	pn_sizing *s = make_with((pn_sizing_config){ .workers = 1, .smoothing = 0.25 });
	pn_sizing_observe(s, 0, 100, 1);
	pn_sizing_observe(s, 0, 500, 1);
	cr_assert_float_eq(pn_sizing_throughput(s, 0), 200.0, 1e-9);
	pn_sizing_free(s);
}
