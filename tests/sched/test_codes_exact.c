/* Exact gradient codes: every straggler set of size <= s decodes the exact sum. */
#include "code_helpers.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static pn_code *make(pn_code_kind kind, int n, int s)
{
	pn_code_params p;
	pn_code_params_init(&p, kind, n, s);
	p.seed = 0x5eed0000u + (uint64_t)(n * 131 + s);
	p.warn_cond = -1; /* the cyclic conditioning is checked here, not warned about */
	pn_code *c = NULL;
	char err[256] = "";
	int rc = pn_code_create(&p, &c, err, sizeof err);
	cr_assert_eq(rc, 0, "create %s n=%d s=%d: %s", pn_code_kind_name(kind), n, s, err);
	return c;
}

/* Decodes every finished set whose complement has at most s workers. Returns the number
 * of sets checked. */
static long check_all_sets(pn_code *c, pn_rng *rng)
{
	int n = pn_code_n(c), s = pn_code_s(c);
	double grads[12 * TEST_DIM], sum[TEST_DIM], coded[12 * TEST_DIM], a[12];
	bool finished[12];
	make_coded(c, rng, grads, sum, coded);
	long sets = 0;
	for (unsigned mask = 0; mask < (1u << n); mask++) {
		if (__builtin_popcount(mask) > s)
			continue;
		for (int i = 0; i < n; i++)
			finished[i] = !(mask & (1u << i));
		cr_assert(pn_code_ready(c, finished), "%s: not ready with stragglers %#x", pn_code_describe(c), mask);
		pn_decode_info info;
		cr_assert_eq(pn_code_decode(c, finished, a, &info), 0);
		for (int i = 0; i < n; i++)
			if (!finished[i])
				cr_assert_eq(a[i], 0.0, "straggler %d got a weight", i);
		double e = decoded_error(n, finished, a, coded, sum);
		double tol = decode_tolerance(n, info.cond, sum);
		cr_assert(info.exact, "%s stragglers %#x: residual %g cond %g", pn_code_describe(c), mask,
			  info.residual, info.cond);
		cr_assert(e <= tol, "%s stragglers %#x: error %g > %g (cond %g)", pn_code_describe(c), mask,
			  e, tol, info.cond);
		cr_assert_eq(info.nfinished, n - __builtin_popcount(mask));
		sets++;
	}
	return sets;
}

/* Every straggler set of every (n <= 12, s) the kind admits (fractional: (s+1) | n). */
static long check_every_small_code(pn_code_kind kind, uint64_t seed)
{
	pn_rng rng;
	pn_rng_seed(&rng, seed);
	long sets = 0;
	for (int n = 1; n <= 12; n++)
		for (int s = 0; s < n; s++) {
			if (kind == PN_CODE_FRACTIONAL && n % (s + 1) != 0)
				continue;
			pn_code *c = make(kind, n, s);
			sets += check_all_sets(c, &rng);
			pn_code_free(c);
		}
	return sets;
}

Test(codes_exact, fractional_every_straggler_set_n_le_12)
{
	cr_assert_gt(check_every_small_code(PN_CODE_FRACTIONAL, 11), 1000);
}

Test(codes_exact, cyclic_every_straggler_set_n_le_12)
{
	cr_assert_gt(check_every_small_code(PN_CODE_CYCLIC, 12), 40000);
}

Test(codes_exact, gcdc_every_straggler_set_within_cluster_tolerance)
{
	/* n=12 in P=2 clusters of 6, s=2 per cluster: any set with <= 2 stragglers per cluster. */
	pn_code_params p;
	pn_code_params_init(&p, PN_CODE_GCDC, 12, 2);
	p.clusters = 2;
	pn_code *c = NULL;
	char err[256] = "";
	cr_assert_eq(pn_code_create(&p, &c, err, sizeof err), 0, "%s", err);
	pn_rng rng;
	pn_rng_seed(&rng, 13);
	double grads[12 * TEST_DIM], sum[TEST_DIM], coded[12 * TEST_DIM], a[12];
	bool finished[12];
	make_coded(c, &rng, grads, sum, coded);
	long sets = 0, rejected = 0;
	for (unsigned mask = 0; mask < (1u << 12); mask++) {
		int in0 = __builtin_popcount(mask & 0x3f), in1 = __builtin_popcount(mask & 0xfc0);
		for (int i = 0; i < 12; i++)
			finished[i] = !(mask & (1u << i));
		bool ok = in0 <= 2 && in1 <= 2;
		cr_assert_eq(pn_code_ready(c, finished), ok, "stragglers %#x", mask);
		if (!ok) {
			rejected++;
			continue;
		}
		pn_decode_info info;
		cr_assert_eq(pn_code_decode(c, finished, a, &info), 0);
		cr_assert(info.exact, "stragglers %#x residual %g", mask, info.residual);
		cr_assert_leq(decoded_error(12, finished, a, coded, sum), decode_tolerance(12, info.cond, sum));
		sets++;
	}
	cr_assert_eq(sets, 22 * 22); /* (1+6+15)^2 */
	cr_assert_gt(rejected, 0);
	pn_code_free(c);
}

