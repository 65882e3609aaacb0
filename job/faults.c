/* Fault injection for tests and demos: Byzantine transforms of what a worker exposes,
 * and straggler delays (fixed, exponential, two-state Markov). */
#include "job/faults.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const byz_names[] = {"none", "uniform", "reverse", "scaled",
					"signflip", "labelflip", "nan", "gaussian",
					"alie", "ipm", "mimic"};

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

/* g + N(0, 1) per coordinate (Box–Muller on the fault RNG). */
static void corrupt_gaussian(pn_fault_state *st, float *g, size_t d)
{
	for (size_t k = 0; k < d; k++) {
		double u = unif(&st->rng), v = unif(&st->rng);
		g[k] += (float)(sqrt(-2.0 * log(1.0 - u)) * cos(2 * M_PI * v));
	}
}

static void warn_needs_honest(pn_byzantine b)
{
	static bool warned;
	if (!warned)
		fprintf(stderr, "pennant: attack %s needs the honest gradients (pn_faults_corrupt_job); "
				"this worker sends its gradient unchanged\n", pn_byzantine_name(b));
	warned = true;
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
	case PN_BYZ_GAUSSIAN:
		corrupt_gaussian(st, g, d);
		break;
	case PN_BYZ_ALIE:
	case PN_BYZ_IPM:
	case PN_BYZ_MIMIC:
		warn_needs_honest(f->byzantine);
		break;
	default: /* none; labelflip happens in the gradient source */
		break;
	}
}

/* ---- colluding attacks ---- */

bool pn_byzantine_needs_honest(pn_byzantine b)
{
	return b == PN_BYZ_ALIE || b == PN_BYZ_IPM || b == PN_BYZ_MIMIC;
}

/* Standard normal quantile by bisection on erfc (monotone; 80 halvings reach 1e-15). */
static double normal_quantile(double p)
{
	double lo = -40, hi = 40;
	for (int i = 0; i < 80; i++) {
		double mid = 0.5 * (lo + hi);
		if (0.5 * erfc(-mid / sqrt(2.0)) < p)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

double pn_alie_z(int n, int f)
{
	int s = n / 2 + 1 - f;
	if (n < 1 || s <= 0)
		return 0; /* a majority of attackers needs no subtlety; stay at the mean */
	double z = normal_quantile((double)(n - s) / n);
	return z > 0 ? z : 0;
}

typedef void (*colluding_fn)(float *g, size_t d, const float *const *h, int nh, int n, int nbyz);

static void attack_alie(float *g, size_t d, const float *const *h, int nh, int n, int nbyz)
{
	double z = pn_alie_z(n, nbyz);
	for (size_t k = 0; k < d; k++) {
		double m = 0, v = 0;
		for (int i = 0; i < nh; i++)
			m += h[i][k];
		m /= nh;
		for (int i = 0; i < nh; i++)
			v += (h[i][k] - m) * (h[i][k] - m);
		v = nh > 1 ? v / (nh - 1) : 0;
		g[k] = (float)(m - z * sqrt(v));
	}
}

static void attack_ipm(float *g, size_t d, const float *const *h, int nh, int n, int nbyz)
{
	(void)n, (void)nbyz;
	for (size_t k = 0; k < d; k++) {
		double m = 0;
		for (int i = 0; i < nh; i++)
			m += h[i][k];
		g[k] = (float)(-PN_IPM_EPSILON * m / nh);
	}
}

/* Every colluder copies the same honest worker (the first sample). */
static void attack_mimic(float *g, size_t d, const float *const *h, int nh, int n, int nbyz)
{
	(void)nh, (void)n, (void)nbyz;
	memcpy(g, h[0], sizeof(float) * d);
}

static const struct {
	pn_byzantine kind;
	colluding_fn fn;
} colluding_attacks[] = {
	{PN_BYZ_ALIE, attack_alie},
	{PN_BYZ_IPM, attack_ipm},
	{PN_BYZ_MIMIC, attack_mimic},
};

int pn_faults_corrupt_colluding(const pn_faults *f, pn_fault_state *st, float *g, size_t d,
				const float *const *honest, int nh, int n, int nbyz)
{
	for (size_t t = 0; t < sizeof colluding_attacks / sizeof *colluding_attacks; t++) {
		if (colluding_attacks[t].kind != f->byzantine)
			continue;
		if (nh < 1 || !honest)
			return -EINVAL;
		colluding_attacks[t].fn(g, d, honest, nh, n, nbyz);
		return 0;
	}
	pn_faults_corrupt(f, st, g, d);
	return 0;
}

int pn_faults_corrupt_job(const pn_faults *f, pn_fault_state *st, float *g, size_t d,
			  const pn_grad_source *src, uint64_t round, const float *model, const double *coefs,
			  int ncoefs, int n, int nbyz)
{
	if (!pn_byzantine_needs_honest(f->byzantine)) {
		pn_faults_corrupt(f, st, g, d);
		return 0;
	}
	if (!src || !src->compute || n < 1)
		return -EINVAL;
	double scale = 0;
	for (int k = 0; k < ncoefs; k++)
		scale += coefs[k];
	if (!(scale != 0))
		scale = 1;
	float *buf = malloc(sizeof(float) * d * (size_t)n);
	const float **h = malloc(sizeof(float *) * (size_t)n);
	int rc = buf && h ? 0 : -ENOMEM;
	for (int j = 0; j < n && rc == 0; j++) {
		float *hj = buf + (size_t)j * d;
		double loss, one = scale; /* the message scale of this worker's coded gradient */
		rc = src->compute(src->ctx, round, model, &j, &one, 1, hj, &loss);
		h[j] = hj;
	}
	if (rc == 0)
		rc = pn_faults_corrupt_colluding(f, st, g, d, h, n, n, nbyz);
	free(buf);
	free(h);
	return rc;
}
