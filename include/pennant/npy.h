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
int pn_npy_write_f32(const char *path, const float *data, const size_t *shape, int ndim,
		     char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
