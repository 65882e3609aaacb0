/* UEP approximate codes: the degree allocation is the optimum of its stated objective,
 * respects the load budget, protects larger blocks more; block decodes behave. */
#include "pennant/uep.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

static double objective(const double *norm, const int *deg, int B, double p)
{
	double o = 0;
	for (int b = 0; b < B; b++)
		o += norm[b] * norm[b] * pow(p, deg[b]);
	return o;
}

/* Brute force over all degree vectors in [1, n]^B within the budget. */
static double brute_best(const double *norm, const double *size, int B, int n, double load, double p)
{
	int deg[4];
	double best = INFINITY;
	int total = 1;
	for (int b = 0; b < B; b++)
		total *= n;
	for (int code = 0; code < total; code++) {
		int c = code;
		double used = 0;
		for (int b = 0; b < B; b++) {
			deg[b] = 1 + c % n;
			c /= n;
			used += size[b] * deg[b];
		}
		if (used <= load + 1e-12)
			best = fmin(best, objective(norm, deg, B, p));
	}
	return best;
}

Test(uep, greedy_allocation_is_optimal_and_within_budget)
{
	const double norm[4] = { 0.2, 0.5, 1.0, 2.0 }, size[4] = { 0.25, 0.25, 0.25, 0.25 };
	for (double load = 1; load <= 5; load += 0.5)
		for (double p = 0.05; p < 0.6; p += 0.1) {
			pn_uep_params prm = { .n = 8, .blocks = 4, .norm = norm, .size = size, .load = load, .p_miss = p };
			pn_uep *u;
			cr_assert_eq(pn_uep_create(&prm, &u, NULL, 0), 0);
			int deg[4];
			for (int b = 0; b < 4; b++)
				deg[b] = pn_uep_degree(u, b);
			cr_assert_leq(pn_uep_load(u), load + 1e-12);
			/* Larger norm, same size: at least as much protection. */
			for (int b = 1; b < 4; b++)
				cr_assert_geq(deg[b], deg[b - 1], "load %g p %g", load, p);
			double got = objective(norm, deg, 4, p), best = brute_best(norm, size, 4, 8, load, p);
			cr_assert_leq(got, best * (1 + 1e-12), "load %g p %g: greedy %g > optimum %g", load, p, got, best);
			pn_uep_free(u);
		}
}

Test(uep, equal_protection_and_decodes)
{
	const double norm[2] = { 1, 3 }, size[2] = { 0.5, 0.5 };
	pn_uep_params prm = { .n = 10, .blocks = 2, .norm = norm, .size = size, .load = 3, .equal = true };
	pn_uep *u;
	cr_assert_eq(pn_uep_create(&prm, &u, NULL, 0), 0);
	cr_assert_eq(pn_uep_degree(u, 0), 3);
	cr_assert_eq(pn_uep_degree(u, 1), 3);
	int parts[10];
	cr_assert_eq(pn_uep_partitions(u, 1, 8, parts, 10), 3);
	cr_assert(parts[0] == 8 && parts[1] == 9 && parts[2] == 0);
	bool fin[10];
	double a[10], w[10], res;
	for (int i = 0; i < 10; i++)
		fin[i] = true;
	cr_assert_eq(pn_uep_decode(u, 0, fin, a, w, &res), 0);
	cr_assert_leq(res, 1e-9);
	for (int j = 0; j < 10; j++)
		cr_assert_float_eq(w[j], 1.0, 1e-9);
	/* Three adjacent workers missing: partition 2's holders 0,1,2 are all gone. */
	fin[0] = fin[1] = fin[2] = false;
	cr_assert_eq(pn_uep_decode(u, 0, fin, a, w, &res), 0);
	cr_assert_gt(res, 0.5);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(a[i], 0.0);
	memset(fin, 0, sizeof fin);
	cr_assert_eq(pn_uep_decode(u, 0, fin, a, w, &res), -ENODATA);
	pn_uep_free(u);
}

Test(uep, bad_parameters)
{
	const double norm[1] = { 1 }, size[1] = { 0 };
	pn_uep_params prm = { .n = 4, .blocks = 1, .norm = norm, .size = size, .load = 2, .p_miss = 0.1 };
	pn_uep *u = (pn_uep *)1;
	char err[128] = "";
	cr_assert_eq(pn_uep_create(&prm, &u, err, sizeof err), -EINVAL);
	cr_assert_null(u);
	cr_assert(strstr(err, "sizes"), "%s", err);
	const double ok[1] = { 1 };
	prm.size = ok;
	prm.load = 5;
	cr_assert_eq(pn_uep_create(&prm, &u, err, sizeof err), -EINVAL);
	prm.load = 2;
	prm.p_miss = 1;
	cr_assert_eq(pn_uep_create(&prm, &u, err, sizeof err), -EINVAL);
}
