/* Small seeded RNG (xoshiro256** seeded by splitmix64) shared by the scheduler's random
 * constructions and the straggler simulator. Deterministic for a given seed. */
#ifndef PN_SCHED_RNG_H
#define PN_SCHED_RNG_H

#include <stdint.h>

typedef struct pn_rng {
	uint64_t s[4];
} pn_rng;

void pn_rng_seed(pn_rng *r, uint64_t seed);
uint64_t pn_rng_next(pn_rng *r);
/* Uniform in [0, 1). */
double pn_rng_uniform(pn_rng *r);
/* Uniform integer in [0, bound), bound > 0. */
uint64_t pn_rng_below(pn_rng *r, uint64_t bound);
double pn_rng_gauss(pn_rng *r);
/* Exponential with the given mean. */
double pn_rng_exp(pn_rng *r, double mean);

#endif