Test(codes_exact, random_straggler_sets_up_to_n_64)
{
	static const int ns[] = { 16, 20, 24, 30, 32, 40, 48, 60, 64 };
	static const int ss[] = { 1, 2, 3, 4, 5, 7 };
	pn_rng rng;
	pn_rng_seed(&rng, 14);
	double grads[64 * TEST_DIM], sum[TEST_DIM], coded[64 * TEST_DIM], a[64];
	bool finished[64];
	long sets = 0;
	for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++)
		for (size_t u = 0; u < sizeof ss / sizeof ss[0]; u++)
			for (int kind = PN_CODE_FRACTIONAL; kind <= PN_CODE_CYCLIC; kind++) {
				int n = ns[t], s = ss[u];
				if (kind == PN_CODE_FRACTIONAL && n % (s + 1) != 0)
					continue;
				pn_code *c = make(kind, n, s);
				make_coded(c, &rng, grads, sum, coded);
				for (int rep = 0; rep < 40; rep++) {
					int k = (int)pn_rng_below(&rng, (uint64_t)s + 1); /* 0..s stragglers */
					for (int i = 0; i < n; i++)
						finished[i] = true;
					for (int m = 0; m < k;) {
						int i = (int)pn_rng_below(&rng, (uint64_t)n);
						if (finished[i]) {
							finished[i] = false;
							m++;
						}
					}
					cr_assert(pn_code_ready(c, finished));
					pn_decode_info info;
					cr_assert_eq(pn_code_decode(c, finished, a, &info), 0);
					cr_assert(info.exact, "%s residual %g cond %g", pn_code_describe(c),
						  info.residual, info.cond);
					double e = decoded_error(n, finished, a, coded, sum);
					cr_assert_leq(e, decode_tolerance(n, info.cond, sum), "%s: error %g cond %g",
						      pn_code_describe(c), e, info.cond);
					sets++;
				}
				pn_code_free(c);
			}
	cr_assert_gt(sets, 1000);
}

Test(codes_exact, fractional_is_perfectly_conditioned)
{
	pn_code *c = make(PN_CODE_FRACTIONAL, 60, 2);
	bool finished[60];
	double a[60];
	for (int i = 0; i < 60; i++)
		finished[i] = i % 3 != 1; /* one straggler per group */
	pn_decode_info info;
	cr_assert_eq(pn_code_decode(c, finished, a, &info), 0);
	cr_assert(info.exact);
	cr_assert_lt(info.cond, 2.0);
	pn_code_free(c);
}

Test(codes_exact, too_many_stragglers_is_not_exact)
{
	pn_code *c = make(PN_CODE_CYCLIC, 10, 2);
	bool finished[10];
	double a[10];
	for (int i = 0; i < 10; i++)
		finished[i] = i >= 3; /* 3 > s stragglers */
	cr_assert_not(pn_code_ready(c, finished));
	pn_decode_info info;
	cr_assert_eq(pn_code_decode(c, finished, a, &info), 0);
	cr_assert_not(info.exact, "residual %g", info.residual);
	cr_assert_gt(info.residual, 1e-3);
	pn_code_free(c);

	c = make(PN_CODE_FRACTIONAL, 9, 2);
	for (int i = 0; i < 9; i++)
		finished[i] = i >= 3; /* whole group 0 missing */
	cr_assert_not(pn_code_ready(c, finished));
	cr_assert_eq(pn_code_decode(c, finished, a, &info), 0);
	cr_assert_not(info.exact);
	cr_assert_float_eq(info.residual, sqrt(3.0), 1e-9); /* the 3 partitions are simply missing */
	pn_code_free(c);
}

Test(codes_exact, empty_finished_set_is_an_error)
{
	pn_code *c = make(PN_CODE_CYCLIC, 6, 1);
	bool finished[6] = { false };
	double a[6];
	pn_decode_info info;
	cr_assert_eq(pn_code_decode(c, finished, a, &info), -ENODATA);
	pn_code_free(c);
}

Test(codes_exact, decoders_are_cached_per_finished_set)
{
	pn_code *c = make(PN_CODE_CYCLIC, 16, 3);
	bool f1[16], f2[16];
	double a1[16], a2[16], a3[16];
	for (int i = 0; i < 16; i++) {
		f1[i] = i != 2 && i != 9;
		f2[i] = i != 5;
	}
	pn_decode_info i1, i2, i3;
	cr_assert_eq(pn_code_decode(c, f1, a1, &i1), 0);
	cr_assert_not(i1.from_cache);
	cr_assert_eq(pn_code_decode(c, f2, a2, &i2), 0);
	cr_assert_not(i2.from_cache);
	cr_assert_eq(pn_code_decode(c, f1, a3, &i3), 0);
	cr_assert(i3.from_cache);
	cr_assert_eq(memcmp(a1, a3, sizeof a1), 0);
	cr_assert_eq(i1.cond, i3.cond);
	pn_code_stats st;
	pn_code_get_stats(c, &st);
	cr_assert_eq(st.decodes, 3);
	cr_assert_eq(st.cache_hits, 1);
	pn_code_free(c);
}

