#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a,
		    const int *lda, double *s, double *u, const int *ldu, double *vt,
		    const int *ldvt, double *work, const int *lwork, int *info, size_t, size_t);

uint64_t rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double rng_uniform(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

double rng_normal(uint64_t *s)
{
	double u = rng_uniform(s), v = rng_uniform(s);
	return sqrt(-2.0 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

float *make_gradients(int p, size_t d, double sigma, uint64_t seed, float *center)
{
	float *x = malloc(sizeof(float) * (size_t)p * d);
	uint64_t s = seed;
	for (size_t c = 0; c < d; c++)
		center[c] = (float)rng_normal(&s);
	for (int i = 0; i < p; i++)
		for (size_t c = 0; c < d; c++)
			x[(size_t)i * d + c] = center[c] + (float)(sigma * rng_normal(&s));
	return x;
}

double rel_err(const float *a, const float *b, size_t d)
{
	double num = 0, den = 0;
	for (size_t c = 0; c < d; c++) {
		num += ((double)a[c] - b[c]) * ((double)a[c] - b[c]);
		den += (double)b[c] * b[c];
	}
	return sqrt(num / (den > 0 ? den : 1));
}

double cosine(const float *a, const float *b, size_t d)
{
	double ab = 0, aa = 0, bb = 0;
	for (size_t c = 0; c < d; c++) {
		ab += (double)a[c] * b[c];
		aa += (double)a[c] * a[c];
		bb += (double)b[c] * b[c];
	}
	return ab / sqrt(aa * bb);
}

double max_rel_diff(const float *a, const float *b, size_t d)
{
	double m = 0, scale = 0;
	for (size_t c = 0; c < d; c++)
		scale = fmax(scale, fabs(b[c]));
	for (size_t c = 0; c < d; c++)
		m = fmax(m, fabs((double)a[c] - b[c]));
	return m / fmax(scale, 1e-30);
}

static int cmp_f(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

static double g_center;
static int cmp_dist(const void *a, const void *b)
{
	double x = fabs(*(const float *)a - g_center), y = fabs(*(const float *)b - g_center);
	return (x > y) - (x < y);
}

static double mean_of_closest(float *v, int k, double center, int want)
{
	g_center = center;
	qsort(v, (size_t)k, sizeof *v, cmp_dist);
	double s = 0;
	for (int i = 0; i < want; i++)
		s += v[i];
	return s / want;
}

/* The naive references keep their scratch on the stack with a fixed bound. */
static void naive_check_p(int p)
{
	if (p < 0 || p > NAIVE_MAX_P) {
		fprintf(stderr, "naive reference: p=%d exceeds NAIVE_MAX_P=%d\n", p, NAIVE_MAX_P);
		abort();
	}
}

void naive_coordinate(pn_rule rule, const float *x, int p, size_t d, int f, int trim, float *out)
{
	naive_check_p(p);
	float v[NAIVE_MAX_P];
	for (size_t c = 0; c < d; c++) {
		for (int i = 0; i < p; i++)
			v[i] = x[(size_t)i * d + c];
		qsort(v, (size_t)p, sizeof *v, cmp_f);
		double med = (p & 1) ? v[p / 2] : 0.5 * ((double)v[p / 2 - 1] + v[p / 2]);
		double tm = 0;
		for (int i = trim; i < p - trim; i++)
			tm += v[i];
		tm /= (p - 2 * trim);
		double r = 0;
		switch (rule) {
		case PN_RULE_MEAN:
			for (int i = 0; i < p; i++)
				r += v[i];
			r /= p;
			break;
		case PN_RULE_MEDIAN: r = med; break;
		case PN_RULE_TRIMMED_MEAN: r = tm; break;
		case PN_RULE_MEAMED: r = mean_of_closest(v, p, med, p - f); break;
		case PN_RULE_PHOCAS: r = mean_of_closest(v, p, tm, p - f); break;
		default: abort();
		}
		out[c] = (float)r;
	}
}

static double dist2(const float *a, const float *b, size_t d)
{
	double s = 0;
	for (size_t c = 0; c < d; c++)
		s += ((double)a[c] - b[c]) * ((double)a[c] - b[c]);
	return s;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Krum scores of the members of set (n of them) within the set. */
static void krum_scores(const float *x, size_t d, const int *set, int n, int nb, double *score)
{
	double t[NAIVE_MAX_P];
	for (int a = 0; a < n; a++) {
		int m = 0;
		for (int b = 0; b < n; b++)
			if (b != a)
				t[m++] = dist2(x + (size_t)set[a] * d, x + (size_t)set[b] * d, d);
		qsort(t, (size_t)m, sizeof *t, cmp_d);
		score[a] = 0;
		for (int q = 0; q < nb && q < m; q++)
			score[a] += t[q];
	}
}

int naive_krum_select(const float *x, int p, size_t d, int f, int m, int *chosen)
{
	naive_check_p(p);
	if (p < 1)
		return 0;
	int set[NAIVE_MAX_P];
	double sc[NAIVE_MAX_P];
	for (int i = 0; i < p; i++)
		set[i] = i;
	krum_scores(x, d, set, p, p - f - 2, sc);
	int used[NAIVE_MAX_P];
	memset(used, 0, sizeof used);
	for (int q = 0; q < m; q++) {
		int best = -1;
		for (int i = 0; i < p; i++)
			if (!used[i] && (best < 0 || sc[i] < sc[best]))
				best = i;
		used[best] = 1;
		chosen[q] = best;
	}
	return m;
}

void naive_multi_krum(const float *x, int p, size_t d, int f, int m, float *out)
{
	naive_check_p(p);
	int ch[NAIVE_MAX_P];
	naive_krum_select(x, p, d, f, m, ch);
	for (size_t c = 0; c < d; c++) {
		double s = 0;
		for (int q = 0; q < m; q++)
			s += x[(size_t)ch[q] * d + c];
		out[c] = (float)(s / m);
	}
}

void naive_bulyan(const float *x, int p, size_t d, int f, float *out)
{
	naive_check_p(p);
	if (p < 1)
		return;
	int theta = p - 2 * f, beta = theta - 2 * f;
	int rest[NAIVE_MAX_P], n = p, sel[NAIVE_MAX_P];
	for (int i = 0; i < p; i++)
		rest[i] = i;
	for (int q = 0; q < theta; q++) {
		double sc[NAIVE_MAX_P];
		int nb = n - f - 2 > 1 ? n - f - 2 : 1;
		krum_scores(x, d, rest, n, nb, sc);
		int best = 0;
		for (int a = 1; a < n; a++)
			if (sc[a] < sc[best])
				best = a;
		sel[q] = rest[best];
		rest[best] = rest[--n];
	}
	float v[NAIVE_MAX_P];
	for (size_t c = 0; c < d; c++) {
		for (int q = 0; q < theta; q++)
			v[q] = x[(size_t)sel[q] * d + c];
		qsort(v, (size_t)theta, sizeof *v, cmp_f);
		double med = (theta & 1) ? v[theta / 2] : 0.5 * ((double)v[theta / 2 - 1] + v[theta / 2]);
		out[c] = (float)mean_of_closest(v, theta, med, beta);
	}
}

void naive_geomed(const float *x, int p, size_t d, int iters, float *out)
{
	double *z = calloc(d, sizeof *z), *nz = calloc(d, sizeof *nz);
	for (int i = 0; i < p; i++)
		for (size_t c = 0; c < d; c++)
			z[c] += x[(size_t)i * d + c] / (double)p;
	for (int it = 0; it < iters; it++) {
		double wsum = 0;
		memset(nz, 0, d * sizeof *nz);
		for (int i = 0; i < p; i++) {
			double s = 0;
			for (size_t c = 0; c < d; c++)
				s += (z[c] - x[(size_t)i * d + c]) * (z[c] - x[(size_t)i * d + c]);
			double w = 1.0 / fmax(sqrt(s), 1e-12);
			wsum += w;
			for (size_t c = 0; c < d; c++)
				nz[c] += w * x[(size_t)i * d + c];
		}
		for (size_t c = 0; c < d; c++)
			z[c] = nz[c] / wsum;
	}
	for (size_t c = 0; c < d; c++)
		out[c] = (float)z[c];
	free(z);
	free(nz);
}

/* Top-r left singular vectors of the d×K column-major matrix A, into Y (d×r col-major). */
static void top_left_sv(double *A, int d, int K, int r, double *Y)
{
	int mn = d < K ? d : K, lwork = -1, info = 0;
	double *s = malloc(sizeof(double) * mn), *U = malloc(sizeof(double) * (size_t)d * mn), wq;
	double vt;
	int one = 1;
	dgesvd_("S", "N", &d, &K, A, &d, s, U, &d, &vt, &one, &wq, &lwork, &info, 1, 1);
	lwork = (int)wq;
	double *work = malloc(sizeof(double) * lwork);
	dgesvd_("S", "N", &d, &K, A, &d, s, U, &d, &vt, &one, work, &lwork, &info, 1, 1);
	memcpy(Y, U, sizeof(double) * (size_t)d * r);
	free(s), free(U), free(work);
}

/* ‖Yᵀv‖² for col-major Y (d×r). */
static double proj2(const double *Y, int d, int r, const double *v)
{
	double t = 0;
	for (int c = 0; c < r; c++) {
		double s = 0;
		for (int q = 0; q < d; q++)
			s += Y[(size_t)c * d + q] * v[q];
		t += s * s;
	}
	return t;
}

/* out = x_i - x_j over the d coordinates of the row-major p×d matrix xn. */
static void row_diff(const double *xn, int d, int i, int j, double *out)
{
	for (int q = 0; q < d; q++)
		out[q] = xn[(size_t)i * d + q] - xn[(size_t)j * d + q];
}

int naive_flag(const float *x, int p, size_t dd, int r, double lambda, int converged,
	       int max_iters, double tol, float *out)
{
	naive_check_p(p);
	int d = (int)dd;
	int K = p + (lambda > 0 ? p * (p - 1) : 0);
	double *xn = malloc(sizeof(double) * (size_t)p * d), *A = malloc(sizeof(double) * (size_t)d * K);
	double *Y = malloc(sizeof(double) * (size_t)d * r), *Yb = malloc(sizeof(double) * (size_t)d * r);
	double *diff = malloc(sizeof(double) * d);
	double wi[NAIVE_MAX_P], wij[NAIVE_MAX_P * NAIVE_MAX_P];
	for (int i = 0; i < p; i++) {
		double n = 0;
		for (int q = 0; q < d; q++)
			n += (double)x[(size_t)i * d + q] * x[(size_t)i * d + q];
		n = sqrt(n);
		for (int q = 0; q < d; q++)
			xn[(size_t)i * d + q] = x[(size_t)i * d + q] / n;
		wi[i] = pow(1 + 1e-7, -0.25);
	}
	for (int i = 0; i < p * p; i++)
		wij[i] = lambda / (p * (p - 1.0)) * pow(1 + 1e-7, -0.25);
	double best = p;
	int iters = 0, cap = converged ? max_iters : 1;
	for (int it = 0; it < cap; it++) {
		int col = 0;
		for (int i = 0; i < p; i++, col++)
			for (int q = 0; q < d; q++)
				A[(size_t)col * d + q] = wi[i] * xn[(size_t)i * d + q];
		if (lambda > 0)
			for (int i = 0; i < p; i++)
				for (int j = 0; j < p; j++) {
					if (i == j)
						continue;
					double *a = A + (size_t)col * d;
					row_diff(xn, d, i, j, a);
					for (int q = 0; q < d; q++)
						a[q] *= wij[i * p + j];
					col++;
				}
		top_left_sv(A, d, K, r, Y);
		double E = 0, pr[NAIVE_MAX_P];
		for (int i = 0; i < p; i++) {
			pr[i] = proj2(Y, d, r, xn + (size_t)i * d);
			E += sqrt(fmax(0, 1 - pr[i]));
		}
		if (it > 0 && !(E < best))
			break;
		double prev = best;
		best = E;
		iters = it + 1;
		memcpy(Yb, Y, sizeof(double) * (size_t)d * r);
		if (prev - E <= tol * prev)
			break;
		for (int i = 0; i < p; i++)
			wi[i] = pow(fabs(1 - pr[i]) + 1e-7, -0.25);
		if (lambda > 0)
			for (int i = 0; i < p; i++)
				for (int j = 0; j < p; j++) {
					if (i == j)
						continue;
					row_diff(xn, d, i, j, diff);
					wij[i * p + j] = lambda / (p * (p - 1.0)) *
							 pow(fabs(1 - proj2(Y, d, r, diff)) + 1e-7, -0.25);
				}
	}
	/* output (1/r) Σ_i Y Yᵀ x_i */
	double *acc = calloc((size_t)d, sizeof *acc);
	for (int i = 0; i < p; i++)
		for (int c = 0; c < r; c++) {
			double s = 0;
			for (int q = 0; q < d; q++)
				s += Yb[(size_t)c * d + q] * xn[(size_t)i * d + q];
			for (int q = 0; q < d; q++)
				acc[q] += s * Yb[(size_t)c * d + q];
		}
	for (int q = 0; q < d; q++)
		out[q] = (float)(acc[q] / r);
	free(acc), free(xn), free(A), free(Y), free(Yb), free(diff);
	return iters;
}

const char *const magnitude_case_name[MAGNITUDE_CASES] = {
	"subnormal row 0", "all-zero row 0", "tiny 1e-30 rows", "huge 1e30 rows", "huge 1e38 rows",
	"mixed magnitudes"};

void magnitude_case(int which, int p, int d, float *x)
{
	uint64_t r = 5 + (uint64_t)which;
	for (int i = 0; i < p; i++)
		for (int c = 0; c < d; c++)
			x[i * d + c] = (float)(1.0 + 0.3 * rng_normal(&r));
	switch (which) {
	case MAG_SUBNORMAL_ROW:
		for (int c = 0; c < d; c++)
			x[c] = 1e-44f; /* row 0 all 1e-44 */
		break;
	case MAG_ZERO_ROW:
		memset(x, 0, sizeof(float) * (size_t)d);
		break;
	case MAG_TINY_ROWS:
		for (int k = 0; k < p * d; k++)
			x[k] *= 1e-30f;
		break;
	case MAG_HUGE_ROWS:
		for (int k = 0; k < p * d; k++)
			x[k] *= 1e30f;
		break;
	case MAG_HUGEST_ROWS:
		for (int k = 0; k < p * d; k++)
			x[k] = x[k] > 0 ? 1e38f * fminf(x[k], 2.0f) : -1e38f;
		break;
	case MAG_MIXED:
		for (int i = 0; i < p; i++)
			for (int c = 0; c < d; c++)
				x[i * d + c] *= (float)pow(10.0, (i % 4) * 20.0 - 30.0) * (i & 1 ? 1.0f : 1e-8f);
		x[3 * d] = 1e-45f; /* one denormal element */
		break;
	default:
		break;
	}
}

size_t npy_image(unsigned char *buf, const char *dict, const void *data, size_t dlen, int version)
{
	size_t n = strlen(dict), pre = version == 1 ? 10 : 12;
	size_t hlen = n + 1;
	memcpy(buf, "\x93NUMPY", 6);
	buf[6] = (unsigned char)version;
	buf[7] = 0;
	buf[8] = (unsigned char)(hlen & 0xff);
	buf[9] = (unsigned char)(hlen >> 8);
	if (version != 1)
		buf[10] = buf[11] = 0;
	memcpy(buf + pre, dict, n);
	buf[pre + n] = '\n';
	memcpy(buf + pre + hlen, data, dlen);
	return pre + hlen + dlen;
}

const struct npy_bad_case npy_bad_cases[] = {
	{"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 24, "dtype"},
	{"{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }", 24, "dtype"},
	{"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, "Fortran"},
	{"{'descr': '<f4', 'fortran_order': False, }", 24, "header"},
	{"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", 24, "shape"},
	{"{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }", 24, "truncated"},
	{"{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", 24, "trailing"},
};
const size_t npy_bad_case_count = sizeof npy_bad_cases / sizeof *npy_bad_cases;

const char *npy_temp_path(void)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/pn-npy-test-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	close(fd);
	return path;
}

void grad_set_make(grad_set *g, int p, size_t d, double sigma, uint64_t seed)
{
	if (p < 1 || p > NAIVE_MAX_P)
		abort();
	g->p = p;
	g->d = d;
	g->center = malloc(sizeof(float) * d);
	g->x = make_gradients(p, d, sigma, seed, g->center);
	g->ref = malloc(sizeof(float) * d);
	g->out = malloc(sizeof(float) * d);
	if (!g->center || !g->x || !g->ref || !g->out)
		abort();
	for (int i = 0; i < p; i++)
		g->rows[i] = g->x + (size_t)i * d;
}

void grad_set_free(grad_set *g)
{
	free(g->center), free(g->x), free(g->ref), free(g->out);
}

pn_agg_config agg_config(int p, size_t d, pn_rule rule, int f, int r, int threads)
{
	pn_agg_config cfg;
	pn_agg_config_init(&cfg, p, d, rule);
	cfg.f = f;
	cfg.r = r;
	cfg.threads = threads;
	return cfg;
}
