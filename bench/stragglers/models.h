/* Straggler models for the simulator: per round, an extra delay for every worker (in
 * units of the time one worker needs to compute one partition's gradient). The same
 * draws are shared by every scheme in a round, so schemes are compared on equal terms. */
#ifndef PN_BENCH_STRAGGLER_MODELS_H
#define PN_BENCH_STRAGGLER_MODELS_H

#include "sched/rng.h"

#include <stdbool.h>

typedef enum model_kind { MODEL_EXP = 0, MODEL_MARKOV, MODEL_ADVERSARIAL, MODEL_COUNT_ } model_kind;

typedef struct model_params {
	double exp_mean;     /* exp: mean of the i.i.d. exponential delay */
	double p_slow;       /* markov: P(fast -> slow) per round */
	double p_recover;    /* markov: P(slow -> fast) per round */
	double slow_delay;   /* markov / adversarial: delay of a slow worker */
	double jitter;       /* mean exponential jitter every worker has */
	int adv_period;      /* adversarial: rounds before the adversary moves its block */
} model_params;

typedef struct model {
	model_kind kind;
	model_params p;
	int n, s;
	bool *slow;          /* markov state / adversary's choice */
	int adv_start, round;
	pn_rng rng;
} model;

const char *model_name(model_kind k);
int model_from_name(const char *name); /* -1 if unknown */
void model_defaults(model_params *p);
int model_init(model *m, model_kind kind, const model_params *p, int n, int s, uint64_t seed);
void model_free(model *m);
/* Draws this round's delays (n values). */
void model_next_round(model *m, double *delay);

#endif
