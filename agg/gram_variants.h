/* The Gram kernel's variants (gram_kernel.c picks one per CPU; benches and tests may
 * force one). */
#ifndef PENNANT_AGG_GRAM_VARIANTS_H
#define PENNANT_AGG_GRAM_VARIANTS_H

#include <stdbool.h>
#include <stddef.h>

/* float32 products in short FMA chains, float64 across chains (gram_kernel_f32.c).
 * Returns false, touching nothing, when a participating row's magnitude is outside the
 * range where float32 products are safe (max |x| outside [2^-40, 2^40], or Inf): the
 * caller then runs a float64 variant on the block. NaN propagates into G. */
bool pn_gram_block_f32_avx2(const float *const *rows, int p, size_t n, double *G);
/* float64 sums of exact float32 products for AVX-512 (gram_kernel_avx512.c): the
 * accumulators stay vectors for the whole block, diagonal tiles are triangular. */
void pn_gram_block_avx512_tri(const float *const *rows, int p, size_t n, double *G);
/* Forces the variant named ("avx512-tri", "avx2-f32", "avx512", "avx2", "generic") for every later
 * pn_gram_block; -1 if unknown or this CPU lacks its instructions. */
int pn_gram_use_kernel(const char *name);

#endif
