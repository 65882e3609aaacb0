/* Puller: every chunk requested exactly once per needed worker, windows never exceeded,
 * cancelled pulls not counted, policies order as documented. */
#include "pennant/codes.h"
#include "pennant/sched.h"
#include "pennant/straggler.h"
#include "sched/rng.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#define MAXW 16
#define MAXC 64
#define MAXF (MAXW * MAXC)

static pn_chunk_plan make_plan(int workers, int want_chunks)
{
	pn_chunk_params cp = { .d = (size_t)want_chunks * 1024, .unit_bytes = 4096, .workers = 1,
			       .target_pulls = want_chunks };
	pn_chunk_plan pl;
	cr_assert_eq(pn_chunk_plan_build(&cp, &pl, NULL, 0), 0);
	cr_assert_eq(pl.nchunks, want_chunks);
	(void)workers;
	return pl;
}

/* Reads in flight, as the simulated transport sees them. */
struct flight {
	int w[MAXF], c[MAXF];
	int k;
};

static void flight_add(struct flight *f, int w, int c)
{
	f->w[f->k] = w;
	f->c[f->k] = c;
	f->k++;
}

static void flight_take(struct flight *f, int i, int *w, int *c)
{
	*w = f->w[i];
	*c = f->c[i];
	f->w[i] = f->w[f->k - 1];
	f->c[i] = f->c[f->k - 1];
	f->k--;
}

static void check_windows(const pn_puller *pl, int n, int ww, int wt)
{
	cr_assert_leq(pn_pull_inflight(pl, -1), wt);
	for (int w = 0; w < n; w++)
		cr_assert_leq(pn_pull_inflight(pl, w), ww);
}

Test(pull, every_chunk_exactly_once_and_windows_hold)
{
	pn_rng rng;
	pn_rng_seed(&rng, 41);
	const pn_pull_policy *const *pols = pn_pull_policies();
	for (int pi = 0; pols[pi]; pi++) {
		for (int trial = 0; trial < 20; trial++) {
			int n = 1 + (int)pn_rng_below(&rng, MAXW), nch = 1 + (int)pn_rng_below(&rng, 40);
			int ww = 1 + (int)pn_rng_below(&rng, 4), wt = 1 + (int)pn_rng_below(&rng, 12);
			pn_chunk_plan plan = make_plan(n, nch);
			pn_pull_config cfg = { .workers = n, .plan = &plan, .window_per_worker = ww,
					       .window_total = wt, .policy = pols[pi] };
			pn_puller *pl = pn_pull_create(&cfg, NULL, 0);
			cr_assert_not_null(pl);
			static int issued[MAXW][MAXC];
			memset(issued, 0, sizeof issued);
			struct flight fl = { .k = 0 };
			int ready = 0, finished = 0;
			for (int step = 0; finished < n; step++) {
				cr_assert_lt(step, 100000, "no progress");
				/* Workers become ready in random order over time. */
				if (ready < n && pn_rng_below(&rng, 3) == 0)
					pn_pull_set_ready(pl, ready++, step);
				pn_pull_req req;
				int rc;
				while ((rc = pn_pull_next(pl, &req)) == 1) {
					cr_assert_eq(req.offset, plan.chunks[req.chunk].offset);
					issued[req.worker][req.chunk]++;
					flight_add(&fl, req.worker, req.chunk);
					check_windows(pl, n, ww, wt);
					cr_assert_eq(pn_pull_inflight(pl, -1), fl.k);
				}
				cr_assert_eq(rc, 0);
				if (fl.k > 0 && pn_rng_below(&rng, 2) == 0) {
					int w, c;
					flight_take(&fl, (int)pn_rng_below(&rng, (uint64_t)fl.k), &w, &c);
					int done = pn_pull_complete(pl, w, c);
					cr_assert_geq(done, 0);
					finished += done;
				}
				/* Everything was drained above: nothing in flight means nothing left. */
				if (ready == n && fl.k == 0 && pn_pull_inflight(pl, -1) == 0 && finished < n) {
					cr_assert_eq(pn_pull_next(pl, &req), 1, "stalled with work left");
					issued[req.worker][req.chunk]++;
					flight_add(&fl, req.worker, req.chunk);
				}
			}
			for (int w = 0; w < n; w++)
				for (int c = 0; c < nch; c++)
					cr_assert_eq(issued[w][c], 1, "%s: (%d,%d) issued %d times", pols[pi]->name,
						     w, c, issued[w][c]);
			pn_pull_stats st;
			pn_pull_get_stats(pl, &st);
			cr_assert_eq(st.issued, (uint64_t)n * nch);
			cr_assert_eq(st.completed, (uint64_t)n * nch);
			cr_assert_leq(st.max_inflight_total, wt);
			cr_assert_leq(st.max_inflight_worker, ww);
			pn_pull_free(pl);
			pn_chunk_plan_free(&plan);
		}
	}
}

