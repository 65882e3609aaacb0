/* finish: settle who takes part, run the rule's solve or coordinate stage, combine on the
 * pool, and refuse to hand back an output that is not finite. What runs is decided by
 * the rule's descriptor (rule_table.c), never by the rule's id. */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Blocks no one completed yet: every worker that did not land everything leaves. */
static void exclude_incomplete(pn_agg *a)
{
	for (int i = 0; i < a->p; i++) {
		if (!pn_agg_active(a, i))
			continue;
		const uint32_t *land = a->landed + (size_t)i * a->nblocks;
		for (size_t b = 0; b < a->nblocks; b++)
			if (land[b] != pn_agg_block_len(a, b)) {
				pn_agg_deactivate(a, i, PN_AGG_INCOMPLETE);
				break;
			}
	}
}

/* Workers the pool found NaN/Inf in leave the round. */
static void exclude_nonfinite_seen(pn_agg *a)
{
	for (int i = 0; i < a->p; i++)
		if (__atomic_load_n(&a->nonfinite_seen[i], __ATOMIC_RELAXED) && pn_agg_active(a, i))
			pn_agg_deactivate(a, i, PN_AGG_NONFINITE);
}

static int usable_ids(const pn_agg *a, int *ids)
{
	int k = 0;
	for (int i = 0; i < a->p; i++)
		if (pn_agg_active(a, i))
			ids[k++] = i;
	return k;
}

/* The rule's minimum, from its descriptor, under cfg (whose f may be the round's); k usable
 * workers. */
static int check_enough(pn_agg *a, const pn_agg_config *cfg, int k)
{
	if (k == 0)
		return pn_fail(a->err, sizeof a->err, ENODATA, "no usable worker: all were excluded");
	int need = a->rule->min_workers(cfg);
	if (k < need) {
		pn_errf(a->err, sizeof a->err,
			"%s needs p >= %s usable workers (have %d, f=%d: at least %d)", a->rule->name,
			a->rule->min_workers_text, k, cfg->f, need);
		return -ENODATA;
	}
	return 0;
}

/* The Gram rules' configuration for this round: f counts the faulty workers the rule must
 * survive, and a worker that sent NaN/Inf is faulty for certain and already out, so at most
 * f - (non-finite workers) of the rest are faulty. Without this, Bulyan at p = 4f + 3 skips
 * every round in which one attacker sends NaN, although the attackers left on their own. */
static pn_agg_config round_config(const pn_agg *a)
{
	pn_agg_config c = a->cfg;
	for (int i = 0; i < a->p && c.f > 0; i++)
		if (a->status[i] == PN_AGG_NONFINITE)
			c.f--;
	return c;
}

static int output_not_finite(pn_agg *a)
{
	a->rep.output_nonfinite = 1;
	pn_errf(a->err, sizeof a->err,
		"%s: the output is not finite (inputs were finite: overflow); round not usable",
		a->rule->name);
	return -EDOM;
}

/* dst = src and whether every value is finite, in one pass (the output is read once). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static bool
copy_finite(float *restrict dst, const float *restrict src, size_t n)
{
	uint32_t bad = 0;
	for (size_t k = 0; k < n; k++) {
		uint32_t u;
		memcpy(&u, &src[k], sizeof u);
		bad |= (u & 0x7f800000u) == 0x7f800000u;
		dst[k] = src[k];
	}
	return bad == 0;
}

/* Coordinate stage output (a->cout) to out, checked before the consumer sees it. When
 * the blocks were written into out directly (one-shot), only the check is left. */
static int deliver_cout(pn_agg *a, float *out)
{
	bool ok = a->cout == out ? pn_all_finite(out, a->d) : copy_finite(out, a->cout, a->d);
	if (!ok)
		return output_not_finite(a);
	if (a->consume)
		a->consume(a->consume_ctx, 0, out, a->d);
	return 0;
}

static void coord_weights(pn_agg *a)
{
	double best = 0;
	for (int i = 0; i < a->p; i++) {
		uint64_t s = 0;
		for (size_t b = 0; b < a->nblocks; b++)
			s += a->used[b * (size_t)a->p + i];
		a->weights[i] = pn_agg_active(a, i) ? (double)s / (double)a->d : 0.0;
		if (a->weights[i] > best)
			best = a->weights[i];
	}
	for (int i = 0; i < a->p; i++)
		a->scores[i] = pn_agg_active(a, i) ? (best > 0 ? 1.0 - a->weights[i] / best : 0.0)
						   : INFINITY;
}

/* Coordinate rules: a block processed with a row that has since left the round is
 * recomputed with the final set. */
static size_t recompute_coord_blocks(pn_agg *a)
{
	size_t mb = sizeof(uint64_t) * (size_t)a->words;
	memset(a->final_mask, 0, mb);
	for (int i = 0; i < a->p; i++)
		if (pn_agg_active(a, i))
			pn_mask_set(a->final_mask, i, true);
	size_t redone = 0;
	for (size_t b = 0; b < a->nblocks; b++)
		if (memcmp(pn_agg_block_mask(a, b), a->final_mask, mb) != 0) {
			memcpy(pn_agg_block_mask(a, b), a->final_mask, mb);
			pn_pool_submit(a, PN_TASK_COORD, b);
			redone++;
		}
	pn_pool_wait_idle(a);
	return redone;
}

