/* Shared helpers for the runtime tests: deterministic data and naive reference rules
 * computed directly from the d-dimensional vectors (no Gram matrix, no blocking). */
#ifndef PN_TEST_RUNTIME_HELPERS_H
#define PN_TEST_RUNTIME_HELPERS_H

#define NAIVE_MAX_P 64 /* largest p the naive reference rules accept */

#include "pennant/agg.h"

#include <stddef.h>
#include <stdint.h>

uint64_t rng_next(uint64_t *s);
double rng_uniform(uint64_t *s);              /* [0, 1) */
double rng_normal(uint64_t *s);

/* p×d rows: honest_center + sigma·noise for every row. center gets N(0,1) entries. */
float *make_gradients(int p, size_t d, double sigma, uint64_t seed, float *center);

/* A test's data set: p×d gradients (sigma around a N(0,1) center) with their rows, and
 * two d-vectors for the results under test (out) and the reference (ref). */
typedef struct grad_set {
	int p;
	size_t d;
	float *center, *x, *ref, *out;
	float *rows[NAIVE_MAX_P]; /* rows[i] = x + i·d (p <= NAIVE_MAX_P) */
} grad_set;
void grad_set_make(grad_set *g, int p, size_t d, double sigma, uint64_t seed);
void grad_set_free(grad_set *g);
/* pn_agg_config_init plus the knobs most tests set. */
pn_agg_config agg_config(int p, size_t d, pn_rule rule, int f, int r, int threads);

double rel_err(const float *a, const float *b, size_t d);  /* ‖a-b‖/‖b‖ */
double cosine(const float *a, const float *b, size_t d);
/* Max |a-b| / max(1, max|b|) style comparison used for "same result" checks. */
double max_rel_diff(const float *a, const float *b, size_t d);

/* Naive references. x is row-major p×d. */
void naive_coordinate(pn_rule rule, const float *x, int p, size_t d, int f, int trim, float *out);
int naive_krum_select(const float *x, int p, size_t d, int f, int m, int *chosen);
void naive_multi_krum(const float *x, int p, size_t d, int f, int m, float *out);
void naive_bulyan(const float *x, int p, size_t d, int f, float *out);
void naive_geomed(const float *x, int p, size_t d, int iters, float *out);
/* Flag via the d×K matrix and a LAPACK SVD (the "naive route"). Returns iterations. */
int naive_flag(const float *x, int p, size_t d, int r, double lambda, int converged,
	       int max_iters, double tol, float *out);

/* Finite inputs of extreme magnitude (p×d into x), shared by the library and tool tests. */
enum magnitude_case_id {
	MAG_SUBNORMAL_ROW, MAG_ZERO_ROW, MAG_TINY_ROWS, MAG_HUGE_ROWS, MAG_HUGEST_ROWS, MAG_MIXED,
	MAGNITUDE_CASES
};
extern const char *const magnitude_case_name[MAGNITUDE_CASES];
void magnitude_case(int which, int p, int d, float *x);

/* A .npy image (format version 1 or 2) with a header of exactly the dict given (plus
 * '\n') followed by dlen bytes of data. Returns its size. */
size_t npy_image(unsigned char *buf, const char *dict, const void *data, size_t dlen, int version);
/* Malformed .npy headers, each with a word its error message must contain; shared by the
 * copying reader's and the mapped reader's tests so both reject the same files. */
struct npy_bad_case {
	const char *dict;
	size_t dlen;
	const char *expect;
};
extern const struct npy_bad_case npy_bad_cases[];
extern const size_t npy_bad_case_count;
/* A fresh empty file under /tmp for a .npy test (path in a static buffer), or NULL. */
const char *npy_temp_path(void);

#endif
