/* The block fixed-point sum (node/fixed_sum.h). Integer addition makes the sum
 * independent of the order the children's chunks arrive in, apart from a block's
 * rescale; the quantisation step of a block is 2^-e with 2^(30-e) ≥ addends · max|x|. */
#include "node/fixed_sum.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int pn_fixed_init(pn_fixed_sum *s, size_t d, int addends)
{
	*s = (pn_fixed_sum){.d = d, .nblocks = (d + PN_FIXED_BLOCK - 1) / PN_FIXED_BLOCK,
			    .addends = addends < 1 ? 1 : addends};
	s->acc = malloc(d * sizeof *s->acc);
	s->exp = malloc(s->nblocks * sizeof *s->exp);
	if (!s->acc || !s->exp) {
		pn_fixed_free(s);
		return -ENOMEM;
	}
	pn_fixed_reset(s);
	return 0;
}

void pn_fixed_free(pn_fixed_sum *s)
{
	free(s->acc);
	free(s->exp);
	s->acc = NULL;
	s->exp = NULL;
}

void pn_fixed_reset(pn_fixed_sum *s)
{
	memset(s->acc, 0, s->d * sizeof *s->acc);
	for (size_t b = 0; b < s->nblocks; b++)
		s->exp[b] = PN_FIXED_EMPTY;
}

/* The exponent that keeps |x| · 2^e below 2^30 / addends for |x| ≤ max (max > 0). */
static int exponent_for(double max, int addends)
{
	int k, a;
	(void)frexp(max, &k);              /* max < 2^k */
	(void)frexp((double)addends, &a);  /* addends < 2^a: 2^(30-a) ≤ 2^30 / addends */
	int e = 30 - a - k;
	return e > 1000 ? 1000 : e;  /* a double's range; float inputs never get near it */
}

/* acc >> sh with rounding to nearest (ties away from zero), sh ≥ 1. */
static int32_t shift_round(int32_t v, int sh)
{
	if (sh > 31)
		return 0;
	int64_t half = (int64_t)1 << (sh - 1);
	return (int32_t)(v >= 0 ? ((int64_t)v + half) >> sh : -((-(int64_t)v + half) >> sh));
}

static void add_piece(pn_fixed_sum *s, size_t b, size_t off, const float *x, size_t len)
{
	if (s->exp[b] == PN_FIXED_NONFINITE)
		return;
	double max = 0;
	for (size_t i = 0; i < len; i++) {
		double a = fabs((double)x[i]);
		if (!isfinite(a)) {
			s->exp[b] = PN_FIXED_NONFINITE;
			return;
		}
		max = a > max ? a : max;
	}
	if (max == 0)
		return;
	int e = exponent_for(max, s->addends);
	int cur = s->exp[b];
	if (cur == PN_FIXED_EMPTY) {
		cur = e;
	} else if (e < cur) { /* a larger magnitude than the block has seen: coarser steps */
		size_t lo = b * PN_FIXED_BLOCK, hi = lo + PN_FIXED_BLOCK < s->d ? lo + PN_FIXED_BLOCK : s->d;
		for (size_t i = lo; i < hi; i++)
			s->acc[i] = shift_round(s->acc[i], cur - e);
		cur = e;
		s->rescales++;
	}
	s->exp[b] = (int16_t)cur;
	double scale = ldexp(1.0, cur);
	int32_t *acc = s->acc + off;
	for (size_t i = 0; i < len; i++)
		acc[i] += (int32_t)lrint((double)x[i] * scale);
}

void pn_fixed_add(pn_fixed_sum *s, size_t off, const float *x, size_t len)
{
	while (len > 0) {
		size_t b = off / PN_FIXED_BLOCK;
		size_t room = (b + 1) * PN_FIXED_BLOCK - off;
		size_t n = len < room ? len : room;
		add_piece(s, b, off, x, n);
		off += n, x += n, len -= n;
	}
}

static void read_blocks(const pn_fixed_sum *s, float *out, double *diff2, double *norm2)
{
	for (size_t b = 0; b < s->nblocks; b++) {
		size_t lo = b * PN_FIXED_BLOCK, hi = lo + PN_FIXED_BLOCK < s->d ? lo + PN_FIXED_BLOCK : s->d;
		int e = s->exp[b];
		if (e == PN_FIXED_EMPTY) { /* every addend was 0 here: so is the float sum */
			memset(out + lo, 0, (hi - lo) * sizeof *out);
			continue;
		}
		double inv = e == PN_FIXED_NONFINITE ? NAN : ldexp(1.0, -e);
		for (size_t i = lo; i < hi; i++) {
			float v = (float)((double)s->acc[i] * inv);
			if (diff2 && isfinite(v) && isfinite(out[i])) {
				*diff2 += ((double)v - out[i]) * ((double)v - out[i]);
				*norm2 += (double)out[i] * out[i];
			}
			out[i] = v;
		}
	}
}

void pn_fixed_read(const pn_fixed_sum *s, float *out)
{
	read_blocks(s, out, NULL, NULL);
}

void pn_fixed_read_over(const pn_fixed_sum *s, float *out, double *diff2, double *norm2)
{
	read_blocks(s, out, diff2, norm2);
}
