/* The job layer's small pieces: the one read-cookie encoding at its limits, the trust
 * average, and the guarded optimizer step (refuses a non-finite aggregate or result and
 * leaves model and momentum as they were; otherwise it is exactly train's SGD). */
#include "job/aggregator_internal.h"
#include "job/cookie.h"
#include "pennant/train.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>

Test(job_parts, cookie_round_trips_at_its_limits)
{
	int64_t rounds[] = {0, 1, 12345, (int64_t)UINT32_MAX};
	int workers[] = {0, 1, PN_JOB_MAX_WORKERS - 1};
	int chunks[] = {0, 7, PN_COOKIE_MAX_CHUNKS - 1};
	for (int a = 0; a < 4; a++)
		for (int b = 0; b < 3; b++)
			for (int c = 0; c < 3; c++) {
				uint64_t k = pn_cookie_make(rounds[a], workers[b], chunks[c]);
				cr_expect_eq(pn_cookie_round(k), rounds[a]);
				cr_expect_eq(pn_cookie_worker(k), workers[b]);
				cr_expect_eq(pn_cookie_chunk(k), chunks[c]);
			}
	cr_expect_eq(pn_job_slot(6), 0u);
	cr_expect_eq(pn_job_slot(7), 1u);
}

Test(job_parts, trust_is_a_moving_average_of_the_share)
{
	pn_job_worker w = {.trust = 1.0};
	pn_job_trust_observe(&w, 0);
	cr_expect_float_eq(w.trust, 0.8, 1e-12);
	for (int k = 0; k < 200; k++)
		pn_job_trust_observe(&w, 0.5);
	cr_expect_float_eq(w.trust, 0.5, 1e-9);
}

#define D 8

typedef struct fixture {
	pn_agg_job_config cfg;
	pn_job j;
	float model[2][D], vel[D], saved[D], g[D];
} fixture;

static void setup_fixture(fixture *f)
{
	memset(f, 0, sizeof *f);
	f->cfg.lr = 0.5;
	f->cfg.momentum = 0.9;
	f->cfg.weight_decay = 0.01;
	f->j.cfg = &f->cfg;
	f->j.d = D;
	f->j.cur = f->model[0];
	f->j.next = f->model[1];
	f->j.velocity = f->vel;
	f->j.velocity_saved = f->saved;
	for (int k = 0; k < D; k++) {
		f->model[0][k] = (float)k;
		f->vel[k] = 0.25f * (float)k;
		f->g[k] = 1.0f - (float)k;
	}
}

Test(job_parts, step_is_trains_sgd_from_the_current_slot)
{
	fixture f;
	setup_fixture(&f);
	float w[D], v[D], g[D];
	memcpy(w, f.model[0], sizeof w);
	memcpy(v, f.vel, sizeof v);
	for (int k = 0; k < D; k++)
		g[k] = f.g[k] * 0.5f;
	pn_sgd o = {.lr = 0.5, .momentum = 0.9, .weight_decay = 0.01};
	pn_sgd_step(&o, w, v, g, D);
	cr_assert_null(pn_job_step(&f.j, f.g, 0.5));
	cr_expect_eq(memcmp(f.model[1], w, sizeof w), 0);
	cr_expect_eq(memcmp(f.j.velocity, v, sizeof v), 0, "the job's momentum is train's");
	for (int k = 0; k < D; k++)
		cr_expect_eq(f.model[0][k], (float)k, "the current slot is not touched");
}

Test(job_parts, step_refuses_what_is_not_finite)
{
	fixture f;
	setup_fixture(&f);
	float vel0[D];
	memcpy(vel0, f.vel, sizeof vel0);
	f.g[3] = INFINITY;
	const char *why = pn_job_step(&f.j, f.g, 1.0);
	cr_assert(why && strstr(why, "aggregate"), "%s", why ? why : "(taken)");
	cr_expect_eq(memcmp(f.j.velocity, vel0, sizeof vel0), 0);
	/* finite, but scaling overflows it */
	setup_fixture(&f);
	f.g[0] = FLT_MAX;
	why = pn_job_step(&f.j, f.g, 4.0);
	cr_assert(why && strstr(why, "aggregate"), "%s", why ? why : "(taken)");
	/* finite aggregate, but momentum carries the velocity past FLT_MAX */
	setup_fixture(&f);
	f.vel[2] = FLT_MAX;
	f.g[2] = FLT_MAX / 2;
	memcpy(vel0, f.vel, sizeof vel0);
	why = pn_job_step(&f.j, f.g, 1.0);
	cr_assert(why && strstr(why, "non-finite"), "%s", why ? why : "(taken)");
	cr_expect_eq(memcmp(f.j.velocity, vel0, sizeof vel0), 0, "momentum restored");
	cr_expect_eq(memcmp(f.model[1], f.model[0], sizeof f.model[0]), 0, "next = cur: no step");
}
