/* bf16/fp16 conversions against a naive reference: decoding by ldexp of the fields, and
 * encoding by searching the ordered list of finite half values for the nearest one (ties
 * to the even pattern, overflow past the last value's halfway point to Inf). Inputs: every
 * half value, the midpoints between neighbours and one float32 ulp either side of them,
 * float32 subnormals, Inf/NaN and random bit patterns. The array converters (F16C / SIMD
 * clones) must give the scalar functions' bits. */
#include "helpers.h"
#include "pennant/dtype.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct fmt {
	pn_dtype t;
	int mbits;          /* mantissa bits */
	int bias;
	uint16_t maxpat;    /* largest finite positive pattern; maxpat + 1 is +Inf */
} fmt;

static const fmt F16 = {PN_DTYPE_F16, 10, 15, 0x7bff};
static const fmt BF16 = {PN_DTYPE_BF16, 7, 127, 0x7f7f};

static double naive_decode(const fmt *f, uint16_t h)
{
	int e = (h & 0x7fff) >> f->mbits, m = h & ((1 << f->mbits) - 1);
	int emax = (1 << (15 - f->mbits)) - 1;
	double v;
	if (e == 0)
		v = ldexp(m, 1 - f->bias - f->mbits);
	else if (e == emax)
		v = m ? NAN : INFINITY;
	else
		v = ldexp((1 << f->mbits) + m, e - f->bias - f->mbits);
	return (h & 0x8000) ? -v : v;
}

/* The value one ulp above the largest finite one, as if the exponent went on: the
 * overflow threshold is halfway between it and maxpat. */
static double past_max(const fmt *f)
{
	return ldexp(1.0, (1 << (15 - f->mbits)) - 1 - f->bias);
}

static uint16_t naive_encode(const fmt *f, float x)
{
	uint16_t sign = signbit(x) ? 0x8000 : 0;
	if (isnan(x))
		return 0xffff; /* marker: compared by "is NaN" */
	double ax = fabs((double)x);
	if (isinf(x))
		return sign | (uint16_t)(f->maxpat + 1);
	/* largest pattern h in [0, maxpat] with decode(h) <= ax (positive patterns are ordered) */
	unsigned lo = 0, hi = f->maxpat;
	while (lo < hi) {
		unsigned mid = (lo + hi + 1) / 2;
		if (naive_decode(f, (uint16_t)mid) <= ax)
			lo = mid;
		else
			hi = mid - 1;
	}
	double below = naive_decode(f, (uint16_t)lo);
	if (below == ax)
		return sign | (uint16_t)lo;
	double above = lo == f->maxpat ? past_max(f) : naive_decode(f, (uint16_t)(lo + 1));
	double dl = ax - below, du = above - ax;
	unsigned h = dl < du ? lo : dl > du ? lo + 1 : (lo % 2 == 0 ? lo : lo + 1);
	return sign | (uint16_t)h; /* lo + 1 == maxpat + 1 is Inf */
}

static float bits_f32(uint32_t u)
{
	float x;
	memcpy(&x, &u, sizeof x);
	return x;
}

/* Every half value, neighbours' midpoints ± one float32 ulp, subnormals, specials, random. */
static float *test_inputs(const fmt *f, size_t *n)
{
	size_t cap = 65536 * 4 + 200000 + 64, k = 0;
	float *v = malloc(cap * sizeof *v);
	cr_assert(v);
	for (unsigned h = 0; h < 65536; h++) {
		double a = naive_decode(f, (uint16_t)h);
		if (isnan(a))
			continue;
		v[k++] = (float)a;
		unsigned pos = h & 0x7fff;
		if (pos < f->maxpat) {
			double b = naive_decode(f, (uint16_t)(h + 1));
			float mid = (float)((a + b) / 2); /* exact: the midpoint needs mbits+2 bits */
			v[k++] = mid;
			v[k++] = nextafterf(mid, INFINITY);
			v[k++] = nextafterf(mid, -INFINITY);
		}
	}
	const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MAX, -FLT_MAX,
				  FLT_MIN, 0x1p-149f, -0x1p-149f, 0x1p-126f * 0.75f, 65504.0f,
				  65519.996f, 65520.0f, 65536.0f, 0x1p-24f, 0x1p-25f,
				  nextafterf(0x1p-25f, 1.0f), 0x1.8p-25f, 1e-8f, 3.3895314e38f,
				  bits_f32(0x7f7f8000u), bits_f32(0x7f7f7fffu), bits_f32(0x7f800001u), bits_f32(0xffc00001u)};
	for (size_t i = 0; i < sizeof specials / sizeof *specials; i++)
		v[k++] = specials[i];
	uint64_t s = 42;
	for (int i = 0; i < 200000; i++)
		v[k++] = bits_f32((uint32_t)rng_next(&s));
	*n = k;
	return v;
}

