/* Flag Aggregator (Almasi et al., arXiv 2302.05865) on the Gram matrix.
 *
 * Notation: x_i = g_i/‖g_i‖, Ĝ = X̂ᵀX̂ (k×k). A subspace Y = X̂C (d×r) with
 * CᵀĜC = I is represented by its k×r coefficient matrix C, so every quantity is k×k:
 *   ‖Yᵀx_i‖² = ‖CᵀĜe_i‖²,  output (1/r) Σ_i Y Yᵀ x_i = X̂ · (C CᵀĜ1)/r.
 * One IRLS step with weights (w_i; w_ij for λ > 0): A = X̂M, Y₁ = top-r left singular
 * vectors of A. Since AAᵀ = X̂ W X̂ᵀ with W = MMᵀ (k×k), the left singular vectors are
 * X̂ Ĝ^{+½} U where U are the top eigenvectors of Ĝ^{½} W Ĝ^{½}: no p²-column matrix is
 * ever formed, even with the pairwise terms.
 *
 * Modes. The reference code does one IRLS step from a random orthonormal Y₀; with d ≫ r,
 * ‖Y₀ᵀx_i‖² ≈ 0, so its weights are w_i = (1+ε)^(-1/4) ≈ 1 and w_ij ≈ λ/(p(p-1)). `reference`
 * mode takes exactly that step from those weights (deterministic, no random Y₀).
 * `converged` mode repeats IRLS steps, accepting a step only while the objective
 * E(Y) = Σ_i sqrt(max(0, 1 - ‖Yᵀx_i‖²)) decreases, until the relative decrease falls
 * below tol or max_iters steps. */
#include "agg_internal.h"
#include "linalg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FLAG_EPS 1e-7

typedef struct flag_ws {
	int k, r;
	double *gh;      /* Ĝ (k×k) */
	double *ghalf;   /* Ĝ^{1/2} */
	double *gihalf;  /* Ĝ^{+1/2} (pseudo-inverse root on the range of Ĝ) */
	double *W, *T, *tmp, *evals, *evecs;
	double *C;       /* k×r candidate coefficients, row-major */
	double *B;       /* r×k: B = CᵀĜ, column i is b_i */
	double *proj;    /* ‖b_i‖² */
} flag_ws;

/* Ĝ^{±1/2} from the eigen-decomposition of Ĝ; returns the numerical rank. */
static int matrix_roots(flag_ws *w)
{
	int k = w->k;
	if (pn_sym_eig(k, w->gh, w->evals, w->evecs) != 0)
		return -1;
	double smax = w->evals[k - 1];
	double cut = smax * 1e-12 * k;
	int rank = 0;
	memset(w->ghalf, 0, sizeof(double) * k * k);
	memset(w->gihalf, 0, sizeof(double) * k * k);
	for (int e = 0; e < k; e++) {
		double s = w->evals[e];
		if (!(s > cut))
			continue;
		rank++;
		double sh = sqrt(s), ish = 1.0 / sh;
		const double *v = w->evecs + (size_t)e * k;
		for (int i = 0; i < k; i++)
			for (int j = 0; j < k; j++) {
				w->ghalf[i * k + j] += sh * v[i] * v[j];
				w->gihalf[i * k + j] += ish * v[i] * v[j];
			}
	}
	return rank;
}

/* W = M Mᵀ for weights wi (k) and wij (k×k ordered pairs, diagonal unused). */
static void build_w(int k, const double *wi, const double *wij, double *W)
{
	memset(W, 0, sizeof(double) * k * k);
	for (int i = 0; i < k; i++)
		W[i * k + i] = wi[i] * wi[i];
	if (!wij)
		return;
	for (int i = 0; i < k; i++)
		for (int j = 0; j < k; j++) {
			if (i == j)
				continue;
			double s = wij[i * k + j] * wij[i * k + j];
			/* (e_i - e_j)(e_i - e_j)ᵀ */
			W[i * k + i] += s;
			W[j * k + j] += s;
			W[i * k + j] -= s;
			W[j * k + i] -= s;
		}
}