Test(codes_exact, tiny_cache_still_correct)
{
	pn_code_params p;
	pn_code_params_init(&p, PN_CODE_CYCLIC, 8, 2);
	p.cache_entries = 2;
	pn_code *c = NULL;
	cr_assert_eq(pn_code_create(&p, &c, NULL, 0), 0);
	pn_rng rng;
	pn_rng_seed(&rng, 15);
	double grads[8 * TEST_DIM], sum[TEST_DIM], coded[8 * TEST_DIM], a[8];
	make_coded(c, &rng, grads, sum, coded);
	bool f[8];
	for (int rep = 0; rep < 50; rep++) {
		for (int i = 0; i < 8; i++)
			f[i] = true;
		f[pn_rng_below(&rng, 8)] = false;
		f[pn_rng_below(&rng, 8)] = false;
		pn_decode_info info;
		cr_assert_eq(pn_code_decode(c, f, a, &info), 0);
		cr_assert_leq(decoded_error(8, f, a, coded, sum), decode_tolerance(8, info.cond, sum));
	}
	pn_code_free(c);
}

Test(codes_exact, partitions_match_matrix_rows)
{
	pn_code *c = make(PN_CODE_CYCLIC, 10, 3);
	const double *B = pn_code_matrix(c);
	for (int w = 0; w < 10; w++) {
		int parts[10];
		double coefs[10];
		int nz = pn_code_partitions(c, w, parts, coefs, 10);
		cr_assert_eq(nz, 4, "worker %d has %d partitions", w, nz); /* load s+1 */
		for (int k = 0; k < nz; k++) {
			cr_assert_eq(coefs[k], B[w * 10 + parts[k]]);
			int off = (parts[k] - w + 10) % 10;
			cr_assert_leq(off, 3, "cyclic support is {i..i+s}");
		}
	}
	cr_assert_eq(pn_code_partitions(c, 10, NULL, NULL, 0), -EINVAL);
	pn_code_free(c);
}

Test(codes_exact, invalid_parameters_are_clear_errors)
{
	struct {
		pn_code_kind kind;
		int n, s, clusters;
		const char *needle;
	} bad[] = {
		{ PN_CODE_CYCLIC, 8, 8, 0, "s < n" },
		{ PN_CODE_CYCLIC, 8, -1, 0, "s < n" },
		{ PN_CODE_FRACTIONAL, 10, 2, 0, "(s+1) | n" },
		{ PN_CODE_CYCLIC, 0, 0, 0, "out of range" },
		{ PN_CODE_BIBD, 16, 2, 0, "difference set" },
		{ PN_CODE_GCDC, 12, 1, 5, "divide" },
		{ PN_CODE_GCDC, 12, 3, 4, "below cluster size" },
		{ (pn_code_kind)99, 8, 1, 0, "unknown kind" },
	};
	for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++) {
		pn_code_params p;
		pn_code_params_init(&p, bad[t].kind, bad[t].n, bad[t].s);
		p.clusters = bad[t].clusters;
		pn_code *c = (pn_code *)&p; /* must be reset to NULL */
		char err[256] = "";
		cr_assert_eq(pn_code_create(&p, &c, err, sizeof err), -EINVAL, "case %zu", t);
		cr_assert_null(c);
		cr_assert(strstr(err, bad[t].needle), "case %zu: message '%s' lacks '%s'", t, err, bad[t].needle);
	}
	cr_assert_eq(pn_code_create(NULL, &(pn_code *){ NULL }, NULL, 0), -EINVAL);
}

Test(codes_exact, kind_names_round_trip)
{
	for (int k = 0; k < PN_CODE_KIND_COUNT_; k++)
		cr_assert_eq(pn_code_kind_from_name(pn_code_kind_name(k)), k);
	cr_assert_eq(pn_code_kind_from_name("nope"), -1);
	cr_assert_eq(pn_code_kind_from_name(NULL), -1);
}

Test(codes_exact, cyclic_reports_its_probed_conditioning)
{
	/* The construction keeps the best conditioned of several H draws, judged by the worst
	 * cond over probe sets that include every contiguous block of s stragglers. */
	for (int n = 8; n <= 32; n += 8) {
		pn_code *c = make(PN_CODE_CYCLIC, n, 3);
		double probe = pn_code_probe_cond(c);
		cr_assert_geq(probe, 1.0);
		bool f[32];
		double a[32];
		for (int start = 0; start < n; start++) {
			for (int i = 0; i < n; i++)
				f[i] = true;
			for (int j = 0; j < 3; j++)
				f[(start + j) % n] = false;
			pn_decode_info info;
			cr_assert_eq(pn_code_decode(c, f, a, &info), 0);
			cr_assert_leq(info.cond, probe * (1 + 1e-9), "n=%d block at %d: cond %g > probed %g", n,
				      start, info.cond, probe);
		}
		pn_code_free(c);
	}
	pn_code *fr = make(PN_CODE_FRACTIONAL, 8, 1);
	cr_assert_eq(pn_code_probe_cond(fr), 1.0);
	pn_code_free(fr);
}
