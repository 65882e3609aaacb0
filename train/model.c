/* Dense models on OpenBLAS: forward, backward (mean cross-entropy), evaluation. */
#include "pennant/train.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pn_model_ws {
	int max_batch;
	float *act[PN_MODEL_MAX_LAYERS + 1]; /* activations per layer (batch × dims[l]) */
	float *delta[2];                     /* ping-pong buffers for back-propagated errors */
	float *xbatch;                       /* gathered inputs */
};

int pn_model_from_spec(pn_model *m, const char *spec, int inputs, int classes, char *err,
		       size_t errlen)
{
	memset(m, 0, sizeof *m);
	int hidden[PN_MODEL_MAX_LAYERS], nh = 0;
	if (strcmp(spec, "softmax") == 0) {
		nh = 0;
	} else if (strcmp(spec, "mlp") == 0) {
		hidden[0] = 256;
		hidden[1] = 128;
		nh = 2;
	} else if (strncmp(spec, "mlp:", 4) == 0) {
		const char *s = spec + 4;
		while (*s) {
			char *end;
			long h = strtol(s, &end, 10);
			if (end == s || h < 1 || h > 65536 || nh == PN_MODEL_MAX_LAYERS - 1 ||
			    (*end && *end != ',')) {
				snprintf(err, errlen, "bad model spec '%s' (e.g. mlp:256,128)", spec);
				return -EINVAL;
			}
			hidden[nh++] = (int)h;
			s = *end ? end + 1 : end;
		}
	} else {
		snprintf(err, errlen, "unknown model '%s' (softmax, mlp, mlp:H1,H2,...)", spec);
		return -EINVAL;
	}
	m->layers = nh + 1;
	m->dims[0] = inputs;
	for (int i = 0; i < nh; i++)
		m->dims[i + 1] = hidden[i];
	m->dims[m->layers] = classes;
	size_t off = 0;
	for (int l = 0; l < m->layers; l++) {
		m->w_off[l] = off;
		off += (size_t)m->dims[l + 1] * m->dims[l];
		m->b_off[l] = off;
		off += (size_t)m->dims[l + 1];
	}
	m->nparams = off;
	return 0;
}

void pn_model_describe(const pn_model *m, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s ", m->layers == 1 ? "softmax" : "mlp");
	for (int l = 0; l <= m->layers && n > 0 && (size_t)n < len; l++)
		n += snprintf(buf + n, len - (size_t)n, "%s%d", l ? "-" : "", m->dims[l]);
	if (n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " (%zu parameters)", m->nparams);
}

void pn_model_init_params(const pn_model *m, float *params, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	for (int l = 0; l < m->layers; l++) {
		size_t nw = (size_t)m->dims[l + 1] * m->dims[l];
		double scale = sqrt(2.0 / m->dims[l]);
		for (size_t k = 0; k < nw; k++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			double u1 = ((s >> 11) + 1) * 0x1.0p-53;
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			double u2 = (s >> 11) * 0x1.0p-53;
			double g = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
			params[m->w_off[l] + k] = (float)(scale * g * (l == m->layers - 1 ? 0.5 : 1.0));
		}
		memset(params + m->b_off[l], 0, sizeof(float) * m->dims[l + 1]);
	}
}

pn_model_ws *pn_model_ws_new(const pn_model *m, int max_batch)
{
	pn_model_ws *ws = calloc(1, sizeof *ws);
	if (!ws)
		return NULL;
	ws->max_batch = max_batch;
	int widest = 0;
	for (int l = 0; l <= m->layers; l++) {
		ws->act[l] = malloc(sizeof(float) * (size_t)max_batch * m->dims[l]);
		if (!ws->act[l]) {
			pn_model_ws_free(ws);
			return NULL;
		}
		widest = m->dims[l] > widest ? m->dims[l] : widest;
	}
	for (int k = 0; k < 2; k++)
		ws->delta[k] = malloc(sizeof(float) * (size_t)max_batch * widest);
	if (!ws->delta[0] || !ws->delta[1]) {
		pn_model_ws_free(ws);
		return NULL;
	}
	return ws;
}

void pn_model_ws_free(pn_model_ws *ws)
{
	if (!ws)
		return;
	for (int l = 0; l <= PN_MODEL_MAX_LAYERS; l++)
		free(ws->act[l]);
	free(ws->delta[0]);
	free(ws->delta[1]);
	free(ws);
}

/* Forward pass for a batch already gathered into ws->act[0]; leaves softmax
 * probabilities in ws->act[layers]. */
static void forward(const pn_model *m, const float *params, int B, pn_model_ws *ws)
{
	for (int l = 0; l < m->layers; l++) {
		int in = m->dims[l], out = m->dims[l + 1];
		float *z = ws->act[l + 1];
		const float *b = params + m->b_off[l];
		for (int r = 0; r < B; r++)
			memcpy(z + (size_t)r * out, b, sizeof(float) * out);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, in, 1.0f, ws->act[l], in,
			    params + m->w_off[l], in, 1.0f, z, out);
		if (l < m->layers - 1) {
			for (size_t k = 0; k < (size_t)B * out; k++)
				z[k] = z[k] > 0 ? z[k] : 0;
		} else {
			for (int r = 0; r < B; r++) {
				float *row = z + (size_t)r * out, mx = row[0];
				for (int c = 1; c < out; c++)
					mx = row[c] > mx ? row[c] : mx;
				double s = 0;
				for (int c = 0; c < out; c++)
					s += (row[c] = expf(row[c] - mx));
				for (int c = 0; c < out; c++)
					row[c] = (float)(row[c] / s);
			}
		}
	}
}

