/* Sorting networks for the coordinate-wise rules, 8 coordinates at a time (AVX2).
 *
 * The k rows' values at coordinates c..c+7 are k vectors: lane l of vector x is row x's
 * value at coordinate c+l, so a compare-exchange between two vectors sorts 8 coordinates
 * at once and no transpose is needed. The network is Batcher's odd-even merge sort for
 * the next power of two ≥ k, with the comparators that touch the padding (+∞, never
 * moved) left out. Each value carries its row index and the comparison is on
 * (value, row) lexicographically, a total order: every network yields the order the
 * stable insertion sort of coord_kernel.h yields, so the same rows are credited in
 * `used`, ties and ±0 included.
 *
 * Picks, per lane: the median and the trimmed mean read fixed ranks and sum in rank
 * order in float64 exactly as the scalar code does (identical results). The "closest to
 * a centre" window (MeaMed, Phocas, Bulyan) is found from the ends: the scalar code grows
 * it outward from the centre taking the nearer side (ties: lower side); equivalently,
 * the window drops, k - want times, whichever end is last in that order (the farther
 * end; on a tie the upper end, unless both ends are below the centre). The window is
 * summed in rank order (the scalar code sums in pick order): the float64 sums differ only
 * when they round, i.e. for values spanning more than ~2^24 in magnitude, and then by an
 * ulp of float64 before the float32 result is rounded.
 *
 * Credits: per 8 coordinates, a bit per row (k <= 32) marks in each lane the rows the
 * pick used (median) or left out (the others); count_bits adds the bits to per-row
 * vector counters, summed into `used` once per call: no per-lane scalar loop with a
 * data-dependent trip count. The window's ends are picked by blends, not gathers. */
#include "coord_simd.h"

#include <immintrin.h>
#include <string.h>

static bool simd_on = true, keys_on = true;

void pn_coord_simd_keys_enable(bool on)
{
	__atomic_store_n(&keys_on, on, __ATOMIC_RELAXED);
}

void pn_coord_simd_enable(bool on)
{
	__atomic_store_n(&simd_on, on, __ATOMIC_RELAXED);
}

#define MAX_PAIRS 256 /* Batcher for 32: 191 comparators */

/* Batcher's odd-even merge sort on 2^m ≥ k inputs, comparators touching ≥ k dropped. */
static int batcher_pairs(int k, unsigned char (*pairs)[2])
{
	int N = 1, np = 0;
	while (N < k)
		N <<= 1;
	for (int p = 1; p < N; p <<= 1)
		for (int kk = p; kk >= 1; kk >>= 1)
			for (int j = kk % p; j + kk < N; j += 2 * kk)
				for (int i = 0; i < kk && i + j + kk < N; i++)
					if ((i + j) / (2 * p) == (i + j + kk) / (2 * p) && i + j + kk < k) {
						pairs[np][0] = (unsigned char)(i + j);
						pairs[np][1] = (unsigned char)(i + j + kk);
						np++;
					}
	return np;
}

typedef struct lanes {
	__m256 v[PN_COORD_SIMD_MAX_K];
	__m256i id[PN_COORD_SIMD_MAX_K];
} lanes;

__attribute__((target("avx2"))) static inline void sort_lanes(lanes *s, int np,
							     const unsigned char (*pairs)[2])
{
	for (int q = 0; q < np; q++) {
		int x = pairs[q][0], y = pairs[q][1];
		__m256 a = s->v[x], b = s->v[y];
		__m256i ia = s->id[x], ib = s->id[y];
		__m256 gt = _mm256_cmp_ps(a, b, _CMP_GT_OQ), eq = _mm256_cmp_ps(a, b, _CMP_EQ_OQ);
		__m256 swap = _mm256_or_ps(gt, _mm256_and_ps(eq, _mm256_castsi256_ps(_mm256_cmpgt_epi32(ia, ib))));
		s->v[x] = _mm256_blendv_ps(a, b, swap);
		s->v[y] = _mm256_blendv_ps(b, a, swap);
		s->id[x] = _mm256_castps_si256(
			_mm256_blendv_ps(_mm256_castsi256_ps(ia), _mm256_castsi256_ps(ib), swap));
		s->id[y] = _mm256_castps_si256(
			_mm256_blendv_ps(_mm256_castsi256_ps(ib), _mm256_castsi256_ps(ia), swap));
	}
}

/* AVX-512: the same order with one 64-bit key per value, so a comparator is one min and
 * one max. Key = (v as an int32 ordered like the floats, -0 as +0) << 32 | (row << 1 |
 * v is -0): signed 64-bit order is (value, row), the order above, and the low bit gives
 * -0 back. Finite values only (the engine drops rows with NaN/Inf first). */
