/* Same-run baselines for pennant-bench-agg: a multi-threaded memory-read loop, the Gram
 * pass through the engine's kernel split over threads, and the naive Flag route (LAPACK
 * SVD), plus the median/p99 summary of timing samples. */
#include "bench_agg.h"
#include "agg/agg_internal.h"

#include <cblas.h>
#include <pthread.h>
#include <string.h>

extern void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a,
		    const int *lda, double *s, double *u, const int *ldu, double *vt,
		    const int *ldvt, double *work, const int *lwork, int *info, size_t, size_t);

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

stats summarize(double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, cmp_d);
	stats s = {t[n / 2], t[(int)ceil(0.99 * n) - 1 < n ? (int)ceil(0.99 * n) - 1 : n - 1]};
	return s;
}

/* ---- memory-read baseline: sum every float, split over threads ---- */
typedef struct read_job {
	const float *x;
	size_t n;
	double sum;
} read_job;

__attribute__((target_clones("avx512f", "avx2", "default"))) static float sum_floats(const float *x,
										       size_t n)
{
	float acc[16] = {0};
	size_t c = 0;
	for (; c + 16 <= n; c += 16)
		for (int l = 0; l < 16; l++)
			acc[l] += x[c + l];
	float s = 0;
	for (int l = 0; l < 16; l++)
		s += acc[l];
	for (; c < n; c++)
		s += x[c];
	return s;
}

static void *read_range(void *arg)
{
	read_job *j = arg;
	j->sum = sum_floats(j->x, j->n);
	return NULL;
}

double read_all(const float *x, size_t n, int threads)
{
	if (threads < 1)
		threads = 1;
	pthread_t tid[MAX_THREADS];
	read_job job[MAX_THREADS];
	size_t per = n / (size_t)threads;
	for (int t = 0; t < threads; t++) {
		job[t] = (read_job){x + (size_t)t * per, t == threads - 1 ? n - (size_t)t * per : per, 0};
		if (t)
			pthread_create(&tid[t], NULL, read_range, &job[t]);
	}
	read_range(&job[0]);
	double s = job[0].sum;
	for (int t = 1; t < threads; t++) {
		pthread_join(tid[t], NULL);
		s += job[t].sum;
	}
	return s;
}

/* ---- Gram pass through the engine's kernel, split like the engine splits it ---- */
typedef struct gram_job {
	const float *x;
	int p;
	size_t d, b0, b1;
	double *G;
} gram_job;

static void *gram_range(void *arg)
{
	gram_job *j = arg;
	const float *rows[PN_BENCH_MAX_P];
	for (size_t b = j->b0; b < j->b1; b += PN_AGG_BLOCK) {
		size_t n = j->b1 - b < PN_AGG_BLOCK ? j->b1 - b : PN_AGG_BLOCK;
		for (int i = 0; i < j->p; i++)
			rows[i] = j->x + (size_t)i * j->d + b;
		pn_gram_block(rows, j->p, n, j->G);
	}
	return NULL;
}

void gram_threads(const float *x, int p, size_t d, int threads, double *G)
{
	if (threads < 1)
		threads = 1;
	pthread_t tid[MAX_THREADS];
	gram_job job[MAX_THREADS];
	size_t blocks = (d + PN_AGG_BLOCK - 1) / PN_AGG_BLOCK, per = (blocks + threads - 1) / threads;
	for (int t = 0; t < threads; t++) {
		size_t b0 = (size_t)t * per * PN_AGG_BLOCK, b1 = b0 + per * PN_AGG_BLOCK;
		if (b0 > d)
			b0 = d;
		if (b1 > d)
			b1 = d;
		job[t] = (gram_job){x, p, d, b0, b1, calloc((size_t)p * p, sizeof(double))};
		if (t)
			pthread_create(&tid[t], NULL, gram_range, &job[t]);
	}
	gram_range(&job[0]);
	memcpy(G, job[0].G, sizeof(double) * p * p);
	free(job[0].G);
	for (int t = 1; t < threads; t++) {
		pthread_join(tid[t], NULL);
		for (int k = 0; k < p * p; k++)
			G[k] += job[t].G[k];
		free(job[t].G);
	}
}

/* ---- naive Flag: normalize, d×p SVD, (1/r) Σ Y Yᵀ x_i ---- */
void naive_flag(const float *x, int p, size_t d, int r, double *A, float *out)
{
	int m = (int)d, n = p, lwork = -1, info = 0, one = 1;
	for (int i = 0; i < p; i++) {
		double s = 0;
		for (size_t c = 0; c < d; c++)
			s += (double)x[(size_t)i * d + c] * x[(size_t)i * d + c];
		double inv = 1.0 / sqrt(s);
		for (size_t c = 0; c < d; c++)
			A[(size_t)i * d + c] = x[(size_t)i * d + c] * inv;
	}
	double *U = malloc(sizeof(double) * d * p), *sv = malloc(sizeof(double) * (size_t)p), vt, wq;
	double *Acopy = malloc(sizeof(double) * d * p);
	memcpy(Acopy, A, sizeof(double) * d * p);
	dgesvd_("S", "N", &m, &n, Acopy, &m, sv, U, &m, &vt, &one, &wq, &lwork, &info, 1, 1);
	lwork = (int)wq;
	double *work = malloc(sizeof(double) * lwork);
	dgesvd_("S", "N", &m, &n, Acopy, &m, sv, U, &m, &vt, &one, work, &lwork, &info, 1, 1);
	/* s = Yᵀ Σ x_i, out = Y s / r */
	double sum_c[64];
	for (int c = 0; c < r; c++) {
		double s = 0;
		for (int i = 0; i < p; i++)
			s += cblas_ddot(m, U + (size_t)c * d, 1, A + (size_t)i * d, 1);
		sum_c[c] = s;
	}
	for (size_t q = 0; q < d; q++) {
		double v = 0;
		for (int c = 0; c < r; c++)
			v += U[(size_t)c * d + q] * sum_c[c];
		out[q] = (float)(v / r);
	}
	free(U), free(Acopy), free(work), free(sv);
}