static int finish_coord(pn_agg *a, float *out)
{
	/* NaN/Inf found by the pool: those workers leave and blocks computed with them are
	 * redone. A redo only removes rows, so this settles after a few passes. */
	do {
		pn_pool_wait_idle(a);
		exclude_nonfinite_seen(a);
		pn_pool_wait_idle(a);
	} while (recompute_coord_blocks(a) > 0);
	int rc = check_enough(a, &a->cfg, usable_ids(a, a->ids));
	if (rc != 0)
		return rc;
	double t0 = pn_now_s();
	rc = deliver_cout(a, out);
	coord_weights(a);
	a->rep.t_combine_s = pn_now_s() - t0;
	return rc;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* ‖Σ α_i g_i‖² = αᵀGα: the output's norm is known before the combination pass. */
static void rescale_to_median_norm(pn_agg *a, const int *ids, int k)
{
	double *norms = a->norms, on2 = 0;
	for (int x = 0; x < k; x++) {
		norms[x] = sqrt(fmax(a->G[ids[x] * a->p + ids[x]], 0.0));
		for (int y = 0; y < k; y++)
			on2 += a->weights[ids[x]] * a->weights[ids[y]] * a->G[ids[x] * a->p + ids[y]];
	}
	qsort(norms, (size_t)k, sizeof *norms, cmp_double);
	double target = (k & 1) ? norms[k / 2] : 0.5 * (norms[k / 2 - 1] + norms[k / 2]);
	if (on2 > 0 && isfinite(on2) && target > 0)
		for (int x = 0; x < k; x++)
			a->weights[ids[x]] *= target / sqrt(on2);
}

/* Second stage on the workers solve selected (Bulyan): per block, coordinate-wise. */
static int second_stage(pn_agg *a, const pn_agg_config *cfg, const int *ids, int k, float *out)
{
	int theta = k - 2 * cfg->f;
	a->coord.keep = theta - 2 * cfg->f;
	for (size_t b = 0; b < a->nblocks; b++) {
		uint64_t *m = pn_agg_block_mask(a, b);
		memset(m, 0, sizeof(uint64_t) * a->words);
		for (int x = 0; x < k; x++)
			if (a->selected[x])
				pn_mask_set(m, ids[x], true);
		pn_pool_submit(a, PN_TASK_COORD, b);
	}
	pn_pool_wait_idle(a);
	int rc = deliver_cout(a, out);
	for (int i = 0; i < a->p; i++) {
		uint64_t s = 0;
		for (size_t b = 0; b < a->nblocks; b++)
			s += a->used[b * (size_t)a->p + i];
		a->weights[i] = (double)s / (double)a->d;
	}
	return rc;
}

static int combine(pn_agg *a, float *out)
{
	return pn_pool_combine(a, a->weights, out) ? 0 : output_not_finite(a);
}

/* G_ii is non-finite exactly when row i holds a NaN/Inf (a float32 square is below
 * 1.2e77 and d of them cannot overflow float64), so one look at the diagonal finds
 * every poisoned worker. */
static void exclude_nonfinite_diagonal(pn_agg *a)
{
	for (int i = 0; i < a->p; i++)
		if (pn_agg_active(a, i) && !isfinite(a->G[i * a->p + i]))
			a->status[i] = PN_AGG_NONFINITE;
}

/* The solve and combination on a->G, which is the whole Gram (this engine's, or the sum
 * of every shard's in a sharded round). */
static int solve_and_combine(pn_agg *a, float *out)
{
	exclude_nonfinite_diagonal(a);
	pn_agg_config cfg = round_config(a);
	int *ids = a->ids;
	int k = usable_ids(a, ids);
	int rc = check_enough(a, &cfg, k);
	if (rc != 0)
		return rc;
	for (int x = 0; x < k; x++)
		for (int y = 0; y < k; y++)
			a->Gk[x * k + y] = a->G[ids[x] * a->p + ids[y]];
	pn_gram_result res = {.alpha = a->alpha, .score = a->score, .selected = a->selected};
	double t0 = pn_now_s();
	rc = a->rule->solve(&cfg, a->Gk, k, &res, a->err, sizeof a->err);
	a->rep.t_solve_s = pn_now_s() - t0;
	a->rep.iterations = res.iterations;
	a->rep.objective = res.objective;
	a->rep.degenerate = res.degenerate;
	if (rc != 0)
		return rc;
	for (int i = 0; i < a->p; i++) {
		a->weights[i] = 0.0;
		a->scores[i] = INFINITY;
	}
	for (int x = 0; x < k; x++) {
		if (!isfinite(a->alpha[x]))
			return pn_fail(a->err, sizeof a->err, EDOM, "%s: weight of worker %d is not finite",
				       a->rule->name, ids[x]);
		a->weights[ids[x]] = a->alpha[x];
		a->scores[ids[x]] = a->score[x];
	}
	if (a->rule->own_scale && a->cfg.flag_rescale)
		rescale_to_median_norm(a, ids, k);
	t0 = pn_now_s();
	rc = a->rule->block ? second_stage(a, &cfg, ids, k, out) : combine(a, out);
	a->rep.t_combine_s = pn_now_s() - t0;
	return rc;
}

static int finish_gram(pn_agg *a, float *out)
{
	pn_pool_wait_idle(a);
	pn_pool_collect_gram(a);
	return solve_and_combine(a, out);
}

/* Fixed weights: the caller's w, checked against who is actually usable. */
static int finish_fixed(pn_agg *a, float *out)
{
	pn_pool_wait_idle(a);
	exclude_nonfinite_seen(a);
	int k = usable_ids(a, a->ids);
	int rc = check_enough(a, &a->cfg, k);
	if (rc != 0)
		return rc;
	for (int i = 0; i < a->p; i++)
		a->usable[i] = pn_agg_active(a, i);
	double t0 = pn_now_s();
	if (a->weight_fn) {
		char e[200] = "";
		rc = a->weight_fn(a->weight_ctx, a->usable, a->p, a->weights, e, sizeof e);
		if (rc != 0) {
			pn_errf(a->err, sizeof a->err, "weights: %s", e[0] ? e : "the weight function failed");
			return rc < 0 ? rc : -EINVAL;
		}
	} else if (a->have_fixed_w) {
		memcpy(a->weights, a->fixed_w, sizeof(double) * (size_t)a->p);
	} else {
		return pn_fail(a->err, sizeof a->err, EINVAL, "rule 'weighted' needs weights (pn_agg_set_weights)");
	}
	a->rep.t_solve_s = pn_now_s() - t0;
	for (int i = 0; i < a->p; i++) {
		if (!isfinite(a->weights[i]))
			return pn_fail(a->err, sizeof a->err, EINVAL, "weight of worker %d is not finite", i);
		if (a->weights[i] != 0.0 && !a->usable[i])
			return pn_fail(a->err, sizeof a->err, ENODATA, "worker %d has weight %g but is %s", i, a->weights[i],
				       pn_agg_status_name(a->status[i]));
		a->scores[i] = a->usable[i] ? 0.0 : INFINITY;
	}
	t0 = pn_now_s();
	rc = combine(a, out);
	a->rep.t_combine_s = pn_now_s() - t0;
	return rc;
}

int pn_agg_finish_rule(pn_agg *a, float *out)
{
	typedef int (*finish_fn)(pn_agg *, float *);
	static const finish_fn by_kind[] = {[PN_KIND_COORD] = finish_coord,
					    [PN_KIND_GRAM] = finish_gram,
					    [PN_KIND_FIXED] = finish_fixed};
	double t0 = pn_now_s();
	pn_pool_wait_idle(a); /* what is queued now: the work that did not overlap the landing */
	a->rep.t_drain_s = pn_now_s() - t0;
	exclude_incomplete(a);
	return by_kind[a->rule->kind](a, out);
}

/* ---- Sharded rounds: settle this shard's facts, then finish on the job's decision ---- */

int pn_agg_settle_rule(pn_agg *a, int *status, double *G)
{
	pn_pool_wait_idle(a);
	exclude_incomplete(a);
	pn_pool_wait_idle(a); /* blocks that only waited for a leaver ran now */
	if (a->rule->kind == PN_KIND_GRAM) {
		pn_pool_collect_gram(a);
		exclude_nonfinite_diagonal(a);
		if (G)
			memcpy(G, a->G, sizeof(double) * (size_t)a->p * (size_t)a->p);
	} else {
		exclude_nonfinite_seen(a);
	}
	memcpy(status, a->status, sizeof(int) * (size_t)a->p);
	return 0;
}

int pn_agg_finish_shared_rule(pn_agg *a, const int *status, const double *G, float *out)
{
	for (int i = 0; i < a->p; i++) {
		if (status[i] == PN_AGG_USED && !pn_agg_active(a, i)) {
			snprintf(a->err, sizeof a->err,
				 "shared decision uses worker %d, which is %s in this shard", i,
				 pn_agg_status_name(a->status[i]));
			return -EINVAL;
		}
		if (status[i] != PN_AGG_USED && pn_agg_active(a, i))
			pn_agg_deactivate(a, i, status[i]);
	}
	pn_pool_wait_idle(a);
	if (a->rule->kind == PN_KIND_GRAM) {
		if (!G) {
			snprintf(a->err, sizeof a->err, "%s needs the job's Gram matrix", a->rule->name);
			return -EINVAL;
		}
		memcpy(a->G, G, sizeof(double) * (size_t)a->p * (size_t)a->p);
		return solve_and_combine(a, out);
	}
	return a->rule->kind == PN_KIND_COORD ? finish_coord(a, out) : finish_fixed(a, out);
}
