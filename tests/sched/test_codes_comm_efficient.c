/* Communication-efficient gradient codes: every straggler set of size <= s decodes the
 * exact sum from messages of ceil(d/m) values, through the worker-side encode and the
 * aggregator-side decode + combine API. */
#include "pennant/codes.h"
#include "sched/rng.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#define MAXN 10
#define DIM 7 /* not a multiple of m: the last block is zero-padded */

static pn_code *make(int n, int s, int m)
{
	pn_code_params p;
	pn_code_params_init(&p, PN_CODE_COMM_EFFICIENT, n, s);
	p.comm_dim = m;
	p.seed = 0xce00u + (uint64_t)(n * 97 + s * 7 + m);
	p.warn_cond = -1;
	pn_code *c = NULL;
	char err[256] = "";
	cr_assert_eq(pn_code_create(&p, &c, err, sizeof err), 0, "create n=%d s=%d m=%d: %s", n, s, m, err);
	return c;
}

/* Gradients, their sum and every worker's message (float64 path). */
struct data {
	double g[MAXN][DIM], sum[DIM], msg[MAXN][DIM];
};

static void encode_all(const pn_code *c, pn_rng *rng, struct data *D)
{
	int n = pn_code_n(c);
	memset(D, 0, sizeof *D);
	for (int j = 0; j < n; j++)
		for (int t = 0; t < DIM; t++) {
			D->g[j][t] = pn_rng_gauss(rng) * (1 + j);
			D->sum[t] += D->g[j][t];
		}
	for (int i = 0; i < n; i++) {
		int parts[MAXN];
		int np = pn_code_partitions(c, i, parts, NULL, MAXN);
		cr_assert_eq(np, pn_code_s(c) + pn_code_comm_dim(c), "load is s+m");
		const double *gp[MAXN];
		for (int k = 0; k < np; k++)
			gp[k] = D->g[parts[k]];
		cr_assert_eq(pn_code_ce_encode_f64(c, i, gp, DIM, D->msg[i]), 0);
	}
}

static double rel_error(const double *est, const double *sum)
{
	double e = 0, s = 0;
	for (int t = 0; t < DIM; t++) {
		e += (est[t] - sum[t]) * (est[t] - sum[t]);
		s += sum[t] * sum[t];
	}
	return sqrt(e / s);
}

static long check_all_sets(pn_code *c, pn_rng *rng)
{
	int n = pn_code_n(c), s = pn_code_s(c), m = pn_code_comm_dim(c);
	struct data D;
	encode_all(c, rng, &D);
	size_t L = pn_code_message_len(c, DIM);
	cr_assert_eq(L, (DIM + (size_t)m - 1) / (size_t)m);
	long sets = 0;
	for (unsigned mask = 0; mask < (1u << n); mask++) {
		if (__builtin_popcount(mask) > s)
			continue;
		bool fin[MAXN];
		const double *msgs[MAXN];
		for (int i = 0; i < n; i++) {
			fin[i] = !(mask & (1u << i));
			msgs[i] = fin[i] ? D.msg[i] : NULL; /* stragglers' messages never reach the decode */
		}
		cr_assert(pn_code_ready(c, fin));
		double A[4 * MAXN], est[DIM];
		pn_decode_info info;
		cr_assert_eq(pn_code_ce_decode(c, fin, A, &info), 0);
		cr_assert(info.exact, "%s stragglers %#x: residual %g cond %g", pn_code_describe(c), mask,
			  info.residual, info.cond);
		cr_assert(isfinite(info.cond) && info.cond >= 1);
		cr_assert_eq(pn_code_ce_combine_f64(c, A, msgs, DIM, est), 0);
		double e = rel_error(est, D.sum);
		cr_assert_leq(e, 1e-9, "%s stragglers %#x: relative error %g (cond %g)", pn_code_describe(c), mask,
			      e, info.cond);
		sets++;
	}
	return sets;
}

Test(codes_comm_efficient, every_straggler_set_small_n)
{
	pn_rng rng;
	pn_rng_seed(&rng, 21);
	long sets = 0;
	for (int n = 2; n <= MAXN; n++)
		for (int m = 1; m <= 4 && m <= n; m++)
			for (int s = 0; s + m <= n; s++) {
				pn_code *c = make(n, s, m);
				sets += check_all_sets(c, &rng);
				pn_code_free(c);
			}
	cr_assert_gt(sets, 10000);
}

Test(codes_comm_efficient, encode_uses_only_held_partitions)
{
	pn_code *c = make(9, 2, 3);
	const double *E = pn_code_ce_matrix(c);
	int n = 9, m = 3;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			bool held = (j - i + n) % n < 5; /* s+m = 5 cyclic */
			for (int u = 0; u < m; u++) {
				double v = E[(size_t)i * n * m + (size_t)j * m + u];
				if (!held)
					cr_assert_eq(v, 0.0, "worker %d uses partition %d it does not hold", i, j);
				else
					cr_assert_neq(v, 0.0);
			}
		}
	cr_assert_not(pn_code_rows_are_estimates(c), "robust rules must refuse comm-efficient messages");
	pn_code_free(c);
}