/* One IRLS step: C from W, then B = CᵀĜ and the projections. Returns E(Y). */
static double irls_step(flag_ws *w, const double *W)
{
	int k = w->k, r = w->r;
	pn_matmul(k, k, k, w->ghalf, W, w->tmp);
	pn_matmul(k, k, k, w->tmp, w->ghalf, w->T);
	if (pn_sym_eig(k, w->T, w->evals, w->evecs) != 0)
		return NAN;
	/* Top-r eigenvectors (ascending order: the last r). U is k×r row-major in tmp. */
	for (int c = 0; c < r; c++) {
		const double *v = w->evecs + (size_t)(k - 1 - c) * k;
		for (int i = 0; i < k; i++)
			w->tmp[i * r + c] = v[i];
	}
	pn_matmul(k, k, r, w->gihalf, w->tmp, w->C);
	/* B = Cᵀ Ĝ (r×k) */
	for (int c = 0; c < r; c++)
		for (int i = 0; i < k; i++) {
			double s = 0;
			for (int j = 0; j < k; j++)
				s += w->C[j * r + c] * w->gh[j * k + i];
			w->B[c * k + i] = s;
		}
	double E = 0;
	for (int i = 0; i < k; i++) {
		double s = 0;
		for (int c = 0; c < r; c++)
			s += w->B[c * k + i] * w->B[c * k + i];
		w->proj[i] = s;
		E += sqrt(fmax(0.0, 1.0 - s));
	}
	return E;
}

static void next_weights(const flag_ws *w, double lambda, double *wi, double *wij)
{
	int k = w->k, r = w->r;
	for (int i = 0; i < k; i++)
		wi[i] = pow(fabs(1.0 - w->proj[i]) + FLAG_EPS, -0.25);
	if (!wij)
		return;
	double scale = lambda / ((double)k * (k - 1));
	for (int i = 0; i < k; i++)
		for (int j = 0; j < k; j++) {
			if (i == j)
				continue;
			double s = 0;
			for (int c = 0; c < r; c++) {
				double dlt = w->B[c * k + i] - w->B[c * k + j];
				s += dlt * dlt;
			}
			wij[i * k + j] = scale * pow(fabs(1.0 - s) + FLAG_EPS, -0.25);
		}
}

