/* GC-DC: cluster assignment invariants under given straggler histories. */
#include "code_helpers.h"

#include <criterion/criterion.h>
#include <string.h>

static pn_code *make(int n, int s, int clusters)
{
	pn_code_params p;
	pn_code_params_init(&p, PN_CODE_GCDC, n, s);
	p.clusters = clusters;
	pn_code *c = NULL;
	char err[256] = "";
	cr_assert_eq(pn_code_create(&p, &c, err, sizeof err), 0, "%s", err);
	return c;
}

/* Structural invariants: clusters partition the workers into equal sizes; each worker's
 * row has s+1 non-zeros, all inside its own cluster's partition block; every partition is
 * covered by exactly s+1 workers. Returns per-cluster straggler counts in cnt. */
static void check_structure(const pn_code *c, const bool *straggled, int *cnt)
{
	int n = pn_code_n(c), s = pn_code_s(c), P = pn_code_groups(c), m = n / P;
	const double *B = pn_code_matrix(c);
	int size[64] = { 0 }, cover[64] = { 0 };
	for (int cl = 0; cl < P; cl++)
		cnt[cl] = 0;
	for (int w = 0; w < n; w++) {
		int cl = pn_code_group_of(c, w);
		cr_assert(cl >= 0 && cl < P);
		size[cl]++;
		if (straggled)
			cnt[cl] += straggled[w] ? 1 : 0;
		int nz = 0;
		for (int j = 0; j < n; j++) {
			if (B[w * n + j] == 0.0)
				continue;
			nz++;
			cover[j]++;
			cr_assert_eq(j / m, cl, "worker %d (cluster %d) computes partition %d", w, cl, j);
		}
		cr_assert_eq(nz, s + 1);
	}
	for (int cl = 0; cl < P; cl++)
		cr_assert_eq(size[cl], m);
	for (int j = 0; j < n; j++)
		cr_assert_eq(cover[j], s + 1);
}

Test(gcdc, concentrated_stragglers_are_spread_across_clusters)
{
	pn_code *c = make(16, 2, 2); /* two clusters of 8, tolerate 2 each */
	bool st[16] = { false };
	for (int w = 0; w < 4; w++)
		st[w] = true; /* four stragglers, all in cluster 0 */
	int cnt[64];
	check_structure(c, st, cnt);
	cr_assert_eq(cnt[0], 4);
	bool fin[16];
	for (int w = 0; w < 16; w++)
		fin[w] = !st[w];
	cr_assert_not(pn_code_ready(c, fin), "4 stragglers in one cluster of tolerance 2");
	uint64_t gen = pn_code_generation(c);
	int moved = pn_code_observe_round(c, st);
	cr_assert_eq(moved, 4, "two swaps suffice");
	cr_assert_gt(pn_code_generation(c), gen);
	check_structure(c, st, cnt);
	cr_assert_eq(cnt[0], 2);
	cr_assert_eq(cnt[1], 2);
	/* If the same workers straggle again, the new clusters decode exactly. */
	cr_assert(pn_code_ready(c, fin));
	pn_rng rng;
	pn_rng_seed(&rng, 31);
	double grads[16 * TEST_DIM], sum[TEST_DIM], coded[16 * TEST_DIM], a[16];
	make_coded(c, &rng, grads, sum, coded);
	pn_decode_info info;
	cr_assert_eq(pn_code_decode(c, fin, a, &info), 0);
	cr_assert(info.exact);
	cr_assert_leq(decoded_error(16, fin, a, coded, sum), decode_tolerance(16, info.cond, sum));
	pn_code_free(c);
}

Test(gcdc, feasible_assignment_is_left_alone)
{
	pn_code *c = make(12, 1, 3);
	bool st[12] = { false };
	st[0] = st[5] = st[11] = true; /* one per cluster of 4 */
	uint64_t gen = pn_code_generation(c);
	cr_assert_eq(pn_code_observe_round(c, st), 0);
	cr_assert_eq(pn_code_generation(c), gen, "no change, decoder cache kept");
	pn_code_free(c);
}