Test(codes_comm_efficient, too_many_stragglers_is_not_exact)
{
	pn_code *c = make(8, 2, 2);
	bool fin[8];
	for (int i = 0; i < 8; i++)
		fin[i] = i >= 3;
	cr_assert_not(pn_code_ready(c, fin));
	double A[16];
	pn_decode_info info;
	cr_assert_eq(pn_code_ce_decode(c, fin, A, &info), 0);
	cr_assert_not(info.exact, "residual %g", info.residual);
	cr_assert_gt(info.residual, 1e-3);
	/* The vector decode does not apply to m > 1. */
	double a[8];
	cr_assert_eq(pn_code_decode(c, fin, a, &info), -ENOTSUP);
	memset(fin, 0, sizeof fin);
	cr_assert_eq(pn_code_ce_decode(c, fin, A, &info), -ENODATA);
	pn_code_free(c);
}

Test(codes_comm_efficient, float32_path_and_cache)
{
	int n = 16, s = 2, m = 4;
	size_t d = 1001;
	pn_code *c = make(n, s, m);
	pn_rng rng;
	pn_rng_seed(&rng, 5);
	size_t L = pn_code_message_len(c, d);
	cr_assert_eq(L, 251);
	float *g = malloc(sizeof(float) * (size_t)n * d), *msg = malloc(sizeof(float) * (size_t)n * L);
	float *est = malloc(sizeof(float) * d);
	double *sum = calloc(d, sizeof(double));
	for (int j = 0; j < n; j++)
		for (size_t t = 0; t < d; t++) {
			g[(size_t)j * d + t] = (float)pn_rng_gauss(&rng);
			sum[t] += g[(size_t)j * d + t];
		}
	for (int i = 0; i < n; i++) {
		int parts[16];
		int np = pn_code_partitions(c, i, parts, NULL, 16);
		const float *gp[16];
		for (int k = 0; k < np; k++)
			gp[k] = g + (size_t)parts[k] * d;
		cr_assert_eq(pn_code_ce_encode(c, i, gp, d, msg + (size_t)i * L), 0);
	}
	bool fin[16];
	const float *msgs[16];
	for (int i = 0; i < n; i++) {
		fin[i] = i != 3 && i != 4;
		msgs[i] = fin[i] ? msg + (size_t)i * L : NULL;
	}
	double A[4 * 16];
	pn_decode_info info, again;
	cr_assert_eq(pn_code_ce_decode(c, fin, A, &info), 0);
	cr_assert(info.exact && !info.from_cache);
	cr_assert_eq(pn_code_ce_decode(c, fin, A, &again), 0);
	cr_assert(again.from_cache);
	cr_assert_eq(pn_code_ce_combine(c, A, msgs, d, est), 0);
	double e = 0, ss = 0;
	for (size_t t = 0; t < d; t++) {
		e += (est[t] - sum[t]) * (est[t] - sum[t]);
		ss += sum[t] * sum[t];
	}
	/* float32 messages: error ~ cond · 2^-24. */
	cr_assert_leq(sqrt(e / ss), 1e-6 * info.cond + 1e-6, "f32 relative error %g cond %g", sqrt(e / ss), info.cond);
	/* A message the decoder needs is missing: a clear error. */
	msgs[0] = NULL;
	cr_assert_eq(pn_code_ce_combine(c, A, msgs, d, est), -EINVAL);
	free(g), free(msg), free(est), free(sum);
	pn_code_free(c);
}

Test(codes_comm_efficient, invalid_parameters)
{
	pn_code_params p;
	pn_code *c = NULL;
	char err[256] = "";
	pn_code_params_init(&p, PN_CODE_COMM_EFFICIENT, 6, 3);
	p.comm_dim = 4; /* s+m > n */
	cr_assert_eq(pn_code_create(&p, &c, err, sizeof err), -EINVAL);
	cr_assert(strstr(err, "s+m <= n"), "%s", err);
	pn_code_params_init(&p, PN_CODE_CYCLIC, 6, 1);
	p.comm_dim = 2;
	cr_assert_eq(pn_code_create(&p, &c, err, sizeof err), -EINVAL);
	cr_assert(strstr(err, "comm-efficient"), "%s", err);
	cr_assert_eq(pn_code_kind_from_name("comm-efficient"), PN_CODE_COMM_EFFICIENT);
	/* m = 1 is an ordinary exact code: the vector decode works. */
	c = make(8, 2, 1);
	bool fin[8] = { true, true, false, true, true, false, true, true };
	double a[8];
	pn_decode_info info;
	cr_assert_eq(pn_code_decode(c, fin, a, &info), 0);
	cr_assert(info.exact);
	pn_code_free(c);
}