static void check_format(const fmt *f)
{
	uint16_t (*enc)(float) = f->t == PN_DTYPE_F16 ? pn_f32_to_f16 : pn_f32_to_bf16;
	float (*dec)(uint16_t) = f->t == PN_DTYPE_F16 ? pn_f16_to_f32 : pn_bf16_to_f32;
	/* decoding: all 65536 patterns, exact */
	for (unsigned h = 0; h < 65536; h++) {
		double want = naive_decode(f, (uint16_t)h);
		float got = dec((uint16_t)h);
		if (isnan(want))
			cr_assert(isnan(got), "%s 0x%04x should decode to NaN", pn_dtype_name(f->t), h);
		else
			cr_assert((double)got == want && !signbit(got) == !signbit(want),
				  "%s 0x%04x: got %a, want %a", pn_dtype_name(f->t), h, got, want);
	}
	size_t n;
	float *in = test_inputs(f, &n);
	for (size_t i = 0; i < n; i++) {
		uint16_t want = naive_encode(f, in[i]), got = enc(in[i]);
		if (want == 0xffff)
			cr_assert(isnan(dec(got)), "%s: NaN %a encoded as 0x%04x", pn_dtype_name(f->t), in[i], got);
		else
			cr_assert_eq(got, want, "%s: %a (%.9g) -> 0x%04x, want 0x%04x", pn_dtype_name(f->t),
				     in[i], in[i], got, want);
	}
	/* array converters: same bits as the scalar functions, at odd lengths too */
	uint16_t *h = malloc(n * sizeof *h);
	float *back = malloc(n * sizeof *back);
	cr_assert(h && back);
	for (size_t len = n; len + 13 > n; len -= 3) {
		pn_f32_to_half(f->t, h, in, len);
		for (size_t i = 0; i < len; i++)
			cr_assert_eq(h[i], enc(in[i]), "%s array encode at %zu: 0x%04x vs 0x%04x",
				     pn_dtype_name(f->t), i, h[i], enc(in[i]));
	}
	pn_f32_to_half(f->t, h, in, n);
	pn_half_to_f32(f->t, back, h, n);
	for (size_t i = 0; i < n; i++) {
		float s = dec(h[i]);
		cr_assert(memcmp(&back[i], &s, sizeof s) == 0, "%s array decode of 0x%04x: %a vs %a",
			  pn_dtype_name(f->t), h[i], back[i], s);
	}
	uint16_t all[65536];
	float wide[65536];
	for (unsigned x = 0; x < 65536; x++)
		all[x] = (uint16_t)x;
	pn_half_to_f32(f->t, wide, all, 65536);
	for (unsigned x = 0; x < 65536; x++) {
		float s = dec((uint16_t)x);
		cr_assert(memcmp(&wide[x], &s, sizeof s) == 0, "%s array decode of 0x%04x: %a vs %a",
			  pn_dtype_name(f->t), x, wide[x], s);
	}
	free(in), free(h), free(back);
}

Test(dtype, f16_conversions_match_the_naive_reference)
{
	check_format(&F16);
}

Test(dtype, bf16_conversions_match_the_naive_reference)
{
	check_format(&BF16);
}

Test(dtype, fp16_overflow_is_inf_and_finiteness_checks_see_it)
{
	float g[5] = {1.0f, -2.5f, 65504.0f, 1e5f, -3e38f};
	uint16_t h[5];
	pn_f32_to_half(PN_DTYPE_F16, h, g, 5);
	cr_expect_eq(h[2], 0x7bff);
	cr_expect_eq(h[3], 0x7c00);
	cr_expect_eq(h[4], 0xfc00);
	cr_expect(pn_half_all_finite(PN_DTYPE_F16, h, 3));
	cr_expect_not(pn_half_all_finite(PN_DTYPE_F16, h, 4));
	pn_f32_to_half(PN_DTYPE_BF16, h, g, 5);
	cr_expect(pn_half_all_finite(PN_DTYPE_BF16, h, 5), "bf16 holds float32's range");
	h[1] = 0x7fc0; /* bf16 NaN */
	cr_expect_not(pn_half_all_finite(PN_DTYPE_BF16, h, 5));
}

Test(dtype, names_and_sizes)
{
	cr_expect_eq(pn_dtype_from_name("bf16"), PN_DTYPE_BF16);
	cr_expect_eq(pn_dtype_from_name("f16"), PN_DTYPE_F16);
	cr_expect_eq(pn_dtype_from_name("f32"), PN_DTYPE_F32);
	cr_expect_eq(pn_dtype_from_name("fp16"), -1);
	cr_expect_str_eq(pn_dtype_name(PN_DTYPE_BF16), "bf16");
	cr_expect_eq(pn_dtype_size(PN_DTYPE_F16), 2);
	cr_expect_eq(pn_dtype_size(PN_DTYPE_F32), 4);
	cr_expect_eq(pn_dtype_size((pn_dtype)7), 0);
}
