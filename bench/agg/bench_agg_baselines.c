/* Same-run baselines for pennant-bench-agg: a multi-threaded memory-read loop, the Gram
 * pass through the engine's kernel split over threads, and the naive Flag route (LAPACK
 * SVD), plus the median/p99 summary of timing samples. */
#include "bench_agg.h"
#include "agg/agg_internal.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <time.h>
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

/* ---- float64 FMA peak: the compute roof of a float64 Gram pass ----
 * 12 independent FMA chains per thread (enough to cover the FMA latency on two ports),
 * widest vectors the CPU has; the result is summed so the loop is not optimised out. */
#define PEAK_CHAINS 12
#define PEAK_STEPS 20000000L

__attribute__((target("avx512f"))) static double peak_avx512(void)
{
	__m512d a[PEAK_CHAINS], m = _mm512_set1_pd(0.999999999), c = _mm512_set1_pd(1e-9);
	for (int i = 0; i < PEAK_CHAINS; i++)
		a[i] = _mm512_set1_pd(i);
	for (long k = 0; k < PEAK_STEPS; k++)
		_Pragma("GCC unroll 12") for (int i = 0; i < PEAK_CHAINS; i++)
			a[i] = _mm512_fmadd_pd(a[i], m, c);
	double s = 0;
	for (int i = 0; i < PEAK_CHAINS; i++)
		s += _mm512_reduce_add_pd(a[i]);
	return s;
}

__attribute__((target("avx2,fma"))) static double peak_avx2(void)
{
	__m256d a[PEAK_CHAINS], m = _mm256_set1_pd(0.999999999), c = _mm256_set1_pd(1e-9);
	for (int i = 0; i < PEAK_CHAINS; i++)
		a[i] = _mm256_set1_pd(i);
	for (long k = 0; k < PEAK_STEPS; k++)
		_Pragma("GCC unroll 12") for (int i = 0; i < PEAK_CHAINS; i++)
			a[i] = _mm256_fmadd_pd(a[i], m, c);
	double s = 0, t[4];
	for (int i = 0; i < PEAK_CHAINS; i++) {
		_mm256_storeu_pd(t, a[i]);
		s += t[0] + t[1] + t[2] + t[3];
	}
	return s;
}

static double peak_scalar(void)
{
	double a[PEAK_CHAINS], s = 0;
	for (int i = 0; i < PEAK_CHAINS; i++)
		a[i] = i;
	for (long k = 0; k < PEAK_STEPS; k++)
		for (int i = 0; i < PEAK_CHAINS; i++)
			a[i] = fma(a[i], 0.999999999, 1e-9);
	for (int i = 0; i < PEAK_CHAINS; i++)
		s += a[i];
	return s;
}

static int peak_lanes(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") ? 8 : __builtin_cpu_supports("avx2") &&
							       __builtin_cpu_supports("fma")
							   ? 4
							   : 1;
}

static void *peak_run(void *arg)
{
	int lanes = peak_lanes();
	*(double *)arg = lanes == 8 ? peak_avx512() : lanes == 4 ? peak_avx2() : peak_scalar();
	return NULL;
}

double fma_peak_gflops(int threads)
{
	if (threads < 1)
		threads = 1;
	pthread_t tid[MAX_THREADS];
	double sink[MAX_THREADS];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int t = 1; t < threads; t++)
		pthread_create(&tid[t], NULL, peak_run, &sink[t]);
	peak_run(&sink[0]);
	for (int t = 1; t < threads; t++)
		pthread_join(tid[t], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
	volatile double keep = sink[0];
	(void)keep;
	return 2.0 * PEAK_CHAINS * peak_lanes() * (double)PEAK_STEPS * threads / s / 1e9;
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
