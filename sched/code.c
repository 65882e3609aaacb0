/* Gradient code object: construction dispatch, accessors and the float64 decode. */
#include "sched/names.h"
#include "util/util.h"

#include "sched/code_internal.h"
#include "sched/lsq.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[PN_CODE_KIND_COUNT_] = {
	"uncoded", "fractional", "cyclic", "expander", "bibd", "gcdc", "comm-efficient",
};

void pn_code_params_init(pn_code_params *p, pn_code_kind kind, int n, int s)
{
	memset(p, 0, sizeof *p);
	p->kind = kind;
	p->n = n;
	p->s = s;
	p->seed = 1;
}

int pn_code_kind_from_name(const char *name)
{
	return pn_name_find(kind_names, PN_CODE_KIND_COUNT_, name);
}

const char *pn_code_kind_name(pn_code_kind kind)
{
	return pn_name_at(kind_names, PN_CODE_KIND_COUNT_, (unsigned)kind);
}

/* Formats the reason into err; the value is the error code to return. */
#define fail(err, errlen, ...) pn_fail(err, errlen, EINVAL, __VA_ARGS__)

int pn_code_create(const pn_code_params *p, pn_code **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!p)
		return fail(err, errlen, "code: no parameters");
	if ((unsigned)p->kind >= PN_CODE_KIND_COUNT_)
		return fail(err, errlen, "code: unknown kind %d", (int)p->kind);
	if (p->n < 1 || p->n > PN_CODE_MAX_N)
		return fail(err, errlen, "code %s: n=%d out of range [1, %d]",
			    kind_names[p->kind], p->n, PN_CODE_MAX_N);
	if (p->s < 0 || p->s >= p->n)
		return fail(err, errlen, "code %s: need 0 <= s < n (s=%d, n=%d)",
			    kind_names[p->kind], p->s, p->n);
	int m = p->kind == PN_CODE_COMM_EFFICIENT ? (p->comm_dim ? p->comm_dim : 2) : 1;
	if (p->kind != PN_CODE_COMM_EFFICIENT && p->comm_dim > 1)
		return fail(err, errlen, "code %s: comm_dim=%d needs the comm-efficient code",
			    kind_names[p->kind], p->comm_dim);
	if (m < 1 || p->s + m > p->n)
		return fail(err, errlen, "code %s: need comm_dim m >= 1 and s+m <= n (m=%d, s=%d, n=%d)",
			    kind_names[p->kind], m, p->s, p->n);
	pn_code *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->kind = p->kind;
	c->n = p->n;
	c->s = p->s;
	c->comm_dim = m;
	c->warn_cond = p->warn_cond == 0 ? 1e6 : p->warn_cond;
	c->B = calloc((size_t)p->n * (size_t)p->n, sizeof(double));
	int rc = c->B ? 0 : -ENOMEM;
	if (rc == 0)
		rc = pn_decode_cache_init(&c->cache, p->n, p->n * m, p->cache_entries == 0 ? 1024 : p->cache_entries);
	if (rc == 0) {
		switch (p->kind) {
		case PN_CODE_UNCODED: rc = pn_code_build_uncoded(c, p, err, errlen); break;
		case PN_CODE_FRACTIONAL: rc = pn_code_build_fractional(c, p, err, errlen); break;
		case PN_CODE_CYCLIC: rc = pn_code_build_cyclic(c, p, err, errlen); break;
		case PN_CODE_EXPANDER: rc = pn_code_build_expander(c, p, err, errlen); break;
		case PN_CODE_BIBD: rc = pn_code_build_bibd(c, p, err, errlen); break;
		case PN_CODE_GCDC: rc = pn_code_build_gcdc(c, p, err, errlen); break;
		case PN_CODE_COMM_EFFICIENT: rc = pn_code_build_comm_efficient(c, p, err, errlen); break;
		default: rc = -EINVAL; break;
		}
	} else {
		pn_errf(err, errlen, "code: out of memory");
	}
	if (rc < 0) {
		pn_code_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void pn_code_free(pn_code *c)
{
	if (!c)
		return;
	if (c->ops && c->ops->free_impl)
		c->ops->free_impl(c->impl);
	pn_decode_cache_fini(&c->cache);
	free(c->B);
	free(c->E);
	free(c->group);
	free(c);
}

pn_code_kind pn_code_kind_of(const pn_code *c) { return c->kind; }
int pn_code_n(const pn_code *c) { return c->n; }
int pn_code_s(const pn_code *c) { return c->s; }
bool pn_code_is_exact(const pn_code *c) { return c->exact; }
const double *pn_code_matrix(const pn_code *c) { return c->B; }
uint64_t pn_code_generation(const pn_code *c) { return c->generation; }
double pn_code_sigma2(const pn_code *c) { return c->sigma2; }
double pn_code_probe_cond(const pn_code *c) { return c->probe_cond > 0 ? c->probe_cond : 1.0; }
const char *pn_code_describe(const pn_code *c) { return c->desc; }
int pn_code_groups(const pn_code *c) { return c->group ? c->ngroups : 1; }

int pn_code_group_of(const pn_code *c, int worker)
{
	if (worker < 0 || worker >= c->n)
		return -EINVAL;
	return c->group ? c->group[worker] : 0;
}

int pn_code_partitions(const pn_code *c, int worker, int *parts, double *coefs, int cap)
{
	if (worker < 0 || worker >= c->n || cap < 0)
		return -EINVAL;
	if (c->ops->partitions)
		return c->ops->partitions(c, worker, parts, coefs, cap);
	const double *row = c->B + (size_t)worker * (size_t)c->n;
	int nz = 0;
	for (int j = 0; j < c->n; j++) {
		if (row[j] == 0.0)
			continue;
		if (nz < cap) {
			if (parts)
				parts[nz] = j;
			if (coefs)
				coefs[nz] = row[j];
		}
		nz++;
	}
	return nz;
}

int pn_code_count_finished(const pn_code *c, const bool *finished)
{
	int k = 0;
	for (int i = 0; i < c->n; i++)
		k += finished[i] ? 1 : 0;
	return k;
}

bool pn_code_ready(const pn_code *c, const bool *finished)
{
	return c->ops->ready(c, finished);
}

void pn_code_needed(const pn_code *c, const bool *finished, bool *needed)
{
	if (c->ops->needed) {
		c->ops->needed(c, finished, needed);
		return;
	}
	bool done = c->ops->ready(c, finished);
	for (int i = 0; i < c->n; i++)
		needed[i] = !done && !finished[i];
}

void pn_code_matrix_changed(pn_code *c)
{
	c->generation++;
	pn_decode_cache_clear(&c->cache);
	c->stats.cache_clears++;
}

int pn_code_observe_round(pn_code *c, const bool *straggled)
{
	if (!c->ops->observe)
		return 0;
	return c->ops->observe(c, straggled);
}

void pn_code_get_stats(const pn_code *c, pn_code_stats *st)
{
	*st = c->stats;
}

/* Promised residual for the uniform decode of a code with constant row/column sums d and
 * second singular value σ₂ (see codes.h). */
static double approx_bound(const pn_code *c, int k)
{
	double n = c->n, d = c->s + 1;
	return n * c->sigma2 / (d * k) * sqrt(k * (n - k) / n);
}

/* Solve min ‖B_Fᵀ a_F − 1‖ and fill a (zeros outside F) and info. */
static int solve_decode(pn_code *c, const bool *finished, int k, double *a, pn_decode_info *info)
{
	int n = c->n;
	double *A = malloc(sizeof(double) * (size_t)n * (size_t)k);
	int *idx = malloc(sizeof(int) * (size_t)k);
	int rc = -ENOMEM, rank = 0;
	if (!A || !idx)
		goto out;
	/* Column c of A = B_Fᵀ is row F[c] of B: a contiguous copy. */
	pn_finished_ids(finished, n, idx);
	for (int col = 0; col < k; col++)
		memcpy(A + (size_t)col * (size_t)n, c->B + (size_t)idx[col] * (size_t)n,
		       sizeof(double) * (size_t)n);
	if ((rc = pn_lsq_fit_ones(n, k, A, idx, a, &rank, &info->cond)) < 0)
		goto out;
	double an = 0;
	for (int col = 0; col < k; col++)
		an += a[idx[col]] * a[idx[col]];
	/* Residual recomputed from B itself, not taken from the solver. */
	double res = 0;
	for (int j = 0; j < n; j++) {
		double v = -1.0;
		for (int col = 0; col < k; col++)
			v += a[idx[col]] * c->B[(size_t)idx[col] * (size_t)n + (size_t)j];
		res += v * v;
	}
	info->nfinished = k;
	info->rank = rank;
	info->residual = sqrt(res);
	info->a_norm2 = sqrt(an);
	info->bound = c->exact || c->kind == PN_CODE_UNCODED ? 0.0 : approx_bound(c, k);
	info->exact = info->residual <= 1e-7 * sqrt((double)n);
	info->ill_conditioned = c->warn_cond > 0 && info->cond > c->warn_cond;
	info->from_cache = false;
out:
	free(A);
	free(idx);
	return rc;
}

/* The cache half of both decodes. Counts the decode and keys `finished` into keybuf; on
 * a hit copies the alen cached coefficients into a and returns 1; on a miss returns 0
 * (solve, then decode_store); -ENODATA when no worker finished. *k: how many did. */
static int decode_cached(pn_code *c, const bool *finished, size_t alen, double *a, pn_decode_info *info,
			 uint64_t *keybuf, int *k)
{
	*k = pn_code_count_finished(c, finished);
	if (*k == 0)
		return -ENODATA;
	c->stats.decodes++;
	pn_decode_cache_key(&c->cache, finished, keybuf);
	const pn_decode_entry *e = pn_decode_cache_find(&c->cache, keybuf);
	if (!e)
		return 0;
	memcpy(a, e->a, sizeof(double) * alen);
	*info = e->info;
	info->from_cache = true;
	c->stats.cache_hits++;
	return 1;
}

static int decode_store(pn_code *c, const uint64_t *keybuf, const double *a, const pn_decode_info *info)
{
	int put = pn_decode_cache_put(&c->cache, keybuf, a, info);
	if (put > 0)
		c->stats.cache_clears++;
	return put < 0 ? put : 0;
}

int pn_code_decode(pn_code *c, const bool *finished, double *a, pn_decode_info *info)
{
	if (c->comm_dim > 1) {
		if (!c->warned)
			fprintf(stderr, "pennant: %s: messages are d/m long, the decoder is a matrix; the vector "
					"decode does not apply (use pn_code_ce_decode / pn_code_ce_combine)\n", c->desc);
		c->warned = true;
		return -ENOTSUP;
	}
	uint64_t keybuf[PN_CODE_MAX_N / 64];
	int k, rc = decode_cached(c, finished, (size_t)c->n, a, info, keybuf, &k);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = solve_decode(c, finished, k, a, info);
	if (rc < 0)
		return rc;
	if (info->ill_conditioned) {
		c->stats.ill_conditioned++;
		if (!c->warned) {
			fprintf(stderr,
				"pennant: warning: %s decode with %d finished has condition number %.3g "
				"(‖a‖=%.3g); float32 coded gradients lose precision (further warnings for "
				"this code suppressed)\n",
				c->desc, k, info->cond, info->a_norm2);
			c->warned = true;
		}
	}
	return decode_store(c, keybuf, a, info);
}

bool pn_code_rows_are_estimates(const pn_code *c)
{
	if (c->comm_dim != 1 || c->kind == PN_CODE_COMM_EFFICIENT)
		return false;
	int n = c->n;
	double s0 = 0;
	for (int i = 0; i < n; i++) {
		double s = 0;
		for (int j = 0; j < n; j++) {
			double b = c->B[(size_t)i * (size_t)n + (size_t)j];
			if (b < 0)
				return false;
			s += b;
		}
		if (i == 0)
			s0 = s;
		if (!(s0 > 0) || fabs(s - s0) > 1e-9 * s0)
			return false;
	}
	return true;
}

int pn_code_comm_dim(const pn_code *c) { return c->comm_dim; }
const double *pn_code_ce_matrix(const pn_code *c) { return c->E ? c->E : c->B; }

size_t pn_code_message_len(const pn_code *c, size_t d)
{
	return (d + (size_t)c->comm_dim - 1) / (size_t)c->comm_dim;
}

int pn_code_ce_decode(pn_code *c, const bool *finished, double *A, pn_decode_info *info)
{
	if (!c->ops->decode_matrix)
		return pn_code_decode(c, finished, A, info); /* m = 1: A is the decode vector */
	uint64_t keybuf[PN_CODE_MAX_N / 64];
	int k, rc = decode_cached(c, finished, (size_t)c->comm_dim * (size_t)c->n, A, info, keybuf, &k);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = c->ops->decode_matrix(c, finished, k, A, info);
	if (rc < 0)
		return rc;
	info->ill_conditioned = c->warn_cond > 0 && info->cond > c->warn_cond;
	info->from_cache = false;
	if (info->ill_conditioned)
		c->stats.ill_conditioned++;
	return decode_store(c, keybuf, A, info);
}

/* The partitions a worker holds (all of them, or -EINVAL if more than cap). */
static int held_partitions(const pn_code *c, int worker, int *parts, int cap)
{
	int np = pn_code_partitions(c, worker, parts, NULL, cap);
	return np > cap ? -EINVAL : np;
}

#define CE_ENCODE(T)                                                                                    \
	{                                                                                               \
		if (worker < 0 || worker >= c->n || !grads || !out)                                     \
			return -EINVAL;                                                                 \
		int parts[PN_CODE_MAX_N];                                                               \
		int np = held_partitions(c, worker, parts, PN_CODE_MAX_N);                                   \
		if (np < 0)                                                                             \
			return np;                                                                      \
		int m = c->comm_dim;                                                                    \
		size_t L = pn_code_message_len(c, d), nm = (size_t)c->n * (size_t)m;                    \
		const double *row = pn_code_ce_matrix(c) + (size_t)worker * nm;                         \
		for (size_t t = 0; t < L; t++) {                                                        \
			double v = 0;                                                                   \
			for (int k = 0; k < np; k++)                                                    \
				for (int u = 0; u < m; u++) {                                           \
					size_t x = (size_t)u * L + t;                                   \
					if (x < d)                                                      \
						v += row[(size_t)parts[k] * (size_t)m + (size_t)u] *    \
						     (double)grads[k][x];                               \
				}                                                                       \
			out[t] = (T)v;                                                                  \
		}                                                                                       \
		return 0;                                                                               \
	}

int pn_code_ce_encode(const pn_code *c, int worker, const float *const *grads, size_t d, float *out)
CE_ENCODE(float)
int pn_code_ce_encode_f64(const pn_code *c, int worker, const double *const *grads, size_t d, double *out)
CE_ENCODE(double)

#define CE_COMBINE(T)                                                                                   \
	{                                                                                               \
		if (!A || !msgs || !out)                                                                \
			return -EINVAL;                                                                 \
		int n = c->n, m = c->comm_dim;                                                          \
		size_t L = pn_code_message_len(c, d);                                                   \
		for (int u = 0; u < m; u++)                                                             \
			for (int i = 0; i < n; i++)                                                     \
				if (A[(size_t)u * (size_t)n + (size_t)i] != 0 && !msgs[i])              \
					return -EINVAL;                                                 \
		for (int u = 0; u < m; u++) {                                                           \
			const double *Au = A + (size_t)u * (size_t)n;                                   \
			for (size_t t = 0; t < L && (size_t)u * L + t < d; t++) {                       \
				double v = 0;                                                           \
				for (int i = 0; i < n; i++)                                             \
					if (Au[i] != 0)                                                 \
						v += Au[i] * (double)msgs[i][t];                        \
				out[(size_t)u * L + t] = (T)v;                                          \
			}                                                                               \
		}                                                                                       \
		return 0;                                                                               \
	}

int pn_code_ce_combine(const pn_code *c, const double *A, const float *const *msgs, size_t d, float *out)
CE_COMBINE(float)
int pn_code_ce_combine_f64(const pn_code *c, const double *A, const double *const *msgs, size_t d, double *out)
CE_COMBINE(double)
