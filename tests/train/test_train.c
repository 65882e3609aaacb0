/* Training pieces: the IDX loader refuses bad files, the gradient matches finite
 * differences, and plain SGD on Fashion-MNIST lowers the loss. */
#include "pennant/train.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static void write_gz(const char *path, const void *buf, size_t n)
{
	gzFile f = gzopen(path, "wb");
	cr_assert(f);
	cr_assert_eq(gzwrite(f, buf, (unsigned)n), (int)n);
	gzclose(f);
}

static size_t idx_images(unsigned char *b, unsigned n, unsigned r, unsigned c)
{
	unsigned char h[16] = {0, 0, 8, 3, n >> 24, n >> 16, n >> 8, n, r >> 24, r >> 16, r >> 8, r,
			       c >> 24, c >> 16, c >> 8, c};
	memcpy(b, h, 16);
	for (size_t k = 0; k < (size_t)n * r * c; k++)
		b[16 + k] = (unsigned char)(k * 7);
	return 16 + (size_t)n * r * c;
}

static size_t idx_labels(unsigned char *b, unsigned n)
{
	unsigned char h[8] = {0, 0, 8, 1, n >> 24, n >> 16, n >> 8, n};
	memcpy(b, h, 8);
	for (unsigned k = 0; k < n; k++)
		b[8 + k] = (unsigned char)(k % 10);
	return 8 + n;
}

Test(idx, valid_files_load_and_bad_ones_are_refused)
{
	static unsigned char img[16 + 5 * 4 * 4], lab[8 + 5];
	char di[] = "/tmp/pn-idx-XXXXXX";
	cr_assert(mkdtemp(di));
	char pi[256], pl[256], err[512];
	snprintf(pi, sizeof pi, "%s/i.gz", di);
	snprintf(pl, sizeof pl, "%s/l.gz", di);
	size_t ni = idx_images(img, 5, 4, 4), nl = idx_labels(lab, 5);
	write_gz(pi, img, ni);
	write_gz(pl, lab, nl);
	pn_dataset ds;
	cr_assert_eq(pn_dataset_load_idx(pi, pl, &ds, err, sizeof err), 0, "%s", err);
	cr_expect_eq(ds.n, 5);
	cr_expect_eq(ds.dim, 16);
	cr_expect_eq(ds.classes, 5);
	cr_expect_float_eq(ds.x[1], 7.0f / 255.0f, 1e-7);
	pn_dataset_free(&ds);

	write_gz(pi, img, ni - 3); /* truncated data */
	cr_expect_neq(pn_dataset_load_idx(pi, pl, &ds, err, sizeof err), 0);
	cr_expect(strstr(err, "truncated") != NULL, "%s", err);
	img[3] = 2; /* wrong magic */
	write_gz(pi, img, ni);
	cr_expect_neq(pn_dataset_load_idx(pi, pl, &ds, err, sizeof err), 0);
	cr_expect(strstr(err, "IDX3") != NULL, "%s", err);
	img[3] = 3;
	write_gz(pi, img, ni);
	nl = idx_labels(lab, 4); /* count mismatch */
	write_gz(pl, lab, nl);
	cr_expect_neq(pn_dataset_load_idx(pi, pl, &ds, err, sizeof err), 0);
	cr_expect(strstr(err, "labels") != NULL, "%s", err);
	FILE *f = fopen(pi, "wb"); /* corrupt gzip */
	fputs("\x1f\x8bnot really gzip", f);
	fclose(f);
	cr_expect_neq(pn_dataset_load_idx(pi, pl, &ds, err, sizeof err), 0);
	cr_expect_neq(pn_fmnist_load("/nonexistent", 1, &ds, err, sizeof err), 0);
	cr_expect(strstr(err, "/nonexistent") != NULL, "%s", err);
	unlink(pi);
	unlink(pl);
	rmdir(di);
}