Test(gcdc, infeasible_pattern_is_balanced)
{
	pn_code *c = make(12, 1, 3);
	bool st[12] = { false };
	for (int w = 0; w < 7; w++)
		st[w] = true; /* 7 > P·s = 3 */
	pn_code_observe_round(c, st);
	int cnt[64];
	check_structure(c, st, cnt);
	int lo = 99, hi = -1;
	for (int cl = 0; cl < 3; cl++) {
		lo = cnt[cl] < lo ? cnt[cl] : lo;
		hi = cnt[cl] > hi ? cnt[cl] : hi;
	}
	cr_assert_leq(hi - lo, 1, "counts %d..%d", lo, hi);
	pn_code_free(c);
}

Test(gcdc, invariants_hold_over_markov_histories)
{
	static const struct {
		int n, s, P;
	} cfgs[] = { { 16, 2, 2 }, { 32, 4, 2 }, { 24, 1, 4 }, { 30, 2, 5 }, { 64, 3, 8 } };
	pn_rng rng;
	pn_rng_seed(&rng, 32);
	for (size_t t = 0; t < sizeof cfgs / sizeof cfgs[0]; t++) {
		int n = cfgs[t].n, s = cfgs[t].s, P = cfgs[t].P, m = n / P;
		pn_code *c = make(n, s, P);
		bool st[64] = { false }, fin[64];
		double a[64];
		for (int round = 0; round < 200; round++) {
			/* Two-state Markov stragglers: sticky slow state. */
			for (int w = 0; w < n; w++) {
				double u = pn_rng_uniform(&rng);
				st[w] = st[w] ? u < 0.8 : u < 0.06;
			}
			int before[64];
			check_structure(c, st, before);
			int excess = 0, total = 0;
			for (int cl = 0; cl < P; cl++) {
				excess += before[cl] > s ? before[cl] - s : 0;
				total += before[cl];
			}
			int moved = pn_code_observe_round(c, st);
			int cnt[64];
			check_structure(c, st, cnt);
			if (total <= P * s) {
				for (int cl = 0; cl < P; cl++)
					cr_assert_leq(cnt[cl], s, "round %d cluster %d has %d", round, cl, cnt[cl]);
				cr_assert_leq(moved, 2 * excess, "minimal movement");
				/* Same stragglers next round: decodable exactly. */
				for (int w = 0; w < n; w++)
					fin[w] = !st[w];
				cr_assert(pn_code_ready(c, fin));
				pn_decode_info info;
				cr_assert_eq(pn_code_decode(c, fin, a, &info), 0);
				cr_assert(info.exact, "round %d residual %g", round, info.residual);
			} else {
				int lo = m, hi = 0;
				for (int cl = 0; cl < P; cl++) {
					lo = cnt[cl] < lo ? cnt[cl] : lo;
					hi = cnt[cl] > hi ? cnt[cl] : hi;
				}
				cr_assert_leq(hi - lo, 1);
			}
		}
		pn_code_stats stt;
		pn_code_get_stats(c, &stt);
		cr_assert_eq(stt.reclusterings, 200);
		pn_code_free(c);
	}
}

Test(gcdc, needed_drops_satisfied_clusters)
{
	pn_code *c = make(8, 1, 2); /* clusters {0..3} {4..7}, need 3 of 4 each */
	bool fin[8] = { true, true, true, false, true, false, false, false };
	bool need[8];
	pn_code_needed(c, fin, need);
	cr_assert_not(need[3], "cluster 0 is complete");
	for (int w = 5; w < 8; w++)
		cr_assert(need[w]);
	for (int w = 0; w < 3; w++)
		cr_assert_not(need[w], "finished workers are never needed");
	pn_code_free(c);
}

Test(gcdc, automatic_cluster_count)
{
	pn_code *c = make(16, 2, 0);
	cr_assert_eq(pn_code_groups(c), 2); /* clusters of 8 >= 2(s+1) = 6 */
	pn_code_free(c);
	c = make(32, 4, 0);
	cr_assert_eq(pn_code_groups(c), 2);
	pn_code_free(c);
}
