/* Uncoded: worker i computes partition i only (B = I). Exact only with every worker. */
#include "sched/code_internal.h"

#include <stdio.h>

static bool uncoded_ready(const pn_code *c, const bool *finished)
{
	return pn_code_count_finished(c, finished) == c->n;
}

static const struct pn_code_ops uncoded_ops = { .ready = uncoded_ready };

int pn_code_build_uncoded(pn_code *c, const pn_code_params *p, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	for (int i = 0; i < c->n; i++)
		c->B[(size_t)i * (size_t)c->n + (size_t)i] = 1.0;
	c->exact = true;
	c->ops = &uncoded_ops;
	snprintf(c->desc, sizeof c->desc, "uncoded(n=%d)", p->n);
	return 0;
}
