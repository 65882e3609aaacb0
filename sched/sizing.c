/* Heterogeneity-aware sizing: shares proportional to smoothed throughput, with hysteresis. */
#include "pennant/sizing.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pn_sizing {
	int n;
	double threshold, alpha;
	size_t min_share;
	double *rate;      /* smoothed throughput, 0 = never measured */
	double *planned;   /* throughput each worker had when the plan was made */
	size_t *shares;    /* current plan */
	size_t total;      /* total of the current plan, 0 = none */
	pn_sizing_stats stats;
};

pn_sizing *pn_sizing_create(const pn_sizing_config *cfg, char *err, size_t errlen)
{
	const char *why = NULL;
	if (!cfg || cfg->workers < 1)
		why = "workers must be >= 1";
	else if (cfg->replan_threshold < 0 || cfg->smoothing < 0 || cfg->smoothing > 1)
		why = "need replan_threshold >= 0 and smoothing in [0, 1]";
	if (pn_refused(err, errlen, "sizing", why))
		return NULL;
	/* the three per-worker arrays in one allocation (rate owns it) */
	_Static_assert(_Alignof(size_t) <= _Alignof(double), "shares follow two double arrays");
	pn_sizing *s = calloc(1, sizeof *s);
	if (!s || !(s->rate = calloc((size_t)cfg->workers, 2 * sizeof(double) + sizeof(size_t)))) {
		pn_sizing_free(s);
		pn_errf(err, errlen, "sizing: out of memory");
		return NULL;
	}
	s->n = cfg->workers;
	s->threshold = cfg->replan_threshold > 0 ? cfg->replan_threshold : 0.2;
	s->alpha = cfg->smoothing > 0 ? cfg->smoothing : 0.5;
	s->min_share = cfg->min_share ? cfg->min_share : 1;
	s->planned = s->rate + s->n;
	s->shares = (size_t *)(s->planned + s->n);
	return s;
}

void pn_sizing_free(pn_sizing *s)
{
	if (!s)
		return;
	free(s->rate);
	free(s);
}

int pn_sizing_observe(pn_sizing *s, int worker, double units, double seconds)
{
	if (worker < 0 || worker >= s->n || !(units > 0) || !(seconds > 0) || !isfinite(units) ||
	    !isfinite(seconds)) {
		s->stats.rejected++;
		return -EINVAL;
	}
	double r = units / seconds;
	s->rate[worker] = s->rate[worker] > 0 ? (1 - s->alpha) * s->rate[worker] + s->alpha * r : r;
	s->stats.samples++;
	return 0;
}

double pn_sizing_throughput(const pn_sizing *s, int worker)
{
	return worker >= 0 && worker < s->n ? s->rate[worker] : 0;
}

/* Effective rates: unmeasured workers get the mean of the measured ones (1 if none). */
static void effective_rates(const pn_sizing *s, double *eff)
{
	double sum = 0;
	int k = 0;
	for (int i = 0; i < s->n; i++)
		if (s->rate[i] > 0) {
			sum += s->rate[i];
			k++;
		}
	double mean = k ? sum / k : 1.0;
	for (int i = 0; i < s->n; i++)
		eff[i] = s->rate[i] > 0 ? s->rate[i] : mean;
}

static bool drifted(const pn_sizing *s, const double *eff)
{
	for (int i = 0; i < s->n; i++)
		if (fabs(eff[i] - s->planned[i]) > s->threshold * s->planned[i])
			return true;
	return false;
}

/* shares_i = min_share + largest-remainder split of the rest in proportion to eff. */
static void proportional(pn_sizing *s, size_t total, const double *eff)
{
	size_t rest = total - (size_t)s->n * s->min_share, given = 0;
	double sum = 0;
	for (int i = 0; i < s->n; i++)
		sum += eff[i];
	double *frac = malloc(sizeof(double) * (size_t)s->n);
	for (int i = 0; i < s->n; i++) {
		double exact = (double)rest * eff[i] / sum;
		size_t whole = (size_t)floor(exact);
		if (whole > rest - given)
			whole = rest - given;
		s->shares[i] = s->min_share + whole;
		given += whole;
		if (frac)
			frac[i] = exact - (double)whole;
	}
	/* Hand out the remainder one unit at a time to the largest fractions (ties: lowest
	 * index), deterministic. Without memory for fractions, round robin instead. */
	while (given < rest) {
		int best = 0;
		if (frac) {
			for (int i = 1; i < s->n; i++)
				if (frac[i] > frac[best])
					best = i;
			frac[best] = -1;
		} else {
			best = (int)(given % (size_t)s->n);
		}
		s->shares[best]++;
		given++;
	}
	free(frac);
}

int pn_sizing_plan(pn_sizing *s, size_t total, size_t *shares, bool *replanned)
{
	if (total < (size_t)s->n * s->min_share)
		return -EINVAL;
	double *eff = malloc(sizeof(double) * (size_t)s->n);
	if (!eff)
		return -ENOMEM;
	effective_rates(s, eff);
	bool again = s->total != total || drifted(s, eff);
	if (again) {
		proportional(s, total, eff);
		memcpy(s->planned, eff, sizeof(double) * (size_t)s->n);
		if (s->total != 0)
			s->stats.replans++;
		s->total = total;
	}
	s->stats.plans++;
	memcpy(shares, s->shares, sizeof(size_t) * (size_t)s->n);
	if (replanned)
		*replanned = again;
	free(eff);
	return 0;
}

void pn_sizing_get_stats(const pn_sizing *s, pn_sizing_stats *st)
{
	*st = s->stats;
}
