/* The sorting networks of the coordinate-wise rules against the scalar insertion-sort
 * path, for every k the networks treat differently (powers of two and their
 * neighbours, the padding of non-powers, the largest k they take and the first they
 * leave to the scalar path), with ties and ±0 so the row credits (`used`) are checked
 * where orders could differ (both networks: AVX2 (value, row) pairs and AVX-512 64-bit
 * keys); and the mean's SIMD kernels against its portable one. */
#include "agg/agg_internal.h"
#include "agg/coord_simd.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N (2 * 4096 + 13) /* not a multiple of 8: the scalar tail runs too */

typedef struct rule_case {
	const char *name;
	pn_coord_fn fn;
	int exact; /* 1: bit-identical output; 0: window sums may round differently */
} rule_case;

static const rule_case rules[] = {
	{"median", pn_coord_median, 1},   {"trimmed-mean", pn_coord_trimmed_mean, 1},
	{"meamed", pn_coord_meamed, 0},   {"phocas", pn_coord_phocas, 0},
	{"bulyan", pn_coord_bulyan, 0},
};

/* simd 0: scalar insertion sort; 1: networks on (value, row) pairs (AVX2 blends);
 * 2: networks on 64-bit keys where the CPU has AVX-512 (else as 1). */
static void run(const rule_case *r, pn_coord_params prm, const float *const *rows, int k,
		float *out, uint64_t *used, int simd)
{
	void *scratch = malloc((size_t)k * pn_coord_scratch_size());
	cr_assert(scratch);
	prm.scratch = scratch;
	memset(used, 0, sizeof(uint64_t) * (size_t)k);
	pn_coord_simd_enable(simd > 0);
	pn_coord_simd_keys_enable(simd == 2);
	r->fn(&prm, rows, k, N, out, used);
	pn_coord_simd_enable(true);
	pn_coord_simd_keys_enable(true);
	free(scratch);
}

/* kind 0: continuous values; 1: few levels (many ties) with +0 and -0 among them */
static float *make_rows(int k, int kind, uint64_t seed)
{
	float *x = malloc(sizeof(float) * (size_t)k * N);
	uint64_t s = seed;
	for (size_t q = 0; q < (size_t)k * N; q++) {
		double u = rng_normal(&s);
		if (kind == 0)
			x[q] = (float)u;
		else {
			float v = (float)floor(u * 2.0) * 0.5f;
			x[q] = v == 0.0f && (rng_next(&s) & 1) ? -0.0f : v;
		}
	}
	return x;
}

/* One rule, one network variant (simd 1 or 2) against the scalar path. */
static void check_rule(const rule_case *r, pn_coord_params prm, const float *const *rows, int k,
		       int f, int kind, int simd, float *a, float *b)
{
	uint64_t ua[64], ub[64];
	run(r, prm, rows, k, a, ua, simd);
	run(r, prm, rows, k, b, ub, 0);
	for (int i = 0; i < k; i++)
		cr_expect_eq(ua[i], ub[i], "%s k=%d f=%d kind=%d simd=%d: row %d credited %lu vs %lu",
			     r->name, k, f, kind, simd, i, (unsigned long)ua[i], (unsigned long)ub[i]);
	size_t bad = 0;
	for (size_t c = 0; c < N; c++) {
		bool same = r->exact || kind == 1
				    ? memcmp(&a[c], &b[c], sizeof(float)) == 0
				    : fabsf(a[c] - b[c]) <= 2.0f * nextafterf(fabsf(b[c]), INFINITY) - 2.0f * fabsf(b[c]);
		bad += !same;
	}
	cr_expect_eq(bad, 0, "%s k=%d f=%d kind=%d simd=%d: %zu coordinates differ", r->name, k, f,
		     kind, simd, bad);
}

static void check_k(int k)
{
	for (int kind = 0; kind < 2; kind++) {
		float *x = make_rows(k, kind, 1000 + (uint64_t)k * 3 + (uint64_t)kind);
		const float *rows[64];
		for (int i = 0; i < k; i++)
			rows[i] = x + (size_t)i * N;
		float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
		int fs[] = {0, 1, (k - 1) / 2, k - 1};
		for (size_t fi = 0; fi < sizeof fs / sizeof *fs; fi++) {
			int f = fs[fi];
			pn_coord_params prm = {.f = f, .trim = 2 * f < k ? f : (k - 1) / 2,
					       .keep = k - 2 * f > 0 ? k - 2 * f : 1};
			for (size_t r = 0; r < 2 * sizeof rules / sizeof *rules; r++)
				check_rule(&rules[r / 2], prm, rows, k, f, kind, 1 + (int)(r & 1), a, b);
		}
		free(a), free(b), free(x);
	}
}