__attribute__((target("avx512f,avx2"))) static inline __m512i make_key(__m256 v, int row)
{
	__m256i u = _mm256_castps_si256(v);
	__m256i negz = _mm256_cmpeq_epi32(u, _mm256_set1_epi32((int)0x80000000u));
	u = _mm256_andnot_si256(negz, u);
	__m256i k32 = _mm256_xor_si256(u, _mm256_and_si256(_mm256_srai_epi32(u, 31),
							     _mm256_set1_epi32(0x7fffffff)));
	__m256i low = _mm256_or_si256(_mm256_set1_epi32(row << 1), _mm256_srli_epi32(negz, 31));
	return _mm512_or_si512(_mm512_slli_epi64(_mm512_cvtepi32_epi64(k32), 32),
			       _mm512_cvtepu32_epi64(low));
}

/* All ones in the lanes of v that hold NaN or ±Inf (exponent all ones). */
__attribute__((target("avx2"))) static inline __m256i nonfinite_lanes(__m256 v)
{
	const __m256i e = _mm256_set1_epi32(0x7f800000);
	return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(v), e), e);
}

__attribute__((target("avx512f,avx2"))) static void sort_keys(lanes *s, const float *const *rows,
							     size_t c, int k, int np,
							     const unsigned char (*pairs)[2],
							     __m256i *bad)
{
	__m512i key[PN_COORD_SIMD_MAX_K];
	for (int x = 0; x < k; x++) {
		__m256 v = _mm256_loadu_ps(rows[x] + c);
		*bad = _mm256_or_si256(*bad, nonfinite_lanes(v));
		key[x] = make_key(v, x);
	}
	for (int q = 0; q < np; q++) {
		int x = pairs[q][0], y = pairs[q][1];
		__m512i a = key[x], b = key[y];
		key[x] = _mm512_min_epi64(a, b);
		key[y] = _mm512_max_epi64(a, b);
	}
	for (int x = 0; x < k; x++) {
		__m256i k32 = _mm512_cvtepi64_epi32(_mm512_srai_epi64(key[x], 32));
		__m256i low = _mm512_cvtepi64_epi32(key[x]);
		__m256i u = _mm256_xor_si256(k32, _mm256_and_si256(_mm256_srai_epi32(k32, 31),
								    _mm256_set1_epi32(0x7fffffff)));
		u = _mm256_or_si256(u, _mm256_slli_epi32(low, 31)); /* -0 back */
		s->v[x] = _mm256_castsi256_ps(u);
		s->id[x] = _mm256_srli_epi32(low, 1);
	}
}

/* float64 halves (lanes 0-3, 4-7) of a float vector */
#define LO(v) _mm256_cvtps_pd(_mm256_castps256_ps128(v))
#define HI(v) _mm256_cvtps_pd(_mm256_extractf128_ps((v), 1))

__attribute__((target("avx2"))) static inline void median_lanes(const lanes *s, int k, __m256d *lo,
								 __m256d *hi)
{
	if (k & 1) {
		*lo = LO(s->v[k / 2]), *hi = HI(s->v[k / 2]);
	} else {
		const __m256d half = _mm256_set1_pd(0.5);
		*lo = _mm256_mul_pd(half, _mm256_add_pd(LO(s->v[k / 2 - 1]), LO(s->v[k / 2])));
		*hi = _mm256_mul_pd(half, _mm256_add_pd(HI(s->v[k / 2 - 1]), HI(s->v[k / 2])));
	}
}

__attribute__((target("avx2"))) static inline void trimmed_lanes(const lanes *s, int k, int trim,
								  __m256d *lo, __m256d *hi)
{
	__m256d a = _mm256_setzero_pd(), b = a;
	for (int x = trim; x < k - trim; x++) {
		a = _mm256_add_pd(a, LO(s->v[x]));
		b = _mm256_add_pd(b, HI(s->v[x]));
	}
	__m256d den = _mm256_set1_pd((double)(k - 2 * trim));
	*lo = _mm256_div_pd(a, den), *hi = _mm256_div_pd(b, den);
}

/* Lane l of the result: s->v[idx[l]][l], for idx in [first, last] (blends, no gather). */
__attribute__((target("avx2"))) static inline __m256 pick_rank(const lanes *s, __m256i idx,
								int first, int last)
{
	/* 0 <= first <= last < the maximum always hold (k <= it); the tests tell the
	 * compiler, which otherwise warns about indices it cannot bound */
	if (first < 0 || last >= PN_COORD_SIMD_MAX_K)
		return _mm256_setzero_ps();
	__m256 r = s->v[first];
	for (int j = first + 1; j <= last; j++)
		r = _mm256_blendv_ps(r, s->v[j],
				     _mm256_castsi256_ps(_mm256_cmpeq_epi32(idx, _mm256_set1_epi32(j))));
	return r;
}

