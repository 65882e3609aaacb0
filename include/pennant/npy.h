/* Minimal NumPy .npy reader/writer for gradient arrays (format versions 1.0–3.0).
 *
 * The _f32 functions take float32 ('<f4') only. The _typed ones also take fp16 ('<f2')
 * and bfloat16. NumPy has no bfloat16 type, so Pennant's convention is the structured
 * descr [('bf16', '<u2')]: one little-endian uint16 field named bf16 holding the raw
 * bits. Plain NumPy loads such a file (np.load(f)['bf16'] are the bits; with ml_dtypes,
 * .view(ml_dtypes.bfloat16)); write one with np.save(f, bits.view([('bf16', '<u2')])).
 * Any other descr, and '<u2' without the field name, is refused. */
#ifndef PENNANT_NPY_H
#define PENNANT_NPY_H

#include <stddef.h>

#include "pennant/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PN_NPY_MAX_DIMS 8

/* Reads a little-endian float32 ('<f4'), C-order array. On success *data (free() it),
 * shape[0..*ndim) are set and 0 is returned; on failure a negative errno and a message
 * naming what is wrong (bad magic, bad header, wrong dtype, Fortran order, truncated,
 * trailing bytes). */
int pn_npy_read_f32(const char *path, float **data, size_t shape[PN_NPY_MAX_DIMS], int *ndim,
		    char *err, size_t errlen);
/* Parses a .npy image held in memory (same checks); *data is a fresh copy. */
int pn_npy_parse_f32(const unsigned char *buf, size_t len, float **data,
		     size_t shape[PN_NPY_MAX_DIMS], int *ndim, char *err, size_t errlen);
/* A .npy file mapped read-only (no copy of the data): the header is validated exactly
 * as pn_npy_read_f32 does, then data points into the mapping (or, only when the header
 * leaves the floats misaligned, into one aligned copy). Release with pn_npy_unmap. */
typedef struct pn_npy_map {
	const float *data;  /* float32 files; NULL for half files (use raw) */
	size_t shape[PN_NPY_MAX_DIMS];
	int ndim;
	void *base;  /* the mapping */
	size_t len;
	void *copy;  /* NULL unless the data had to be copied */
	pn_dtype dtype;
	const void *raw; /* the elements, of dtype */
} pn_npy_map;
int pn_npy_map_f32(const char *path, pn_npy_map *m, char *err, size_t errlen);
/* Any of the three element types: m->dtype says which, m->raw points at the data. */
int pn_npy_map_typed(const char *path, pn_npy_map *m, char *err, size_t errlen);
/* Reads/parses any of the three element types (*data: free() it). */
int pn_npy_read_typed(const char *path, void **data, pn_dtype *dtype,
		      size_t shape[PN_NPY_MAX_DIMS], int *ndim, char *err, size_t errlen);
int pn_npy_parse_typed(const unsigned char *buf, size_t len, void **data, pn_dtype *dtype,
		       size_t shape[PN_NPY_MAX_DIMS], int *ndim, char *err, size_t errlen);
int pn_npy_write_typed(const char *path, const void *data, pn_dtype dtype, const size_t *shape,
		       int ndim, char *err, size_t errlen);
void pn_npy_unmap(pn_npy_map *m);
int pn_npy_write_f32(const char *path, const float *data, const size_t *shape, int ndim,
		     char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