Test(model, gradient_matches_finite_differences)
{
	pn_model m;
	char err[128];
	cr_assert_eq(pn_model_from_spec(&m, "mlp:7,5", 6, 3, err, sizeof err), 0);
	cr_expect_eq(m.nparams, (size_t)(6 * 7 + 7 + 7 * 5 + 5 + 5 * 3 + 3));
	pn_dataset ds = {.n = 9, .dim = 6, .classes = 3};
	ds.x = malloc(sizeof(float) * 9 * 6);
	ds.y = malloc(9);
	for (int k = 0; k < 54; k++)
		ds.x[k] = (float)sin(k * 1.3);
	for (int k = 0; k < 9; k++)
		ds.y[k] = (uint8_t)(k % 3);
	int idx[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
	float *w = malloc(sizeof(float) * m.nparams), *g = malloc(sizeof(float) * m.nparams),
	      *scratch = malloc(sizeof(float) * m.nparams);
	pn_model_init_params(&m, w, 3);
	for (size_t k = 0; k < m.nparams; k++)
		w[k] += 0.05f * (float)cos((double)k); /* biases non-zero too */
	pn_model_ws *ws = pn_model_ws_new(&m, 4); /* several mini-batches per call */
	pn_model_grad(&m, w, &ds, idx, 9, g, ws);
	for (size_t k = 0; k < m.nparams; k += 3) {
		float keep = w[k];
		const float h = 1e-3f;
		w[k] = keep + h;
		double lp = pn_model_grad(&m, w, &ds, idx, 9, scratch, ws);
		w[k] = keep - h;
		double lm = pn_model_grad(&m, w, &ds, idx, 9, scratch, ws);
		w[k] = keep;
		double fd = (lp - lm) / (2 * h);
		cr_expect(fabs(fd - g[k]) < 2e-3 + 2e-2 * fabs(fd), "param %zu: fd %g vs grad %g", k, fd,
			  g[k]);
	}
	pn_model_ws_free(ws);
	free(w), free(g), free(scratch), free(ds.x), free(ds.y);
}

Test(model, sgd_on_fashion_mnist_lowers_the_loss)
{
	pn_dataset tr;
	char err[512];
	cr_assert_eq(pn_fmnist_load(PN_FMNIST_DIR, 0, &tr, err, sizeof err), 0,
		     "%s (package dataset-fashion-mnist)", err);
	pn_model m;
	cr_assert_eq(pn_model_from_spec(&m, "softmax", tr.dim, 10, err, sizeof err), 0);
	float *w = calloc(m.nparams, sizeof(float)), *v = calloc(m.nparams, sizeof(float)),
	      *g = malloc(sizeof(float) * m.nparams);
	pn_model_ws *ws = pn_model_ws_new(&m, 256);
	double acc0, loss0 = pn_model_eval(&m, w, &tr, &acc0, ws);
	pn_sgd o = {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4};
	int idx[64];
	uint64_t s = 5;
	for (int step = 0; step < 150; step++) {
		for (int k = 0; k < 64; k++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			idx[k] = (int)(s % (uint64_t)tr.n);
		}
		pn_model_grad(&m, w, &tr, idx, 64, g, ws);
		pn_sgd_step(&o, w, v, g, m.nparams);
	}
	double acc1, loss1 = pn_model_eval(&m, w, &tr, &acc1, ws);
	cr_expect_lt(loss1, 0.7 * loss0, "loss %g -> %g", loss0, loss1);
	cr_expect_gt(acc1, 0.65, "accuracy %g", acc1);
	pn_model_ws_free(ws);
	free(w), free(v), free(g);
	pn_dataset_free(&tr);
}

/* The checked step: the bits of pn_sgd_step, inputs untouched, NaN/Inf found in the
 * gradient (1) or in what the step makes (2), at any position (vector body and tail). */
Test(train, checked_step_is_the_sgd_step_and_finds_nonfinite)
{
	enum { n = 1000 + 13 };
	static float w[n], v[n], g[n], w2[n], v2[n], wo[n], vo[n], win[n], vin[n];
	for (int k = 0; k < n; k++) {
		w[k] = win[k] = sinf((float)k) * 3.0f;
		v[k] = vin[k] = cosf((float)k * 0.7f);
		g[k] = (float)(k % 17) - 8.0f;
	}
	pn_sgd o = {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3};
	memcpy(w2, w, sizeof w), memcpy(v2, v, sizeof v);
	pn_sgd_step(&o, w2, v2, g, n);
	cr_assert_eq(pn_sgd_step_checked(&o, w, v, g, wo, vo, n), 0);
	cr_expect_eq(memcmp(wo, w2, sizeof wo), 0, "params: the same bits as pn_sgd_step");
	cr_expect_eq(memcmp(vo, v2, sizeof vo), 0, "momentum: the same bits as pn_sgd_step");
	cr_expect_eq(memcmp(w, win, sizeof w), 0, "params_in untouched");
	cr_expect_eq(memcmp(v, vin, sizeof v), 0, "velocity_in untouched");
	const int at[] = {0, 7, 500, n - 1};
	for (size_t q = 0; q < sizeof at / sizeof *at; q++) {
		int k = at[q];
		float keep = g[k];
		g[k] = NAN;
		cr_expect_eq(pn_sgd_step_checked(&o, w, v, g, wo, vo, n), 1, "NaN gradient at %d", k);
		g[k] = -INFINITY;
		cr_expect_eq(pn_sgd_step_checked(&o, w, v, g, wo, vo, n), 1, "-Inf gradient at %d", k);
		g[k] = FLT_MAX; /* finite, but momentum + weight carry the step past FLT_MAX */
		float vk = v[k];
		v[k] = FLT_MAX;
		cr_expect_eq(pn_sgd_step_checked(&o, w, v, g, wo, vo, n), 2, "overflowing step at %d", k);
		v[k] = vk, g[k] = keep;
	}
	cr_expect_eq(pn_sgd_step_checked(&o, w, v, g, wo, vo, n), 0);
}
