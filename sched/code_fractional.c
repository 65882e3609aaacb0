/* Fractional repetition: n/(s+1) groups of s+1 workers; every member of group g computes
 * the sum of the group's s+1 partitions. One finished member per group decodes. */
#include "sched/code_internal.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static bool fractional_ready(const pn_code *c, const bool *finished)
{
	int covered = 0;
	for (int g = 0; g < c->ngroups; g++) {
		int first = g * (c->s + 1);
		for (int i = first; i < first + c->s + 1; i++) {
			if (finished[i]) {
				covered++;
				break;
			}
		}
	}
	return covered == c->ngroups;
}

/* A worker is no longer needed once any replica in its group has finished. */
static void fractional_needed(const pn_code *c, const bool *finished, bool *needed)
{
	for (int g = 0; g < c->ngroups; g++) {
		int first = g * (c->s + 1);
		bool have = false;
		for (int i = first; i < first + c->s + 1; i++)
			have = have || finished[i];
		for (int i = first; i < first + c->s + 1; i++)
			needed[i] = !have && !finished[i];
	}
}

static const struct pn_code_ops fractional_ops = {
	.ready = fractional_ready,
	.needed = fractional_needed,
};

int pn_code_build_fractional(pn_code *c, const pn_code_params *p, char *err, size_t errlen)
{
	int n = p->n, r = p->s + 1;
	if (n % r != 0) {
		pn_errf(err, errlen,
			"fractional repetition needs (s+1) | n: s+1=%d does not divide n=%d", r, n);
		return -EINVAL;
	}
	c->group = malloc(sizeof(int) * (size_t)n);
	if (!c->group)
		return -ENOMEM;
	c->ngroups = n / r;
	for (int i = 0; i < n; i++) {
		int g = i / r;
		c->group[i] = g;
		for (int j = g * r; j < (g + 1) * r; j++)
			c->B[(size_t)i * (size_t)n + (size_t)j] = 1.0;
	}
	c->exact = true;
	c->ops = &fractional_ops;
	snprintf(c->desc, sizeof c->desc, "fractional(n=%d,s=%d)", n, p->s);
	return 0;
}
