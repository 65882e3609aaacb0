/* UEP vs equal protection at a deadline, same total load (see include/pennant/uep.h). */
#ifndef PN_BENCH_UEP_EXP_H
#define PN_BENCH_UEP_EXP_H

#include "models.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct uep_options {
	int n, rounds, blocks;
	double norm[8], size[8];
	double slack;        /* deadline = load budget + slack (compute units) */
	model_params mp;     /* Markov straggler model */
	uint64_t seed;
	bool json;
} uep_options;

void uep_defaults(uep_options *o);
int run_uep(const uep_options *o);

#endif