static void gather(const pn_dataset *ds, const int *idx, int B, float *dst)
{
	for (int r = 0; r < B; r++)
		memcpy(dst + (size_t)r * ds->dim, ds->x + (size_t)idx[r] * ds->dim, sizeof(float) * ds->dim);
}

double pn_model_grad(const pn_model *m, const float *params, const pn_dataset *ds, const int *idx,
		     int n, float *grad, pn_model_ws *ws)
{
	double loss = 0;
	memset(grad, 0, sizeof(float) * m->nparams);
	for (int start = 0; start < n; start += ws->max_batch) {
		int B = n - start < ws->max_batch ? n - start : ws->max_batch;
		gather(ds, idx + start, B, ws->act[0]);
		forward(m, params, B, ws);
		int L = m->layers, C = m->dims[L];
		float *d = ws->delta[0];
		const float *prob = ws->act[L];
		/* dLoss/dz for mean CE over all n examples: (p - onehot)/n */
		for (int r = 0; r < B; r++) {
			int y = ds->y[idx[start + r]];
			loss -= log(fmax(prob[(size_t)r * C + y], 1e-30));
			for (int c = 0; c < C; c++)
				d[(size_t)r * C + c] = (prob[(size_t)r * C + c] - (c == y)) / (float)n;
		}
		for (int l = L - 1; l >= 0; l--) {
			int in = m->dims[l], out = m->dims[l + 1];
			/* dW += dᵀ A, db += column sums of d */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1.0f, d, out,
				    ws->act[l], in, 1.0f, grad + m->w_off[l], in);
			float *gb = grad + m->b_off[l];
			for (int r = 0; r < B; r++)
				for (int c = 0; c < out; c++)
					gb[c] += d[(size_t)r * out + c];
			if (l == 0)
				break;
			float *dn = d == ws->delta[0] ? ws->delta[1] : ws->delta[0];
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, out, 1.0f, d, out,
				    params + m->w_off[l], in, 0.0f, dn, in);
			const float *a = ws->act[l]; /* ReLU'(z) = [a > 0] */
			for (size_t k = 0; k < (size_t)B * in; k++)
				if (a[k] <= 0)
					dn[k] = 0;
			d = dn;
		}
	}
	return loss / n;
}

double pn_model_eval(const pn_model *m, const float *params, const pn_dataset *ds, double *accuracy,
		     pn_model_ws *ws)
{
	double loss = 0;
	long correct = 0;
	int idx[ws->max_batch];
	for (int start = 0; start < ds->n; start += ws->max_batch) {
		int B = ds->n - start < ws->max_batch ? ds->n - start : ws->max_batch;
		for (int r = 0; r < B; r++)
			idx[r] = start + r;
		gather(ds, idx, B, ws->act[0]);
		forward(m, params, B, ws);
		int C = m->dims[m->layers];
		const float *prob = ws->act[m->layers];
		for (int r = 0; r < B; r++) {
			int y = ds->y[start + r], best = 0;
			for (int c = 1; c < C; c++)
				if (prob[(size_t)r * C + c] > prob[(size_t)r * C + best])
					best = c;
			correct += best == y;
			loss -= log(fmax(prob[(size_t)r * C + y], 1e-30));
		}
	}
	if (accuracy)
		*accuracy = (double)correct / ds->n;
	return loss / ds->n;
}

/* min over lanes of (bits & exponent) ^ exponent is 0 iff some value is NaN or ±Inf: a
 * form the compiler vectorises (an unsigned min), unlike an early exit. */
#define EXP_BITS 0x7f800000u
static inline uint32_t finite_key(float x)
{
	uint32_t b;
	memcpy(&b, &x, sizeof b);
	return (b & EXP_BITS) ^ EXP_BITS;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) int
pn_sgd_step_checked(const pn_sgd *o, const float *params_in, const float *velocity_in,
		    const float *grad, float *params_out, float *velocity_out, size_t n)
{
	const float lr = (float)o->lr, mu = (float)o->momentum, wd = (float)o->weight_decay;
	uint32_t gmin = EXP_BITS, omin = EXP_BITS;
	for (size_t k = 0; k < n; k++) {
		float g = grad[k], w = params_in[k];
		float v = mu * velocity_in[k] + g + wd * w; /* as pn_sgd_step, term for term */
		float p = w - lr * v;
		velocity_out[k] = v;
		params_out[k] = p;
		uint32_t fg = finite_key(g), fv = finite_key(v), fp = finite_key(p);
		gmin = fg < gmin ? fg : gmin;
		fv = fp < fv ? fp : fv;
		omin = fv < omin ? fv : omin;
	}
	return gmin == 0 ? 1 : omin == 0 ? 2 : 0;
}

void pn_sgd_step(const pn_sgd *o, float *params, float *velocity, const float *grad, size_t n)
{
	const float lr = (float)o->lr, mu = (float)o->momentum, wd = (float)o->weight_decay;
	for (size_t k = 0; k < n; k++) {
		float v = mu * velocity[k] + grad[k] + wd * params[k];
		velocity[k] = v;
		params[k] -= lr * v;
	}
}
