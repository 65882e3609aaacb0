/* Chunk plans: coverage, unit alignment, layer alignment, sizing rule, bad input. */
#include "pennant/sched.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static void check_cover(const pn_chunk_plan *pl, size_t d)
{
	size_t at = 0;
	for (int c = 0; c < pl->nchunks; c++) {
		cr_assert_eq(pl->chunks[c].offset, at, "chunk %d starts at %zu, expected %zu", c,
			     pl->chunks[c].offset, at);
		cr_assert_gt(pl->chunks[c].len, 0);
		cr_assert_leq(pl->chunks[c].len, pl->chunk_floats);
		at += pl->chunks[c].len;
	}
	cr_assert_eq(at, d);
}

Test(chunk_plan, covers_gradient_in_unit_multiples)
{
	pn_chunk_params p = { .d = 1000003, .unit_bytes = 4096, .workers = 4 };
	pn_chunk_plan pl;
	cr_assert_eq(pn_chunk_plan_build(&p, &pl, NULL, 0), 0);
	check_cover(&pl, p.d);
	cr_assert_eq(pl.chunk_floats % 1024, 0);
	for (int c = 0; c + 1 < pl.nchunks; c++)
		cr_assert_eq(pl.chunks[c].len % 1024, 0, "only the last chunk may be partial");
	/* 256 target pulls over 4 workers: 64 chunks per worker, i.e. ceil(d/64) = 15626
	 * floats, rounded up to the 1024-float unit: 16384 floats, 62 chunks. */
	cr_assert_eq(pl.chunk_floats, 16384);
	cr_assert_eq(pl.nchunks, 62);
	pn_chunk_plan_free(&pl);
}

Test(chunk_plan, more_workers_mean_fewer_larger_chunks)
{
	pn_chunk_plan a, b;
	pn_chunk_params p = { .d = 1 << 22, .unit_bytes = 65536, .workers = 2 };
	cr_assert_eq(pn_chunk_plan_build(&p, &a, NULL, 0), 0);
	p.workers = 32;
	cr_assert_eq(pn_chunk_plan_build(&p, &b, NULL, 0), 0);
	cr_assert_gt(a.nchunks, b.nchunks);
	cr_assert_lt(a.chunk_floats, b.chunk_floats);
	pn_chunk_plan_free(&a);
	pn_chunk_plan_free(&b);
}

Test(chunk_plan, clamped_to_unit_and_max)
{
	pn_chunk_plan pl;
	pn_chunk_params p = { .d = 100, .unit_bytes = 65536, .workers = 1 };
	cr_assert_eq(pn_chunk_plan_build(&p, &pl, NULL, 0), 0);
	cr_assert_eq(pl.nchunks, 1, "tiny gradient: one chunk, never below the unit");
	check_cover(&pl, 100);
	pn_chunk_plan_free(&pl);
	p = (pn_chunk_params){ .d = (size_t)1 << 28, .unit_bytes = 65536, .workers = 64,
			       .max_chunk_bytes = 1 << 20 };
	cr_assert_eq(pn_chunk_plan_build(&p, &pl, NULL, 0), 0);
	cr_assert_eq(pl.chunk_floats, (1 << 20) / 4);
	check_cover(&pl, p.d);
	pn_chunk_plan_free(&pl);
}

Test(chunk_plan, explicit_chunk_size_is_rounded_to_the_unit)
{
	pn_chunk_params p = { .d = 100000, .unit_bytes = 4096, .workers = 8, .chunk_bytes = 10000 };
	pn_chunk_plan pl;
	cr_assert_eq(pn_chunk_plan_build(&p, &pl, NULL, 0), 0);
	cr_assert_eq(pl.chunk_floats, 3072); /* 2500 floats -> three 1024-float units */
	check_cover(&pl, p.d);
	pn_chunk_plan_free(&pl);
}

Test(chunk_plan, chunks_never_straddle_layers)
{
	/* Layers: 3 tiny, one huge, 2 medium, tiny. */
	size_t sizes[] = { 10, 20, 30, 500000, 40000, 40000, 7 };
	size_t ends[7], at = 0;
	for (int l = 0; l < 7; l++)
		ends[l] = at += sizes[l];
	pn_chunk_params p = { .d = at, .unit_bytes = 256, .workers = 8, .layer_ends = ends, .layers = 7 };
	pn_chunk_plan pl;
	char err[128] = "";
	cr_assert_eq(pn_chunk_plan_build(&p, &pl, err, sizeof err), 0, "%s", err);
	check_cover(&pl, at);
	for (int c = 0; c < pl.nchunks; c++) {
		size_t s = pl.chunks[c].offset, e = s + pl.chunks[c].len;
		for (int l = 0; l < 7; l++) {
			/* A boundary strictly inside a chunk is only allowed between whole packed
			 * layers: the chunk must then start and end on boundaries too. */
			if (ends[l] > s && ends[l] < e) {
				bool start_ok = s == 0, end_ok = false;
				for (int k = 0; k < 7; k++) {
					start_ok = start_ok || ends[k] == s;
					end_ok = end_ok || ends[k] == e;
				}
				cr_assert(start_ok && end_ok, "chunk %d [%zu,%zu) cuts layer %d", c, s, e, l + 1);
			}
		}
		cr_assert_leq(pl.chunks[c].len, pl.chunk_floats);
	}
	cr_assert_eq(pl.chunks[0].len, 60, "the three tiny layers are packed together");
	cr_assert_eq(pl.chunks[0].layer, 0);
	cr_assert_eq(pl.chunks[1].layer, 3);
	cr_assert_eq(pl.chunks[pl.nchunks - 1].layer, 6);
	/* Layers are non-decreasing along the plan. */
	for (int c = 1; c < pl.nchunks; c++)
		cr_assert_geq(pl.chunks[c].layer, pl.chunks[c - 1].layer);
	pn_chunk_plan_free(&pl);
}

Test(chunk_plan, bad_input_is_a_clear_error)
{
	size_t ends_bad[] = { 10, 5 }, ends_short[] = { 10, 20 };
	struct {
		pn_chunk_params p;
		const char *needle;
	} bad[] = {
		{ { .d = 0, .workers = 1 }, "d must be" },
		{ { .d = 10, .workers = 0 }, "workers" },
		{ { .d = 10, .workers = 1, .unit_bytes = 6 }, "multiple of 4" },
		{ { .d = 10, .workers = 1, .layers = 2 }, "layer_ends" },
		{ { .d = 10, .workers = 1, .layers = 2, .layer_ends = ends_bad }, "not after" },
		{ { .d = 30, .workers = 1, .layers = 2, .layer_ends = ends_short }, "expected d" },
	};
	for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++) {
		pn_chunk_plan pl;
		char err[160] = "";
		cr_assert_eq(pn_chunk_plan_build(&bad[t].p, &pl, err, sizeof err), -EINVAL, "case %zu", t);
		cr_assert(strstr(err, bad[t].needle), "case %zu: '%s'", t, err);
		cr_assert_null(pl.chunks);
	}
}