/* Runs a round of a fractional code where straggler-policy decisions cancel pulls. */
Test(pull, cancelled_pulls_are_not_counted)
{
	int n = 9, nch = 8;
	pn_code_params cpar;
	pn_code_params_init(&cpar, PN_CODE_FRACTIONAL, n, 2);
	pn_code *code;
	cr_assert_eq(pn_code_create(&cpar, &code, NULL, 0), 0);
	pn_chunk_plan plan = make_plan(n, nch);
	pn_pull_config cfg = { .workers = n, .plan = &plan, .window_per_worker = 2, .window_total = 6 };
	pn_puller *pl = pn_pull_create(&cfg, NULL, 0);
	pn_straggler_policy pol = { .mode = PN_WAIT_CODE };
	pn_rng rng;
	pn_rng_seed(&rng, 42);
	for (int w = 0; w < n; w++)
		pn_pull_set_ready(pl, w, 0);
	struct flight fl = { .k = 0 }, cancelled = { .k = 0 };
	bool finished[9], failed[9], needed[9], dropped[9] = { false };
	int issued[9][8] = { { 0 } };
	pn_round_verdict v = PN_ROUND_WAIT;
	while (v == PN_ROUND_WAIT) {
		pn_pull_req req;
		while (pn_pull_next(pl, &req) == 1) {
			cr_assert_not(dropped[req.worker], "issued a read to dropped worker %d", req.worker);
			issued[req.worker][req.chunk]++;
			flight_add(&fl, req.worker, req.chunk);
		}
		cr_assert_gt(fl.k, 0);
		int w, c;
		flight_take(&fl, (int)pn_rng_below(&rng, (uint64_t)fl.k), &w, &c);
		cr_assert_geq(pn_pull_complete(pl, w, c), 0);
		pn_pull_finished_set(pl, finished);
		pn_pull_failed_set(pl, failed);
		v = pn_straggler_decide(&pol, code, finished, failed, 0, needed);
		int pairs[2 * 72];
		int k = pn_pull_set_needed(pl, needed, pairs, 72);
		for (int i = 0; i < k; i++) {
			dropped[pairs[2 * i]] = true;
			/* The transport cancels these; remove them from our flight list. */
			for (int j = 0; j < fl.k; j++)
				if (fl.w[j] == pairs[2 * i] && fl.c[j] == pairs[2 * i + 1]) {
					int a, b;
					flight_take(&fl, j, &a, &b);
					flight_add(&cancelled, a, b);
					break;
				}
		}
		for (int w2 = 0; w2 < n; w2++)
			if (!needed[w2] && !finished[w2])
				dropped[w2] = true;
		cr_assert_eq(pn_pull_inflight(pl, -1), fl.k, "cancelled reads left the window");
	}
	cr_assert_eq(v, PN_ROUND_ENOUGH);
	/* Late completions of cancelled reads are ignored. */
	pn_pull_stats before, after;
	pn_pull_get_stats(pl, &before);
	for (int i = 0; i < cancelled.k; i++)
		cr_assert_eq(pn_pull_complete(pl, cancelled.w[i], cancelled.c[i]), -ESTALE);
	pn_pull_get_stats(pl, &after);
	cr_assert_eq(after.completed, before.completed);
	cr_assert_eq(after.stale, before.stale + (uint64_t)cancelled.k);
	cr_assert_eq(after.cancelled, (uint64_t)cancelled.k);
	/* Exactly one finished member per group was needed; each chunk issued at most once. */
	pn_pull_finished_set(pl, finished);
	cr_assert(pn_code_ready(code, finished));
	for (int w = 0; w < n; w++) {
		for (int c = 0; c < nch; c++)
			cr_assert_leq(issued[w][c], 1);
		if (finished[w])
			for (int c = 0; c < nch; c++)
				cr_assert_eq(issued[w][c], 1);
	}
	/* A duplicate completion of a landed chunk is rejected, not double counted. */
	for (int w = 0; w < n; w++)
		if (finished[w]) {
			cr_assert_eq(pn_pull_complete(pl, w, 0), -EINVAL);
			break;
		}
	pn_pull_free(pl);
	pn_chunk_plan_free(&plan);
	pn_code_free(code);
}

