/* The aggregator's round loop, end to end on real float32 data:
 * code -> workers compute c_i from their partition lists -> chunk plan -> puller with a
 * policy and windows -> completions copy chunks into landing buffers -> straggler policy
 * cancels what is not needed -> decode -> Σ a_i c_i equals the sum of all partitions. */
#include "pennant/codes.h"
#include "pennant/sched.h"
#include "pennant/straggler.h"
#include "sched/rng.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N 12
#define D 3001

struct inflight {
	int w, c;
};

static void run_round(pn_code_kind kind, int s, const pn_pull_policy *policy, const bool *never_ready,
		      uint64_t seed)
{
	pn_code_params cp;
	pn_code_params_init(&cp, kind, N, s);
	cp.clusters = kind == PN_CODE_GCDC ? 2 : 0;
	pn_code *code;
	char err[200] = "";
	cr_assert_eq(pn_code_create(&cp, &code, err, sizeof err), 0, "%s", err);
	pn_rng rng;
	pn_rng_seed(&rng, seed);

	/* Partition gradients and the exact float64 sum. */
	static float grad[N][D], coded[N][D], landing[N][D];
	static double truth[D];
	memset(truth, 0, sizeof truth);
	for (int j = 0; j < N; j++)
		for (int t = 0; t < D; t++) {
			grad[j][t] = (float)pn_rng_gauss(&rng);
			truth[t] += grad[j][t];
		}
	/* Each worker computes its coded gradient from its partition list (float32 output). */
	for (int w = 0; w < N; w++) {
		int parts[N];
		double coefs[N];
		int nz = pn_code_partitions(code, w, parts, coefs, N);
		cr_assert(nz >= 1 && nz <= N);
		for (int t = 0; t < D; t++) {
			double v = 0;
			for (int k = 0; k < nz; k++)
				v += coefs[k] * grad[parts[k]][t];
			coded[w][t] = (float)v;
		}
	}
	memset(landing, 0xff, sizeof landing); /* NaN garbage: only landed chunks may be read */

	pn_chunk_params chp = { .d = D, .unit_bytes = 1024, .workers = N, .target_pulls = 48 };
	pn_chunk_plan plan;
	cr_assert_eq(pn_chunk_plan_build(&chp, &plan, err, sizeof err), 0, "%s", err);
	cr_assert_gt(plan.nchunks, 1);
	pn_pull_config pc = { .workers = N, .plan = &plan, .window_per_worker = 2, .window_total = 5,
			      .policy = policy };
	pn_puller *pl = pn_pull_create(&pc, err, sizeof err);
	cr_assert_not_null(pl, "%s", err);
	pn_straggler_policy pol = { .mode = PN_WAIT_CODE };

	struct inflight fl[N * 64];
	int nfl = 0, ready = 0;
	bool finished[N], failed[N] = { false }, needed[N];
	pn_round_verdict v = PN_ROUND_WAIT;
	for (int step = 0; v == PN_ROUND_WAIT; step++) {
		cr_assert_lt(step, 100000, "round did not end");
		/* Workers announce readiness over time; the stragglers never do. */
		while (ready < N && (nfl == 0 || pn_rng_below(&rng, 4) == 0)) {
			if (!never_ready[ready])
				pn_pull_set_ready(pl, ready, step);
			ready++;
		}
		pn_pull_req req;
		while (pn_pull_next(pl, &req) == 1)
			fl[nfl++] = (struct inflight){ req.worker, req.chunk };
		if (nfl == 0)
			continue;
		int i = (int)pn_rng_below(&rng, (uint64_t)nfl);
		struct inflight f = fl[i];
		fl[i] = fl[--nfl];
		/* The transport's completion: the chunk is now in the landing buffer. */
		const pn_chunk *ch = &plan.chunks[f.c];
		memcpy(&landing[f.w][ch->offset], &coded[f.w][ch->offset], ch->len * sizeof(float));
		if (pn_pull_complete(pl, f.w, f.c) != 1)
			continue;
		pn_pull_finished_set(pl, finished);
		v = pn_straggler_decide(&pol, code, finished, failed, step, needed);
		int pairs[2 * N * 64];
		int k = pn_pull_set_needed(pl, needed, pairs, N * 64);
		for (int p = 0; p < k; p++)
			for (int j = 0; j < nfl; j++)
				if (fl[j].w == pairs[2 * p] && fl[j].c == pairs[2 * p + 1]) {
					fl[j] = fl[--nfl];
					break;
				}
	}
	cr_assert_eq(v, PN_ROUND_ENOUGH);
	cr_assert_eq(pn_pull_inflight(pl, -1), 0, "everything else was cancelled");
	for (int w = 0; w < N; w++)
		if (never_ready[w])
			cr_assert_not(finished[w]);

	double a[N];
	pn_decode_info info;
	cr_assert_eq(pn_code_decode(code, finished, a, &info), 0);
	cr_assert(info.exact, "%s residual %g", pn_code_describe(code), info.residual);
	double worst = 0;
	for (int t = 0; t < D; t++) {
		double est = 0;
		for (int w = 0; w < N; w++)
			if (finished[w])
				est += a[w] * landing[w][t];
		worst = fmax(worst, fabs(est - truth[t]));
	}
	/* float32 coded gradients: error ~ ‖a‖₁ · max|c| · 2^-24, with generous headroom. */
	double a1 = 0, cmax = 0;
	for (int w = 0; w < N; w++) {
		a1 += fabs(a[w]);
		for (int t = 0; t < D; t++)
			cmax = fmax(cmax, fabs(coded[w][t]));
	}
	double tol = 8.0 * a1 * cmax * 0x1p-24 + 1e-9;
	cr_assert_leq(worst, tol, "%s/%s: error %g > %g (cond %g)", pn_code_describe(code), policy->name, worst,
		      tol, info.cond);
	pn_pull_free(pl);
	pn_chunk_plan_free(&plan);
	pn_code_free(code);
}

Test(round_loop, coded_rounds_recover_the_exact_sum)
{
	bool two[N] = { false }, none[N] = { false };
	two[3] = two[7] = true;
	const pn_pull_policy *const *pols = pn_pull_policies();
	for (int p = 0; pols[p]; p++) {
		run_round(PN_CODE_CYCLIC, 2, pols[p], two, 100 + p);
		run_round(PN_CODE_FRACTIONAL, 2, pols[p], two, 200 + p);
		run_round(PN_CODE_GCDC, 1, pols[p], two, 300 + p); /* 3 and 7 sit in different clusters */
		run_round(PN_CODE_CYCLIC, 3, pols[p], none, 400 + p);
		run_round(PN_CODE_UNCODED, 0, pols[p], none, 500 + p);
	}
}