/* Bit id of each lane (ids < 32) where mask is set: the rows a rank leaves out. */
__attribute__((target("avx2"))) static inline __m256i row_bits(__m256i id, __m256i mask)
{
	return _mm256_and_si256(_mm256_sllv_epi32(_mm256_set1_epi32(1), id), mask);
}

/* Window of `want` values closest to the centre (clo, chi): its mean in (mlo, mhi), and
 * in *out the bits of the rows outside it, per lane. After `step` drops the left end L
 * is in [0, step] and the right end R - 1 in [k - 1 - step, k - 1], so the values there
 * are picked by blends; ranks [k - want, want) are inside in every lane. */
__attribute__((target("avx2"))) static inline void closest_lanes(const lanes *s, int k, int want,
								  __m256d clo, __m256d chi,
								  __m256i *out, __m256d *mlo,
								  __m256d *mhi)
{
	const __m256d sign = _mm256_set1_pd(-0.0);
	__m256i L = _mm256_setzero_si256(), R = _mm256_set1_epi32(k);
	const __m256i one = _mm256_set1_epi32(1);
	const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
	for (int step = 0; step < k - want; step++) {
		__m256i Rm = _mm256_sub_epi32(R, one);
		__m256 aL = pick_rank(s, L, 0, step);
		__m256 aR = pick_rank(s, Rm, k - 1 - step, k - 1);
		/* |a - c| in float64, as the scalar code's c - a or a - c */
		__m256d dLl = _mm256_andnot_pd(sign, _mm256_sub_pd(LO(aL), clo));
		__m256d dLh = _mm256_andnot_pd(sign, _mm256_sub_pd(HI(aL), chi));
		__m256d dRl = _mm256_andnot_pd(sign, _mm256_sub_pd(LO(aR), clo));
		__m256d dRh = _mm256_andnot_pd(sign, _mm256_sub_pd(HI(aR), chi));
		__m256d below_l = _mm256_cmp_pd(LO(aR), clo, _CMP_LT_OQ);
		__m256d below_h = _mm256_cmp_pd(HI(aR), chi, _CMP_LT_OQ);
		__m256d dl = _mm256_or_pd(_mm256_cmp_pd(dLl, dRl, _CMP_GT_OQ),
					  _mm256_and_pd(_mm256_cmp_pd(dLl, dRl, _CMP_EQ_OQ), below_l));
		__m256d dh = _mm256_or_pd(_mm256_cmp_pd(dLh, dRh, _CMP_GT_OQ),
					  _mm256_and_pd(_mm256_cmp_pd(dLh, dRh, _CMP_EQ_OQ), below_h));
		/* two 4×64-bit masks → one 8×32-bit mask (all ones where the left end goes) */
		int m = _mm256_movemask_pd(dl) | _mm256_movemask_pd(dh) << 4;
		__m256i drop_left = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(m), bit), bit);
		L = _mm256_sub_epi32(L, drop_left);                    /* L += 1 where drop_left */
		R = _mm256_add_epi32(R, _mm256_andnot_si256(drop_left, _mm256_set1_epi32(-1)));
	}
	/* Sum in rank order; a rank outside the window adds +0 (the sum never is -0). */
	__m256d a = _mm256_setzero_pd(), b = a;
	__m256i rm = _mm256_setzero_si256();
	int in_lo = k - want, in_hi = want; /* [in_lo, in_hi): inside in every lane */
	for (int x = 0; x < k; x++) {
		__m256 v = s->v[x];
		if (x < in_lo || x >= in_hi) {
			__m256i X = _mm256_set1_epi32(x);
			__m256i in = _mm256_andnot_si256(_mm256_cmpgt_epi32(L, X), _mm256_cmpgt_epi32(R, X));
			v = _mm256_and_ps(v, _mm256_castsi256_ps(in));
			rm = _mm256_or_si256(rm, row_bits(s->id[x], _mm256_andnot_si256(in, _mm256_set1_epi32(-1))));
		}
		a = _mm256_add_pd(a, LO(v));
		b = _mm256_add_pd(b, HI(v));
	}
	__m256d den = _mm256_set1_pd((double)want);
	*mlo = _mm256_div_pd(a, den), *mhi = _mm256_div_pd(b, den);
	*out = rm;
}

/* cnt[r] += bit r of bits, per lane, r < k: the credits of 8 coordinates, no branch and
 * no store to a counter another lane just stored to. */
__attribute__((target("avx2"))) static inline void count_bits(__m256i *cnt, __m256i bits, int k)
{
	const __m256i one = _mm256_set1_epi32(1);
	for (int r = 0; r < k; r++)
		cnt[r] = _mm256_add_epi32(cnt[r], _mm256_and_si256(_mm256_srli_epi32(bits, r), one));
}