static int drain_one_at_a_time(pn_puller *pl, int *ws, int *cs, int max)
{
	pn_pull_req req;
	int k = 0;
	while (k < max && pn_pull_next(pl, &req) == 1) {
		ws[k] = req.worker;
		cs[k] = req.chunk;
		k++;
		cr_assert_geq(pn_pull_complete(pl, req.worker, req.chunk), 0);
	}
	return k;
}

Test(pull, round_robin_cycles_workers)
{
	pn_chunk_plan plan = make_plan(3, 4);
	pn_pull_config cfg = { .workers = 3, .plan = &plan, .window_per_worker = 1, .window_total = 1,
			       .policy = pn_pull_policy_by_name("round-robin") };
	pn_puller *pl = pn_pull_create(&cfg, NULL, 0);
	for (int w = 0; w < 3; w++)
		pn_pull_set_ready(pl, w, 0);
	int ws[12], cs[12];
	cr_assert_eq(drain_one_at_a_time(pl, ws, cs, 12), 12);
	for (int i = 0; i < 12; i++) {
		cr_assert_eq(ws[i], i % 3);
		cr_assert_eq(cs[i], i / 3);
	}
	pn_pull_free(pl);
	pn_chunk_plan_free(&plan);
}

Test(pull, earliest_ready_drains_oldest_worker_first)
{
	pn_chunk_plan plan = make_plan(3, 4);
	pn_pull_config cfg = { .workers = 3, .plan = &plan, .window_per_worker = 1, .window_total = 1,
			       .policy = pn_pull_policy_by_name("earliest-ready") };
	pn_puller *pl = pn_pull_create(&cfg, NULL, 0);
	pn_pull_set_ready(pl, 2, 1.0);
	pn_pull_set_ready(pl, 0, 3.0);
	pn_pull_set_ready(pl, 1, 2.0);
	static const int order[] = { 2, 1, 0 };
	int ws[12], cs[12];
	cr_assert_eq(drain_one_at_a_time(pl, ws, cs, 12), 12);
	for (int i = 0; i < 12; i++) {
		cr_assert_eq(ws[i], order[i / 4]);
		cr_assert_eq(cs[i], i % 4);
	}
	pn_pull_free(pl);
	pn_chunk_plan_free(&plan);
}

Test(pull, layer_priority_serves_first_layers_first)
{
	size_t ends[] = { 1024, 4096, 8192, 16384 };
	pn_chunk_params cp = { .d = 16384, .unit_bytes = 4096, .workers = 1, .target_pulls = 16,
			       .layer_ends = ends, .layers = 4 };
	pn_chunk_plan plan;
	cr_assert_eq(pn_chunk_plan_build(&cp, &plan, NULL, 0), 0);
	pn_pull_config cfg = { .workers = 4, .plan = &plan, .window_per_worker = 4, .window_total = 4,
			       .policy = pn_pull_policy_by_name("layer-priority") };
	pn_puller *pl = pn_pull_create(&cfg, NULL, 0);
	for (int w = 0; w < 4; w++)
		pn_pull_set_ready(pl, w, w);
	int ws[256], cs[256];
	int k = drain_one_at_a_time(pl, ws, cs, 256);
	cr_assert_eq(k, 4 * plan.nchunks);
	for (int i = 1; i < k; i++)
		cr_assert_geq(plan.chunks[cs[i]].layer, plan.chunks[cs[i - 1]].layer, "step %d", i);
	pn_pull_free(pl);
	pn_chunk_plan_free(&plan);
}

/* A streaming worker (a sum node) announces its final prefix: only the chunks that end
 * inside it are issued, under every policy; a smaller announcement takes nothing back,
 * a retried chunk inside it goes again, and READY releases the rest. */