int pn_rule_flag(const double *G, int k, int r, double lambda, pn_flag_mode mode, int max_iters,
		 double tol, pn_gram_result *res, char *err, size_t errlen)
{
	if (k < 1 || r < 1) {
		pn_errf(err, errlen, "flag: need at least one worker and r >= 1 (k=%d, r=%d)", k, r);
		return -EINVAL;
	}
	size_t kk = (size_t)k * k;
	flag_ws w = {.k = k};
	double *mem = calloc(kk * 8 + (size_t)k * 6 + (size_t)k * k * 2, sizeof(double));
	double *wi = malloc(sizeof(double) * k);
	double *wij = lambda > 0 && k > 1 ? malloc(sizeof(double) * kk) : NULL;
	double *bestC = malloc(sizeof(double) * kk);
	double *nrm = malloc(sizeof(double) * k);
	int rc = 0;
	if (!mem || !wi || (lambda > 0 && k > 1 && !wij) || !bestC || !nrm) {
		rc = -ENOMEM;
		goto out;
	}
	w.gh = mem;
	w.ghalf = w.gh + kk;
	w.gihalf = w.ghalf + kk;
	w.W = w.gihalf + kk;
	w.T = w.W + kk;
	w.tmp = w.T + kk;
	w.evecs = w.tmp + kk;
	w.C = w.evecs + kk;
	w.B = w.C + kk;
	w.evals = w.B + kk;
	w.proj = w.evals + k;

	res->degenerate = 0;
	for (int i = 0; i < k; i++) {
		nrm[i] = sqrt(fmax(G[i * k + i], 0.0));
		res->degenerate += !(nrm[i] > 0);
	}
	for (int i = 0; i < k; i++)
		for (int j = 0; j < k; j++)
			w.gh[i * k + j] = nrm[i] > 0 && nrm[j] > 0 ? G[i * k + j] / (nrm[i] * nrm[j]) : 0.0;
	int rank = matrix_roots(&w);
	if (rank < 0) {
		pn_errf(err, errlen, "flag: eigen-decomposition of the Gram matrix failed");
		rc = -EIO;
		goto out;
	}
	if (rank == 0) {
		pn_errf(err, errlen, "flag: every gradient is zero");
		rc = -ENODATA;
		goto out;
	}
	/* Directions beyond the span of the gradients add nothing to Y Yᵀ x_i, so the
	 * subspace is capped at the rank; the output still divides by the requested r. */
	w.r = r < rank ? r : rank;

	for (int i = 0; i < k; i++)
		wi[i] = pow(1.0 + FLAG_EPS, -0.25);
	if (wij)
		for (size_t x = 0; x < kk; x++)
			wij[x] = lambda / ((double)k * (k - 1)) * pow(1.0 + FLAG_EPS, -0.25);

	/* E(Y₀) for the reference's random start is ≈ k (every projection ≈ 0). */
	double best = (double)k;
	int iters = 0, cap = mode == PN_FLAG_REFERENCE ? 1 : (max_iters > 0 ? max_iters : 100);
	for (int it = 0; it < cap; it++) {
		build_w(k, wi, wij, w.W);
		double E = irls_step(&w, w.W);
		if (isnan(E)) {
			pn_errf(err, errlen, "flag: eigen-decomposition failed in IRLS step %d", it + 1);
			rc = -EIO;
			goto out;
		}
		if (it > 0 && !(E < best))
			break; /* not better: keep the previous subspace */
		double prev = best;
		best = E;
		iters = it + 1;
		memcpy(bestC, w.C, sizeof(double) * k * w.r);
		for (int i = 0; i < k; i++)
			res->score[i] = 1.0 - w.proj[i];
		if (prev - E <= tol * prev)
			break;
		next_weights(&w, lambda, wi, wij);
	}
	/* alpha_hat = C Cᵀ Ĝ 1 / r, then undo the normalisation: output = Σ (α̂_i/‖g_i‖) g_i. */
	double *g1 = w.tmp, *ctg1 = w.T;
	for (int i = 0; i < k; i++) {
		double s = 0;
		for (int j = 0; j < k; j++)
			s += w.gh[i * k + j];
		g1[i] = s;
	}
	for (int c = 0; c < w.r; c++) {
		double s = 0;
		for (int i = 0; i < k; i++)
			s += bestC[i * w.r + c] * g1[i];
		ctg1[c] = s;
	}
	for (int i = 0; i < k; i++) {
		double s = 0;
		for (int c = 0; c < w.r; c++)
			s += bestC[i * w.r + c] * ctg1[c];
		res->alpha[i] = nrm[i] > 0 ? s / r / nrm[i] : 0.0;
	}
	res->iterations = iters;
	res->objective = best;
out:
	free(mem);
	free(wi);
	free(wij);
	free(bestC);
	free(nrm);
	return rc;
}

/* ---- descriptor (listed in rule_table.c) ----
 * Flag is scale-invariant: it looks only at directions x_i = g_i/‖g_i‖. A zero gradient
 * has no direction: it gets weight 0 and is counted in the report's `degenerate`. A tiny
 * (even subnormal) or huge gradient has a direction like any other; its coefficient
 * α_i = α̂_i/‖g_i‖ may fall outside float32's range, which the combination pass applies
 * in float64 (combine.c), so α_i·g_i stays finite. */
static int flag_min(const pn_agg_config *c)
{
	(void)c;
	return 1;
}

static int flag_solve(const pn_agg_config *c, const double *G, int k, pn_gram_result *res,
		      char *err, size_t errlen)
{
	return pn_rule_flag(G, k, c->r, c->lambda, c->flag_mode, c->max_iters, c->tol, res, err,
			    errlen);
}

const pn_rule_desc pn_rule_desc_flag = {
	.id = PN_RULE_FLAG, .name = "flag", .kind = PN_KIND_GRAM,
	.min_workers = flag_min, .min_workers_text = "1", .solve = flag_solve, .own_scale = true,
};
