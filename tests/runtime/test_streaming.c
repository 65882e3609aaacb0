/* Streaming with random chunk sizes and random arrival orders equals the one-shot
 * result, for every rule, single- and multi-threaded. */
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

typedef struct piece {
	int worker;
	size_t off, len;
} piece;

/* Cuts every row into random pieces (1 .. 3·4096 floats) and shuffles all of them. */
static piece *random_pieces(int p, size_t d, uint64_t *s, size_t *count)
{
	size_t cap = 64, n = 0;
	piece *v = malloc(cap * sizeof *v);
	for (int i = 0; i < p; i++)
		for (size_t off = 0; off < d;) {
			size_t len = 1 + (size_t)(rng_next(s) % 12288);
			if (len > d - off)
				len = d - off;
			if (n == cap)
				v = realloc(v, (cap *= 2) * sizeof *v);
			v[n++] = (piece){i, off, len};
			off += len;
		}
	for (size_t k = n; k > 1; k--) {
		size_t j = rng_next(s) % k;
		piece t = v[k - 1];
		v[k - 1] = v[j];
		v[j] = t;
	}
	*count = n;
	return v;
}

Test(streaming, random_chunks_and_orders_equal_one_shot)
{
	grad_set g;
	grad_set_make(&g, 11, 30011, 0.7, 42);
	uint64_t s = 1234;
	/* every rule but 'weighted' (it needs the caller's weights: test_engine_reuse.c) */
	for (int rule = 0; rule < PN_RULE_COUNT_; rule++) {
		if (rule == PN_RULE_WEIGHTED)
			continue;
		for (int threads = 1; threads <= 2; threads++) {
			pn_agg_config cfg = agg_config(g.p, g.d, (pn_rule)rule, 2, 4, threads);
			char err[256];
			cr_assert_eq(pn_aggregate(&cfg, g.x, g.ref, NULL, NULL, err, sizeof err), 0, "%s", err);
			pn_agg *a = pn_agg_begin(&cfg, NULL, err, sizeof err); /* engine-owned storage */
			cr_assert(a, "%s", err);
			size_t n;
			piece *pc = random_pieces(g.p, g.d, &s, &n);
			for (size_t k = 0; k < n; k++) {
				const piece *q = &pc[k];
				cr_assert_eq(pn_agg_feed(a, q->worker, q->off, g.x + (size_t)q->worker * g.d + q->off,
							 q->len), 0, "%s", pn_agg_errmsg(a));
			}
			cr_assert_eq(pn_agg_finish(a, g.out), 0, "%s", pn_agg_errmsg(a));
			double e = max_rel_diff(g.out, g.ref, g.d);
			cr_expect_lt(e, 1e-5, "%s threads=%d: streaming differs from one-shot by %g",
				     pn_rule_name((pn_rule)rule), threads, e);
			pn_agg_free(a);
			free(pc);
		}
	}
	grad_set_free(&g);
}

Test(streaming, excluded_straggler_equals_one_shot_without_it)
{
	grad_set g;
	grad_set_make(&g, 9, 20000, 0.5, 8);
	const pn_rule rules[] = {PN_RULE_MEAN, PN_RULE_MEDIAN, PN_RULE_KRUM, PN_RULE_FLAG};
	for (size_t r = 0; r < 4; r++) {
		pn_agg_config cfg;
		pn_agg_config_init(&cfg, g.p - 1, g.d, rules[r]);
		cfg.f = 1;
		char err[256];
		/* reference: the first p-1 rows only */
		cr_assert_eq(pn_aggregate(&cfg, g.x, g.ref, NULL, NULL, err, sizeof err), 0, "%s", err);
		cfg.p = g.p;
		pn_agg *a = pn_agg_begin(&cfg, g.rows, err, sizeof err);
		cr_assert(a);
		/* the straggler (last worker) lands half its data, then is given up on */
		cr_assert_eq(pn_agg_landed(a, g.p - 1, 0, g.d / 2), 0);
		for (int i = 0; i < g.p - 1; i++)
			cr_assert_eq(pn_agg_landed(a, i, 0, g.d), 0);
		cr_assert_eq(pn_agg_exclude(a, g.p - 1), 0);
		cr_assert_eq(pn_agg_finish(a, g.out), 0, "%s", pn_agg_errmsg(a));
		cr_expect_lt(max_rel_diff(g.out, g.ref, g.d), 1e-5, "%s", pn_rule_name(rules[r]));
		cr_expect_eq(pn_agg_status(a)[g.p - 1], 3);
		cr_expect_eq(pn_agg_weights(a)[g.p - 1], 0.0);
		pn_agg_free(a);
	}
	grad_set_free(&g);
}

Test(streaming, worker_that_never_completes_is_reported_incomplete)
{
	grad_set g;
	grad_set_make(&g, 6, 9000, 0.5, 9);
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, g.p, g.d, PN_RULE_MEDIAN);
	char err[256];
	pn_agg *a = pn_agg_begin(&cfg, g.rows, err, sizeof err);
	cr_assert(a);
	for (int i = 0; i < g.p - 1; i++)
		cr_assert_eq(pn_agg_landed(a, i, 0, g.d), 0);
	cr_assert_eq(pn_agg_landed(a, g.p - 1, 100, 5000), 0);
	cr_assert_eq(pn_agg_finish(a, g.out), 0);
	pn_agg_report rep;
	pn_agg_get_report(a, &rep);
	cr_expect_eq(rep.incomplete, 1);
	cr_expect_eq(rep.used, g.p - 1);
	cr_expect_eq(pn_agg_status(a)[g.p - 1], 2);
	pn_agg_free(a);
	grad_set_free(&g);
}
