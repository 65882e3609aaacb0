/* Completion queue: a ring that grows instead of losing completions. */
#include "dp.h"

#include <stdlib.h>
#include <string.h>

struct dp_cqe *dp_cq_push(struct dp_ctx *c)
{
	if (c->cq_len == c->cq_cap) {
		size_t cap = c->cq_cap ? c->cq_cap * 2 : 256;
		struct dp_cqe *q = malloc(cap * sizeof *q);
		if (!q)
			return NULL;
		for (size_t i = 0; i < c->cq_len; i++)
			q[i] = c->cq[(c->cq_head + i) % c->cq_cap];
		free(c->cq);
		c->cq = q;
		c->cq_cap = cap;
		c->cq_head = 0;
	}
	struct dp_cqe *e = &c->cq[(c->cq_head + c->cq_len++) % c->cq_cap];
	memset(&e->c, 0, sizeof e->c);
	return e;
}

/* Pops up to max completions; control payloads are copied to ctx->poll_data, which
 * stays valid until the next poll. */
int dp_cq_pop(struct dp_ctx *c, pn_tp_completion *out, int max)
{
	int n = 0;
	if ((size_t)max > c->poll_data_cap) {
		void *d = realloc(c->poll_data, (size_t)max * PN_DP_CTRL_MAX);
		if (!d)
			return 0;
		c->poll_data = d;
		c->poll_data_cap = (size_t)max;
	}
	while (n < max && c->cq_len) {
		struct dp_cqe *e = &c->cq[c->cq_head];
		out[n] = e->c;
		if (e->c.event == PN_TP_CTRL_RECV) {
			memcpy(c->poll_data[n], e->data, e->c.len);
			out[n].data = c->poll_data[n];
		}
		c->cq_head = (c->cq_head + 1) % c->cq_cap;
		c->cq_len--;
		n++;
	}
	return n;
}
