/* xoshiro256** (Blackman & Vigna), seeded through splitmix64. */
#include "sched/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void pn_rng_seed(pn_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

uint64_t pn_rng_next(pn_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double pn_rng_uniform(pn_rng *r)
{
	return (double)(pn_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t pn_rng_below(pn_rng *r, uint64_t bound)
{
	/* Rejection sampling keeps it unbiased. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
	uint64_t x;
	do
		x = pn_rng_next(r);
	while (x >= limit);
	return x % bound;
}

double pn_rng_gauss(pn_rng *r)
{
	/* Box-Muller; u1 in (0, 1] so the log is finite. */
	double u1 = 1.0 - pn_rng_uniform(r);
	double u2 = pn_rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double pn_rng_exp(pn_rng *r, double mean)
{
	return -mean * log(1.0 - pn_rng_uniform(r));
}
