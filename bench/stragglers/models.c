/* Straggler models: i.i.d. exponential, two-state Markov (time-correlated), adversarial. */
#include "models.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[MODEL_COUNT_] = { "exp", "markov", "adversarial" };

const char *model_name(model_kind k)
{
	return (unsigned)k < MODEL_COUNT_ ? names[k] : "?";
}

int model_from_name(const char *name)
{
	for (int k = 0; k < MODEL_COUNT_; k++)
		if (strcmp(name, names[k]) == 0)
			return k;
	return -1;
}

void model_defaults(model_params *p)
{
	p->exp_mean = 1.0;
	p->p_slow = 0.05;
	p->p_recover = 0.3;
	p->slow_delay = 10.0;
	p->jitter = 0.1;
	p->adv_period = 10;
}

int model_init(model *m, model_kind kind, const model_params *p, int n, int s, uint64_t seed)
{
	memset(m, 0, sizeof *m);
	m->kind = kind;
	m->p = *p;
	m->n = n;
	m->s = s;
	m->slow = calloc((size_t)n, sizeof(bool));
	if (!m->slow)
		return -ENOMEM;
	pn_rng_seed(&m->rng, seed);
	if (kind == MODEL_MARKOV) {
		/* Start from the stationary distribution so early rounds are typical. */
		double pi = p->p_slow / (p->p_slow + p->p_recover);
		for (int i = 0; i < n; i++)
			m->slow[i] = pn_rng_uniform(&m->rng) < pi;
	}
	return 0;
}

void model_free(model *m)
{
	free(m->slow);
	m->slow = NULL;
}

void model_next_round(model *m, double *delay)
{
	int n = m->n;
	switch (m->kind) {
	case MODEL_EXP:
		for (int i = 0; i < n; i++)
			delay[i] = pn_rng_exp(&m->rng, m->p.exp_mean);
		break;
	case MODEL_MARKOV:
		for (int i = 0; i < n; i++) {
			double u = pn_rng_uniform(&m->rng);
			m->slow[i] = m->slow[i] ? u >= m->p.p_recover : u < m->p.p_slow;
			delay[i] = pn_rng_exp(&m->rng, m->p.jitter) + (m->slow[i] ? m->p.slow_delay : 0);
		}
		break;
	case MODEL_ADVERSARIAL:
		/* The adversary slows s workers: a contiguous block (the worst case for the
		 * static layouts: it hits neighbouring supports and one GC-DC cluster), kept for
		 * adv_period rounds, then moved to a random place. */
		if (m->round % (m->p.adv_period > 0 ? m->p.adv_period : 1) == 0)
			m->adv_start = (int)pn_rng_below(&m->rng, (uint64_t)n);
		for (int i = 0; i < n; i++)
			m->slow[i] = false;
		for (int k = 0; k < m->s; k++)
			m->slow[(m->adv_start + k) % n] = true;
		for (int i = 0; i < n; i++)
			delay[i] = pn_rng_exp(&m->rng, m->p.jitter) + (m->slow[i] ? m->p.slow_delay : 0);
		break;
	default:
		for (int i = 0; i < n; i++)
			delay[i] = 0;
	}
	m->round++;
}
