/* The training job's pieces: Fashion-MNIST (IDX, gzip) loading, small dense models
 * with forward/backward on OpenBLAS, SGD with momentum and weight decay. */
#ifndef PENNANT_TRAIN_H
#define PENNANT_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PN_FMNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct pn_dataset {
	int n;          /* examples */
	int dim;        /* features per example (rows × cols) */
	int classes;    /* 1 + largest label */
	float *x;       /* n × dim, pixel/255 */
	uint8_t *y;     /* n labels */
} pn_dataset;

/* Loads an IDX3 image file and IDX1 label file (gzip or raw). Checks magic numbers,
 * dimensions, that counts agree and that no file is truncated. */
int pn_dataset_load_idx(const char *images, const char *labels, pn_dataset *ds, char *err,
			size_t errlen);
/* dir/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz */
int pn_fmnist_load(const char *dir, int train, pn_dataset *ds, char *err, size_t errlen);
void pn_dataset_free(pn_dataset *ds);

#define PN_MODEL_MAX_LAYERS 6

/* A stack of dense layers: dims[0] inputs → … → dims[layers] classes. ReLU between
 * layers, softmax cross-entropy on top. layers == 1 is softmax regression. Parameters
 * live in one flat float vector: for each layer W (out×in, row-major) then b (out). */
typedef struct pn_model {
	int layers;
	int dims[PN_MODEL_MAX_LAYERS + 1];
	size_t nparams;
	size_t w_off[PN_MODEL_MAX_LAYERS], b_off[PN_MODEL_MAX_LAYERS];
} pn_model;

/* spec: "softmax" or "mlp" (784-256-128-10) or explicit "mlp:256,128". */
int pn_model_from_spec(pn_model *m, const char *spec, int inputs, int classes, char *err,
		       size_t errlen);
void pn_model_describe(const pn_model *m, char *buf, size_t len);
/* He-style initialisation from a seed. */
void pn_model_init_params(const pn_model *m, float *params, uint64_t seed);

typedef struct pn_model_ws pn_model_ws;
pn_model_ws *pn_model_ws_new(const pn_model *m, int max_batch);
void pn_model_ws_free(pn_model_ws *ws);

/* Mean cross-entropy over the n examples idx[0..n) of ds, and its gradient (written,
 * not accumulated, into grad[nparams]). Returns the loss. */
double pn_model_grad(const pn_model *m, const float *params, const pn_dataset *ds, const int *idx,
		     int n, float *grad, pn_model_ws *ws);
/* Loss and accuracy over the whole dataset. */
double pn_model_eval(const pn_model *m, const float *params, const pn_dataset *ds, double *accuracy,
		     pn_model_ws *ws);

typedef struct pn_sgd {
	double lr;
	double momentum;
	double weight_decay;
} pn_sgd;

/* v = momentum·v + (g + wd·w); w -= lr·v, over elements [0, n) of the given slices. */
void pn_sgd_step(const pn_sgd *o, float *params, float *velocity, const float *grad, size_t n);
/* The same step (the same arithmetic, so the same bits) from params_in/velocity_in into
 * params_out/velocity_out, inputs untouched, in one pass that also checks for NaN/Inf:
 * returns 0, or 1 if grad holds one (the outputs are then meaningless), or 2 if the
 * outputs do. The checked step of a caller that must keep its model on failure, without
 * copying model and momentum first and reading them again after. */
int pn_sgd_step_checked(const pn_sgd *o, const float *params_in, const float *velocity_in,
			const float *grad, float *params_out, float *velocity_out, size_t n);

#ifdef __cplusplus
}
#endif
#endif