Test(coord_simd, networks_match_insertion_sort_small_k)
{
	for (int k = 2; k <= 9; k++)
		check_k(k);
}

Test(coord_simd, networks_match_insertion_sort_around_16_and_32)
{
	const int ks[] = {11, 15, 16, 17, 24, 31, 32, PN_COORD_SIMD_MAX_K + 1};
	for (size_t q = 0; q < sizeof ks / sizeof *ks; q++)
		check_k(ks[q]);
}

Test(coord_simd, generated_networks_are_batchers)
{
	for (int k = 2; k <= 32; k++)
		cr_expect(pn_coord_simd_networks_match(k), "the generated network for k=%d differs", k);
}

/* Every other k up to the largest the networks take: each k has its own unrolled
 * network on AVX-512. */
Test(coord_simd, networks_match_insertion_sort_every_other_k)
{
	for (int k = 10; k <= 30; k++)
		if (k != 11 && k != 15 && k != 16 && k != 17 && k != 24)
			check_k(k);
}

/* The mean's register kernels (AVX-512, AVX2) against its portable float64 kernel: the
 * same sums in the same row order, so the same bits, for k across the unrolled and
 * prefetched paths, n with a tail, and values of very different magnitudes. */
Test(coord_simd, mean_kernels_match_portable_bit_for_bit)
{
	const int ks[] = {1, 2, 3, 4, 5, 7, 8, 15, 16, 33};
	for (size_t q = 0; q < sizeof ks / sizeof *ks; q++) {
		int k = ks[q];
		float *x = make_rows(k, 0, 77 + (uint64_t)k);
		for (size_t e = 0; e < (size_t)k * N; e += 97)
			x[e] *= (e & 1) ? 3e37f : 1e-30f;
		const float *rows[64];
		for (int i = 0; i < k; i++)
			rows[i] = x + (size_t)i * N;
		float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
		uint64_t ua[64] = {0}, ub[64] = {0};
		pn_coord_params prm = {0};
		pn_coord_mean(&prm, rows, k, N, a, ua);
		pn_coord_mean_simd_enable(false);
		pn_coord_mean(&prm, rows, k, N, b, ub);
		pn_coord_mean_simd_enable(true);
		size_t bad = 0;
		for (size_t c = 0; c < N; c++)
			bad += memcmp(&a[c], &b[c], sizeof(float)) != 0;
		cr_expect_eq(bad, 0, "mean k=%d: %zu coordinates differ", k, bad);
		for (int i = 0; i < k; i++)
			cr_expect_eq(ua[i], (uint64_t)N, "mean k=%d: row %d credited %lu", k, i,
				     (unsigned long)ua[i]);
		cr_expect_eq(memcmp(ua, ub, sizeof ua), 0);
		free(a), free(b), free(x);
	}
}

/* The sorting rules report a NaN/Inf they read (pn_coord_params.nonfinite), in the
 * networks' part and in the scalar tail, with either network, and nothing for clean rows:
 * the engine relies on it to skip its per-row check. */
Test(coord_simd, sorting_rules_report_nonfinite_values)
{
	int k = 11;
	float *x = make_rows(k, 0, 5);
	const float *rows[64];
	for (int i = 0; i < k; i++)
		rows[i] = x + (size_t)i * N;
	float *out = malloc(sizeof(float) * N);
	uint64_t used[64];
	const size_t where[] = {0, 4096 + 3, N - 1}; /* networks, networks, tail */
	const float bad[] = {NAN, INFINITY, -INFINITY};
	for (size_t r = 0; r < sizeof rules / sizeof *rules; r++)
		for (int simd = 0; simd <= 2; simd++)
			for (size_t w = 0; w <= sizeof where / sizeof *where; w++) {
				size_t at = 3 * N + (w < 3 ? where[w] : 0);
				float keep = x[at];
				if (w < 3)
					x[at] = bad[w];
				int seen = 0;
				pn_coord_params prm = {.f = 2, .trim = 2, .keep = 3, .nonfinite = &seen};
				run(&rules[r], prm, rows, k, out, used, simd);
				x[at] = keep;
				cr_expect_eq(seen, w < 3, "%s simd=%d case %zu: reported %d", rules[r].name, simd,
					     w, seen);
			}
	free(out), free(x);
}
