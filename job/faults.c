/* Fault injection for tests and demos: Byzantine transforms of what a worker exposes,
 * and straggler delays (fixed, exponential, two-state Markov). */
#include "job/faults.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const byz_names[] = {"none", "uniform", "reverse", "scaled",
					"signflip", "labelflip", "nan"};

int pn_byzantine_from_name(const char *name)
{
	for (int b = 0; b < (int)(sizeof byz_names / sizeof *byz_names); b++)
		if (name && strcmp(name, byz_names[b]) == 0)
			return b;
	return -1;
}

const char *pn_byzantine_name(pn_byzantine b)
{
	return (unsigned)b < sizeof byz_names / sizeof *byz_names ? byz_names[b] : "?";
}

int pn_delay_parse(const char *spec, pn_faults *f, char *err, size_t errlen)
{
	double ms = 0, ps = 0, pf = 0;
	char tail;
	if (sscanf(spec, "fixed:%lf%c", &ms, &tail) == 1 && ms >= 0) {
		f->delay = PN_DELAY_FIXED;
	} else if (sscanf(spec, "exp:%lf%c", &ms, &tail) == 1 && ms >= 0) {
		f->delay = PN_DELAY_EXP;
	} else if (sscanf(spec, "markov:%lf,%lf,%lf%c", &ms, &ps, &pf, &tail) == 3 && ms >= 0 &&
		   ps >= 0 && ps <= 1 && pf >= 0 && pf <= 1) {
		f->delay = PN_DELAY_MARKOV;
	} else {
		snprintf(err, errlen,
			 "bad delay '%s' (fixed:MS, exp:MEAN_MS, markov:SLOW_MS,P_SLOW,P_FAST)", spec);
		return -EINVAL;
	}
	f->delay_ms = ms;
	f->p_slow = ps;
	f->p_fast = pf;
	return 0;
}

static double unif(uint64_t *s)
{
	*s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
	return (double)(*s >> 11) * 0x1.0p-53;
}

void pn_faults_init_state(pn_fault_state *st, const pn_faults *f)
{
	st->rng = f->seed * 0x9e3779b97f4a7c15ull + 0x1234567ull;
	if (!st->rng)
		st->rng = 1;
	st->slow = false;
}

double pn_faults_delay_ms(const pn_faults *f, pn_fault_state *st)
{
	switch (f->delay) {
	case PN_DELAY_FIXED:
		return f->delay_ms;
	case PN_DELAY_EXP:
		return -f->delay_ms * log(1.0 - unif(&st->rng));
	case PN_DELAY_MARKOV:
		/* Move between fast and slow states; slow rounds cost delay_ms. */
		st->slow = st->slow ? unif(&st->rng) >= f->p_fast : unif(&st->rng) < f->p_slow;
		return st->slow ? f->delay_ms : 0.0;
	default:
		return 0.0;
	}
}

void pn_faults_corrupt(const pn_faults *f, pn_fault_state *st, float *g, size_t d)
{
	switch (f->byzantine) {
	case PN_BYZ_UNIFORM:
		for (size_t k = 0; k < d; k++)
			g[k] = (float)unif(&st->rng);
		break;
	case PN_BYZ_REVERSE:
		for (size_t k = 0; k < d; k++)
			g[k] *= -10.0f;
		break;
	case PN_BYZ_SCALED:
		for (size_t k = 0; k < d; k++)
			g[k] *= 100.0f;
		break;
	case PN_BYZ_SIGNFLIP:
		for (size_t k = 0; k < d; k++)
			g[k] = -g[k];
		break;
	case PN_BYZ_NAN:
		for (size_t k = 0; k < d; k += 1000)
			g[k] = NAN;
		break;
	default: /* none; labelflip happens in the gradient source */
		break;
	}
}
