/* Gradient element types and their conversions (include/pennant/dtype.h). The scalar
 * functions are the definition; the array loops are the same bit operations written so
 * the compiler vectorises them per target clone, except fp16, which uses F16C
 * (vcvtph2ps / vcvtps2ph round to nearest even, keep subnormals) when the CPU has it. */
#include "pennant/dtype.h"

#include <immintrin.h>
#include <string.h>

static const char *const names[PN_DTYPE_COUNT_] = {"f32", "bf16", "f16"};

const char *pn_dtype_name(pn_dtype t)
{
	return (unsigned)t < PN_DTYPE_COUNT_ ? names[t] : "?";
}

int pn_dtype_from_name(const char *name)
{
	for (int t = 0; name && t < PN_DTYPE_COUNT_; t++)
		if (strcmp(name, names[t]) == 0)
			return t;
	return -1;
}

size_t pn_dtype_size(pn_dtype t)
{
	return t == PN_DTYPE_F32 ? 4 : (t == PN_DTYPE_BF16 || t == PN_DTYPE_F16) ? 2 : 0;
}

static inline uint32_t f32_bits(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	return u;
}

static inline float bits_f32(uint32_t u)
{
	float x;
	memcpy(&x, &u, sizeof x);
	return x;
}

static inline uint16_t bf16_from_bits(uint32_t u)
{
	if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep the top payload bits, set quiet */
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fffu + ((u >> 16) & 1); /* round to nearest even; overflow carries into Inf */
	return (uint16_t)(u >> 16);
}

uint16_t pn_f32_to_bf16(float x)
{
	return bf16_from_bits(f32_bits(x));
}

float pn_bf16_to_f32(uint16_t h)
{
	return bits_f32((uint32_t)h << 16);
}

uint16_t pn_f32_to_f16(float x)
{
	uint32_t u = f32_bits(x), ax = u & 0x7fffffffu;
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
	if (ax > 0x7f800000u) /* NaN: quiet, top payload bits (as vcvtps2ph) */
		return sign | 0x7e00u | (uint16_t)((ax >> 13) & 0x3ffu);
	if (ax >= 0x477ff000u) /* >= 65520 (halfway above 65504) and Inf */
		return sign | 0x7c00u;
	if (ax >= 0x38800000u) { /* normal fp16 (>= 2^-14): rebias the exponent 127 -> 15 */
		uint32_t m = ax - 0x38000000u;
		m += 0xfffu + ((m >> 13) & 1);
		return sign | (uint16_t)(m >> 13);
	}
	uint32_t e = ax >> 23;
	if (e < 102) /* below 2^-25: rounds to zero (2^-25 itself is a tie, to even 0) */
		return sign;
	/* subnormal fp16: k·2^-24 with k = mantissa >> (126 - e), rounded to nearest even */
	uint32_t mant = (ax & 0x7fffffu) | 0x800000u, s = 126 - e;
	uint32_t k = mant >> s, rem = mant & ((1u << s) - 1), half = 1u << (s - 1);
	k += rem > half || (rem == half && (k & 1));
	return sign | (uint16_t)k; /* k == 0x400 is the smallest normal: the right encoding */
}

float pn_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
	if (e == 0) { /* zero or subnormal: m·2^-24 is exact in float32 */
		float v = (float)m * 0x1p-24f;
		return bits_f32(f32_bits(v) | sign);
	}
	if (e == 31) /* Inf, or NaN made quiet (as vcvtph2ps does) */
		return bits_f32(sign | 0x7f800000u | m << 13 | (m ? 0x400000u : 0));
	return bits_f32(sign | (e + 112) << 23 | m << 13);
}

__attribute__((target_clones("avx512f", "avx2", "default"))) static void
bf16_widen(float *restrict dst, const uint16_t *restrict src, size_t n)
{
	for (size_t c = 0; c < n; c++) {
		uint32_t u = (uint32_t)src[c] << 16;
		memcpy(&dst[c], &u, sizeof u);
	}
}

__attribute__((target_clones("avx512f", "avx2", "default"))) static void
bf16_narrow(uint16_t *restrict dst, const float *restrict src, size_t n)
{
	for (size_t c = 0; c < n; c++) {
		uint32_t u;
		memcpy(&u, &src[c], sizeof u);
		dst[c] = bf16_from_bits(u);
	}
}

__attribute__((target("avx,f16c"))) static void f16_widen_f16c(float *dst, const uint16_t *src,
							       size_t n)
{
	size_t c = 0;
	for (; c + 8 <= n; c += 8)
		_mm256_storeu_ps(dst + c, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + c))));
	for (; c < n; c++)
		dst[c] = pn_f16_to_f32(src[c]);
}

__attribute__((target("avx,f16c"))) static void f16_narrow_f16c(uint16_t *dst, const float *src,
								size_t n)
{
	size_t c = 0;
	for (; c + 8 <= n; c += 8)
		_mm_storeu_si128((__m128i *)(dst + c),
				 _mm256_cvtps_ph(_mm256_loadu_ps(src + c), _MM_FROUND_TO_NEAREST_INT));
	for (; c < n; c++)
		dst[c] = pn_f32_to_f16(src[c]);
}

static void f16_narrow_scalar(uint16_t *dst, const float *src, size_t n)
{
	for (size_t c = 0; c < n; c++)
		dst[c] = pn_f32_to_f16(src[c]);
}

static void f16_widen_scalar(float *dst, const uint16_t *src, size_t n)
{
	for (size_t c = 0; c < n; c++)
		dst[c] = pn_f16_to_f32(src[c]);
}

/* The array converters of one half format. */
typedef struct half_ops {
	void (*narrow)(uint16_t *dst, const float *src, size_t n);
	void (*widen)(float *dst, const uint16_t *src, size_t n);
} half_ops;

static const half_ops bf16_ops = {bf16_narrow, bf16_widen};
static const half_ops f16_ops_f16c = {f16_narrow_f16c, f16_widen_f16c};
static const half_ops f16_ops_scalar = {f16_narrow_scalar, f16_widen_scalar};

/* The converters for t on this CPU, or NULL for float32 / an unknown id. */
static const half_ops *ops_for(pn_dtype t)
{
	if (t == PN_DTYPE_BF16)
		return &bf16_ops;
	if (t != PN_DTYPE_F16)
		return NULL;
	__builtin_cpu_init();
	bool f16c = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
	return f16c ? &f16_ops_f16c : &f16_ops_scalar;
}

void pn_f32_to_half(pn_dtype t, uint16_t *dst, const float *src, size_t n)
{
	const half_ops *o = ops_for(t);
	if (o)
		o->narrow(dst, src, n);
}

void pn_half_to_f32(pn_dtype t, float *dst, const uint16_t *src, size_t n)
{
	const half_ops *o = ops_for(t);
	if (o)
		o->widen(dst, src, n);
}

__attribute__((target_clones("avx512f", "avx2", "default"))) static bool
all_exp_below(const uint16_t *x, size_t n, uint16_t expmask)
{
	uint16_t bad = 0;
	for (size_t c = 0; c < n; c++)
		bad |= (x[c] & expmask) == expmask;
	return bad == 0;
}

bool pn_half_all_finite(pn_dtype t, const uint16_t *x, size_t n)
{
	return all_exp_below(x, n, t == PN_DTYPE_BF16 ? 0x7f80u : 0x7c00u);
}
