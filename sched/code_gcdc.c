/* GC-DC: gradient coding with dynamic clustering (Buyukates, Ozfatura, Ulukus, Gündüz,
 * 2021). The n partitions are split into P clusters of m = n/P; cluster c owns partitions
 * [c·m, (c+1)·m) and runs an m-worker cyclic code tolerating s stragglers. Workers occupy
 * slots (cluster, position); the worker in slot (c, k) computes row k of the cluster's
 * code. Stragglers are time-correlated, so after each round the clusters are re-formed
 * from that round's stragglers (predicted to straggle again) so that no cluster expects
 * more than s of them; when that is impossible (more than P·s predicted) they are spread
 * as evenly as possible. Re-forming moves as few workers as it can: only swaps between an
 * over-full cluster and the emptiest one.
 * Simplification (documented): any worker may take any slot, i.e. workers can compute on
 * any partition (shared storage, or the data for a new slot is fetched). */
#include "sched/code_internal.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gcdc {
	int P, m;
	int *worker_at;  /* slot -> worker; slot = cluster·m + position */
	int *slot_of;    /* worker -> slot (in worker_at's allocation) */
	double *inner;   /* m×m cyclic code shared by all clusters */
};

static void gcdc_free(void *impl)
{
	struct gcdc *g = impl;
	if (!g)
		return;
	free(g->worker_at);
	free(g->inner);
	free(g);
}

static void gcdc_fill_matrix(pn_code *c)
{
	struct gcdc *g = c->impl;
	int n = c->n, m = g->m;
	memset(c->B, 0, sizeof(double) * (size_t)n * (size_t)n);
	for (int w = 0; w < n; w++) {
		int slot = g->slot_of[w], cl = slot / m, pos = slot % m;
		c->group[w] = cl;
		for (int j = 0; j < m; j++)
			c->B[(size_t)w * (size_t)n + (size_t)(cl * m + j)] = g->inner[(size_t)pos * (size_t)m + (size_t)j];
	}
}

static int cluster_finished(const pn_code *c, const bool *finished, int cl)
{
	const struct gcdc *g = c->impl;
	int k = 0;
	for (int pos = 0; pos < g->m; pos++)
		k += finished[g->worker_at[cl * g->m + pos]] ? 1 : 0;
	return k;
}

static bool gcdc_ready(const pn_code *c, const bool *finished)
{
	const struct gcdc *g = c->impl;
	for (int cl = 0; cl < g->P; cl++)
		if (cluster_finished(c, finished, cl) < g->m - c->s)
			return false;
	return true;
}

/* Workers of a cluster that already has m−s finished are not needed any more. */
static void gcdc_needed(const pn_code *c, const bool *finished, bool *needed)
{
	const struct gcdc *g = c->impl;
	for (int cl = 0; cl < g->P; cl++) {
		bool done = cluster_finished(c, finished, cl) >= g->m - c->s;
		for (int pos = 0; pos < g->m; pos++) {
			int w = g->worker_at[cl * g->m + pos];
			needed[w] = !done && !finished[w];
		}
	}
}

static void swap_slots(struct gcdc *g, int w1, int w2)
{
	int s1 = g->slot_of[w1], s2 = g->slot_of[w2];
	g->slot_of[w1] = s2;
	g->slot_of[w2] = s1;
	g->worker_at[s1] = w2;
	g->worker_at[s2] = w1;
}

/* Worker in cluster cl whose straggled flag equals want (lowest position), or -1. */
static int find_member(const struct gcdc *g, int cl, const bool *straggled, bool want)
{
	for (int pos = 0; pos < g->m; pos++) {
		int w = g->worker_at[cl * g->m + pos];
		if (straggled[w] == want)
			return w;
	}
	return -1;
}

static int gcdc_observe(pn_code *c, const bool *straggled)
{
	struct gcdc *g = c->impl;
	int P = g->P, total = 0, moved = 0;
	int cnt[PN_CODE_MAX_N];
	for (int cl = 0; cl < P; cl++) {
		cnt[cl] = 0;
		for (int pos = 0; pos < g->m; pos++)
			cnt[cl] += straggled[g->worker_at[cl * g->m + pos]] ? 1 : 0;
		total += cnt[cl];
	}
	bool feasible = total <= P * c->s;
	for (;;) {
		int hi = 0, lo = 0;
		for (int cl = 1; cl < P; cl++) {
			if (cnt[cl] > cnt[hi])
				hi = cl;
			if (cnt[cl] < cnt[lo])
				lo = cl;
		}
		if (feasible ? cnt[hi] <= c->s : cnt[hi] - cnt[lo] <= 1)
			break;
		int a = find_member(g, hi, straggled, true);
		int b = find_member(g, lo, straggled, false);
		if (a < 0 || b < 0)
			break; /* cannot happen given the counts; never loop forever */
		swap_slots(g, a, b);
		cnt[hi]--;
		cnt[lo]++;
		moved += 2;
	}
	c->stats.reclusterings++;
	if (moved) {
		c->stats.moves += (uint64_t)moved;
		gcdc_fill_matrix(c);
		pn_code_matrix_changed(c);
	}
	return moved;
}

static const struct pn_code_ops gcdc_ops = {
	.ready = gcdc_ready,
	.needed = gcdc_needed,
	.observe = gcdc_observe,
	.free_impl = gcdc_free,
};

int pn_code_build_gcdc(pn_code *c, const pn_code_params *p, char *err, size_t errlen)
{
	int n = p->n, s = p->s, P = p->clusters;
	if (P == 0) {
		/* Largest cluster count whose clusters still hold at least 2(s+1) workers. */
		P = 1;
		for (int q = n; q >= 1; q--) {
			if (n % q == 0 && n / q >= 2 * (s + 1)) {
				P = q;
				break;
			}
		}
	}
	if (P < 1 || n % P != 0)
		return pn_fail(err, errlen, EINVAL, "gcdc: clusters P=%d must be >= 1 and divide n=%d", P, n);
	int m = n / P;
	if (s >= m)
		return pn_fail(err, errlen, EINVAL, "gcdc: per-cluster tolerance s=%d must be below cluster size n/P=%d",
			       s, m);
	struct gcdc *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	c->impl = g;
	c->ops = &gcdc_ops; /* set early so pn_code_free releases g on error */
	g->P = P;
	g->m = m;
	g->worker_at = malloc(sizeof(int) * 2 * (size_t)n); /* slot_of is its second half */
	g->slot_of = g->worker_at ? g->worker_at + n : NULL;
	g->inner = malloc(sizeof(double) * (size_t)m * (size_t)m);
	c->group = malloc(sizeof(int) * (size_t)n);
	if (!g->worker_at || !g->slot_of || !g->inner || !c->group)
		return -ENOMEM;
	int rc = pn_cyclic_matrix(m, s, p->seed, p->cyclic_candidates ? p->cyclic_candidates : 8, g->inner, m,
				  &c->probe_cond);
	if (rc < 0) {
		pn_errf(err, errlen, "gcdc: inner cyclic code failed (%d)", rc);
		return rc;
	}
	for (int w = 0; w < n; w++) {
		g->worker_at[w] = w;
		g->slot_of[w] = w;
	}
	c->ngroups = P;
	gcdc_fill_matrix(c);
	c->exact = true;
	snprintf(c->desc, sizeof c->desc, "gcdc(n=%d,s=%d/cluster,P=%d)", n, s, P);
	return 0;
}
