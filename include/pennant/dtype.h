/* Gradient element types: float32, and the two 16-bit formats a worker may expose to
 * halve the bytes pulled (bfloat16: float32's top 16 bits; IEEE binary16 "fp16").
 *
 * Conversions to float32 are exact. Conversions from float32 round to nearest, ties to
 * even; values beyond the format's range become ±Inf (fp16 overflows above 65504, so a
 * huge gradient arrives as Inf and the aggregator excludes it as non-finite), NaN stays
 * NaN (quietened), subnormals are kept (not flushed). The array converters pick F16C
 * (fp16) or AVX2/AVX-512 (bf16) at run time; they give the same bits as the scalar ones. */
#ifndef PENNANT_DTYPE_H
#define PENNANT_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pn_dtype {
	PN_DTYPE_F32 = 0,
	PN_DTYPE_BF16 = 1,
	PN_DTYPE_F16 = 2,
	PN_DTYPE_COUNT_
} pn_dtype;

/* "f32", "bf16", "f16"; "?" for an unknown id. */
const char *pn_dtype_name(pn_dtype t);
/* The id for a name above, or -1. */
int pn_dtype_from_name(const char *name);
/* Bytes per element (4 or 2), 0 for an unknown id. */
size_t pn_dtype_size(pn_dtype t);

uint16_t pn_f32_to_bf16(float x);
float pn_bf16_to_f32(uint16_t h);
uint16_t pn_f32_to_f16(float x);
float pn_f16_to_f32(uint16_t h);

/* dst[0..n) = src[0..n) converted; t is PN_DTYPE_BF16 or PN_DTYPE_F16 (anything else
 * does nothing). */
void pn_f32_to_half(pn_dtype t, uint16_t *dst, const float *src, size_t n);
void pn_half_to_f32(pn_dtype t, float *dst, const uint16_t *src, size_t n);
/* True when no element of the half array is NaN or ±Inf. */
bool pn_half_all_finite(pn_dtype t, const uint16_t *x, size_t n);

#ifdef __cplusplus
}
#endif
#endif