/* Lanes of cnt[r] summed into used[r], added (sign 1) or taken back (sign -1). */
__attribute__((target("avx2"))) static void flush_counts(const __m256i *cnt, int k, uint64_t *used,
							int sign)
{
	for (int r = 0; r < k; r++) {
		uint32_t l[8];
		_mm256_storeu_si256((__m256i *)l, cnt[r]);
		uint64_t t = 0;
		for (int j = 0; j < 8; j++)
			t += l[j];
		used[r] += sign > 0 ? t : -t;
	}
}

__attribute__((target("avx2"))) static inline void store_out(float *o, __m256d lo, __m256d hi)
{
	_mm256_storeu_ps(o, _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo)));
}

__attribute__((target("avx2"))) static size_t simd_avx2(const pn_coord_params *prm,
						       const float *const *rows, int k, size_t n,
						       float *out, uint64_t *used, pn_coord_pick pick,
						       bool keys)
{
	unsigned char pairs[MAX_PAIRS][2];
	int np = batcher_pairs(k, pairs);
	size_t nv = n & ~(size_t)7;
	int want = pick == PN_PICK_BULYAN ? prm->keep : k - prm->f;
	int trim = prm->trim;
	if (k > PN_COORD_SIMD_MAX_K || want < 1 || want > k || trim < 0 || 2 * trim >= k)
		return 0; /* parameters the engine never passes: the scalar path decides */
	lanes s;
	__m256i cnt[PN_COORD_SIMD_MAX_K], bad_any = _mm256_setzero_si256();
	for (int i = 0; i < k; i++)
		cnt[i] = _mm256_setzero_si256();
	/* Median: the rows at the middle rank(s) are counted. The others: every row is
	 * counted in every coordinate and the ones left out are taken back. */
	bool rank_credit = pick == PN_PICK_TRIMMED || pick == PN_PICK_MEAMED ||
			   pick == PN_PICK_PHOCAS || pick == PN_PICK_BULYAN;
	if (used && rank_credit)
		for (int i = 0; i < k; i++)
			used[i] += nv;
	for (size_t c = 0; c < nv; c += 8) {
		if (keys) {
			sort_keys(&s, rows, c, k, np, (const unsigned char (*)[2])pairs, &bad_any);
		} else {
			for (int x = 0; x < k; x++) {
				s.v[x] = _mm256_loadu_ps(rows[x] + c);
				s.id[x] = _mm256_set1_epi32(x);
				bad_any = _mm256_or_si256(bad_any, nonfinite_lanes(s.v[x]));
			}
			sort_lanes(&s, np, (const unsigned char (*)[2])pairs);
		}
		__m256d lo, hi;
		const __m256i all = _mm256_set1_epi32(-1);
		__m256i bits = _mm256_setzero_si256();
		switch (pick) {
		case PN_PICK_MEDIAN:
			median_lanes(&s, k, &lo, &hi);
			bits = row_bits(s.id[k / 2], all);
			if (!(k & 1))
				bits = _mm256_or_si256(bits, row_bits(s.id[k / 2 - 1], all));
			break;
		case PN_PICK_TRIMMED:
			trimmed_lanes(&s, k, trim, &lo, &hi);
			for (int x = 0; x < trim; x++)
				bits = _mm256_or_si256(bits, _mm256_or_si256(row_bits(s.id[x], all),
									     row_bits(s.id[k - 1 - x], all)));
			break;
		default: {
			__m256d clo, chi;
			if (pick == PN_PICK_PHOCAS)
				trimmed_lanes(&s, k, trim, &clo, &chi);
			else
				median_lanes(&s, k, &clo, &chi);
			closest_lanes(&s, k, want, clo, chi, &bits, &lo, &hi);
		}
		}
		if (used)
			count_bits(cnt, bits, k);
		store_out(out + c, lo, hi);
	}
	if (used)
		flush_counts(cnt, k, used, rank_credit ? -1 : 1);
	if (prm->nonfinite && !_mm256_testz_si256(bad_any, bad_any))
		*prm->nonfinite = 1;
	return nv;
}

size_t pn_coord_simd(const pn_coord_params *prm, const float *const *rows, int k, size_t n,
		     float *out, uint64_t *used, pn_coord_pick pick)
{
	if (k < 2 || k > PN_COORD_SIMD_MAX_K || n < 8 || !__atomic_load_n(&simd_on, __ATOMIC_RELAXED))
		return 0;
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2"))
		return 0;
	bool keys = __builtin_cpu_supports("avx512f") && __atomic_load_n(&keys_on, __ATOMIC_RELAXED);
	return simd_avx2(prm, rows, k, n, out, used, pick, keys);
}
