/* Minimal NumPy .npy reader/writer for float32 arrays (format versions 1.0–3.0). */
#ifndef PENNANT_NPY_H
#define PENNANT_NPY_H

#include <stddef.h>

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
	const float *data;
	size_t shape[PN_NPY_MAX_DIMS];
	int ndim;
	void *base;  /* the mapping */
	size_t len;
	float *copy; /* NULL unless the data had to be copied */
} pn_npy_map;
int pn_npy_map_f32(const char *path, pn_npy_map *m, char *err, size_t errlen);
void pn_npy_unmap(pn_npy_map *m);
int pn_npy_write_f32(const char *path, const float *data, const size_t *shape, int ndim,
		     char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
