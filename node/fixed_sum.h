/* A block fixed-point sum (SwitchML-style): int32 accumulators with one shared exponent
 * per block of coordinates. Addends are quantised to round(x · 2^e) at the block's
 * exponent e; when an addend needs a smaller exponent (a larger magnitude) the block's
 * accumulators are shifted right to it (rounding), so the sum never overflows: every
 * addend is kept below 2^30 / addends at its exponent, the total below 2^30.
 * Used by the node's `sum` mode with --fixed-point (node/sum.c); pure functions, tested
 * against a long double reference in tests/node/test_fixed_sum.c. */
#ifndef PENNANT_NODE_FIXED_SUM_H
#define PENNANT_NODE_FIXED_SUM_H

#include <stddef.h>
#include <stdint.h>

enum { PN_FIXED_BLOCK = 256 };  /* coordinates sharing one exponent */

typedef struct pn_fixed_sum {
	size_t d, nblocks;
	int addends;            /* how many vectors are summed: the headroom each gets */
	int32_t *acc;           /* d accumulators */
	int16_t *exp;           /* per block: value = acc · 2^-exp; PN_FIXED_EMPTY / _NONFINITE */
	uint64_t rescales;      /* since init: times a block's exponent went down (low bits rounded off) */
} pn_fixed_sum;

#define PN_FIXED_EMPTY INT16_MAX        /* nothing non-zero added yet: every acc is 0 */
#define PN_FIXED_NONFINITE INT16_MIN    /* a NaN/Inf was added: the block reads as NaN */

int pn_fixed_init(pn_fixed_sum *s, size_t d, int addends); /* 0 or -ENOMEM */
void pn_fixed_free(pn_fixed_sum *s);
void pn_fixed_reset(pn_fixed_sum *s);
/* Adds x[0..len) at coordinates off..off+len (any alignment to the blocks). */
void pn_fixed_add(pn_fixed_sum *s, size_t off, const float *x, size_t len);
/* The sum as float32 (NaN in a block that took a NaN/Inf). */
void pn_fixed_read(const pn_fixed_sum *s, float *out);
/* The same, written over `out`, which holds the float32 sum of the same addends: adds
 * Σ (fixed - float)² to *diff2 and Σ float² to *norm2 over the finite coordinates, the
 * quantisation error against float32. */
void pn_fixed_read_over(const pn_fixed_sum *s, float *out, double *diff2, double *norm2);

#endif
