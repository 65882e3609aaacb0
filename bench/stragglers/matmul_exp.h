/* Coded matrix multiplication in the simulator: the log n speed-up of an (n, k) MDS code
 * over uncoded A·x under shifted-exponential worker times (Lee et al. 2018). */
#ifndef PN_BENCH_MATMUL_EXP_H
#define PN_BENCH_MATMUL_EXP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct matmul_options {
	int max_n, rounds;
	double shift, rate; /* worker time with a 1/k share: (shift + Exp(rate)) / k */
	uint64_t seed;
	bool json;
} matmul_options;

int run_matmul(const matmul_options *o);

#endif