Test(pull, a_ready_prefix_releases_only_the_chunks_inside_it)
{
	const pn_pull_policy *const *pols = pn_pull_policies();
	for (int pi = 0; pols[pi]; pi++) {
		pn_chunk_plan plan = make_plan(2, 8); /* 8 chunks of 1024 floats */
		pn_pull_config cfg = { .workers = 2, .plan = &plan, .window_per_worker = 8, .window_total = 16,
				       .policy = pols[pi] };
		pn_puller *pl = pn_pull_create(&cfg, NULL, 0);
		pn_pull_req req;
		cr_assert_eq(pn_pull_set_ready_upto(pl, 0, 2 * 1024 + 1000, 1.0), 0);
		int got[8] = {0}, k = 0;
		while (pn_pull_next(pl, &req) == 1) {
			cr_assert_eq(req.worker, 0, "%s: worker 1 is not ready", pols[pi]->name);
			cr_assert_leq(req.offset + req.len, 2 * 1024 + 1000, "%s: chunk %d ends past the prefix",
				      pols[pi]->name, req.chunk);
			got[k++] = req.chunk;
		}
		cr_assert_eq(k, 2, "%s: chunks 0 and 1 end inside the prefix, chunk 2 does not", pols[pi]->name);
		cr_assert_eq(pn_pull_set_ready_upto(pl, 0, 1024, 2.0), 0); /* smaller: nothing changes */
		cr_assert_eq(pn_pull_next(pl, &req), 0);
		cr_assert_eq(pn_pull_fail(pl, 0, got[1], true, NULL, 0), 0); /* retried: inside, so again */
		cr_assert_eq(pn_pull_next(pl, &req), 1);
		cr_assert_eq(req.chunk, got[1]);
		cr_assert_eq(pn_pull_set_ready_upto(pl, 0, 5 * 1024, 3.0), 0);
		for (k = 0; pn_pull_next(pl, &req) == 1; k++)
			cr_assert(req.worker == 0 && req.chunk >= 2 && req.chunk <= 4, "%s", pols[pi]->name);
		cr_assert_eq(k, 3);
		pn_pull_set_ready(pl, 0, 4.0);
		for (k = 0; pn_pull_next(pl, &req) == 1; k++)
			cr_assert(req.worker == 0 && req.chunk >= 5);
		cr_assert_eq(k, 3, "%s: READY releases the rest", pols[pi]->name);
		for (int c = 0; c < 8; c++)
			cr_assert_geq(pn_pull_complete(pl, 0, c), 0);
		cr_assert(pn_pull_worker_finished(pl, 0));
		cr_assert_eq(pn_pull_set_ready_upto(pl, 2, 10, 0), -EINVAL);
		pn_pull_reset(pl); /* a new round: the prefix is gone */
		pn_pull_set_ready_upto(pl, 1, 100, 0);
		cr_assert_eq(pn_pull_next(pl, &req), 0, "%s: after reset, chunk 0 is not final", pols[pi]->name);
		pn_pull_free(pl);
		pn_chunk_plan_free(&plan);
	}
}

Test(pull, failures_retry_or_drop_the_worker)
{
	pn_chunk_plan plan = make_plan(2, 5);
	pn_pull_config cfg = { .workers = 2, .plan = &plan, .window_per_worker = 5, .window_total = 10 };
	pn_puller *pl = pn_pull_create(&cfg, NULL, 0);
	pn_pull_set_ready(pl, 0, 0);
	pn_pull_set_ready(pl, 1, 0);
	pn_pull_req req;
	int n0 = 0;
	while (pn_pull_next(pl, &req) == 1)
		n0++;
	cr_assert_eq(n0, 10);
	/* Retry chunk 2 of worker 0: issued again exactly once. */
	cr_assert_eq(pn_pull_fail(pl, 0, 2, true, NULL, 0), 0);
	cr_assert_eq(pn_pull_next(pl, &req), 1);
	cr_assert_eq(req.worker, 0);
	cr_assert_eq(req.chunk, 2);
	cr_assert_eq(pn_pull_next(pl, &req), 0);
	/* Worker 1 fails for good: its 4 other reads are cancelled. */
	int cancel[8];
	cr_assert_eq(pn_pull_fail(pl, 1, 0, false, cancel, 8), 4);
	cr_assert(pn_pull_worker_failed(pl, 1));
	cr_assert_eq(pn_pull_inflight(pl, 1), 0);
	cr_assert_eq(pn_pull_inflight(pl, -1), 5);
	cr_assert_eq(pn_pull_complete(pl, 1, 3), -ESTALE);
	for (int c = 0; c < 5; c++)
		cr_assert_geq(pn_pull_complete(pl, 0, c), 0);
	cr_assert(pn_pull_worker_finished(pl, 0));
	cr_assert_not(pn_pull_worker_finished(pl, 1));
	pn_pull_stats st;
	pn_pull_get_stats(pl, &st);
	cr_assert_eq(st.retries, 1);
	cr_assert_eq(st.issued, 11);
	cr_assert_eq(st.completed, 5);
	/* Reset: a new round starts clean. */
	pn_pull_reset(pl);
	cr_assert_not(pn_pull_worker_failed(pl, 1));
	cr_assert_eq(pn_pull_next(pl, &req), 0, "nobody ready yet");
	pn_pull_free(pl);
	pn_chunk_plan_free(&plan);
}

/* A worker dropped at the round's first verdict and joining later (a tree's bypassed
 * worker, job/tree_bypass.c) is readmitted: all its chunks exactly once, then finished;
 * a worker with reads in flight or done cannot be. */
Test(pull, a_dropped_worker_can_be_readmitted_before_any_read)
{
	pn_chunk_plan plan = make_plan(2, 4);
	pn_pull_config cfg = { .workers = 2, .plan = &plan, .window_per_worker = 4, .window_total = 8 };
	pn_puller *pl = pn_pull_create(&cfg, NULL, 0);
	bool needed[2] = { true, false };
	cr_assert_eq(pn_pull_set_needed(pl, needed, NULL, 0), 0);
	pn_pull_set_ready(pl, 0, 0);
	pn_pull_set_ready(pl, 1, 0);
	pn_pull_req req;
	int got[2] = { 0 };
	while (pn_pull_next(pl, &req) == 1)
		got[req.worker]++;
	cr_assert(got[0] == 4 && got[1] == 0, "worker 1 dropped: %d %d", got[0], got[1]);
	cr_assert_eq(pn_pull_readmit(pl, 0), -EBUSY, "worker 0 has reads in flight");
	cr_assert_eq(pn_pull_readmit(pl, 1), 0);
	cr_assert_eq(pn_pull_next(pl, &req), 0, "readmitted, not ready yet");
	pn_pull_set_ready(pl, 1, 1);
	int chunks = 0;
	while (pn_pull_next(pl, &req) == 1) {
		cr_assert_eq(req.worker, 1);
		cr_assert_geq(pn_pull_complete(pl, 1, req.chunk), 0);
		chunks++;
	}
	cr_assert_eq(chunks, 4);
	cr_assert(pn_pull_worker_finished(pl, 1));
	cr_assert_eq(pn_pull_readmit(pl, 1), -EBUSY, "done");
	cr_assert_eq(pn_pull_readmit(pl, 2), -EINVAL);
	pn_pull_free(pl);
	pn_chunk_plan_free(&plan);
}

/* A policy that picks a worker that is not ready: the puller refuses it. */
static int rogue_pick(void *state, const pn_pull_view *v, int *chunk)
{
	(void)state;
	(void)v;
	*chunk = 0;
	return 1;
}

Test(pull, misbehaving_policy_is_caught)
{
	static const pn_pull_policy rogue = { .name = "rogue", .pick = rogue_pick };
	pn_chunk_plan plan = make_plan(2, 2);
	pn_pull_config cfg = { .workers = 2, .plan = &plan, .window_per_worker = 1, .window_total = 2,
			       .policy = &rogue };
	pn_puller *pl = pn_pull_create(&cfg, NULL, 0);
	pn_pull_set_ready(pl, 0, 0);
	pn_pull_req req;
	cr_assert_eq(pn_pull_next(pl, &req), -EPROTO);
	cr_assert_eq(pn_pull_inflight(pl, -1), 0);
	pn_pull_free(pl);
	pn_chunk_plan_free(&plan);
}

Test(pull, bad_config_and_input)
{
	pn_chunk_plan plan = make_plan(1, 2);
	char err[128] = "";
	pn_pull_config cfg = { .workers = 2, .plan = &plan, .window_per_worker = 0, .window_total = 2 };
	cr_assert_null(pn_pull_create(&cfg, err, sizeof err));
	cr_assert(strstr(err, "windows"));
	cfg.window_per_worker = 1;
	pn_puller *pl = pn_pull_create(&cfg, NULL, 0);
	cr_assert_eq(pn_pull_set_ready(pl, 5, 0), -EINVAL);
	cr_assert_eq(pn_pull_complete(pl, 0, 99), -EINVAL);
	cr_assert_eq(pn_pull_complete(pl, 0, 0), -EINVAL, "never issued");
	pn_pull_stats st;
	pn_pull_get_stats(pl, &st);
	cr_assert_eq(st.bogus, 2);
	cr_assert_null(pn_pull_policy_by_name("nope"));
	pn_pull_free(pl);
	pn_chunk_plan_free(&plan);
}
