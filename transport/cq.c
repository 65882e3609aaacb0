/* The software completion queue (cq.h). */
#include "transport/cq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CQ_FIRST_CAP 256

void pn_cq_init(struct pn_cq *q)
{
	memset(q, 0, sizeof(*q));
	pn_ring_init(&q->q, sizeof(struct pn_cq_entry), CQ_FIRST_CAP, 0);
}

void pn_cq_free(struct pn_cq *q)
{
	pn_ring_free(&q->q);
	free(q->out);
	q->out = NULL;
	q->out_cap = 0;
}

static struct pn_cq_entry *push(struct pn_cq *q, const pn_tp_completion *comp)
{
	struct pn_cq_entry *e = pn_ring_push(&q->q);
	if (!e)
		return NULL;
	e->c = *comp;
	e->ref = NULL;
	e->ref_slot = 0;
	e->copied = false;
	return e;
}

int pn_cq_push(struct pn_cq *q, const pn_tp_completion *comp, const void *data)
{
	struct pn_cq_entry *e = push(q, comp);
	if (!e)
		return -ENOMEM;
	e->c.data = NULL;
	if (comp->event == PN_TP_CTRL_RECV && data && comp->len) {
		size_t n = comp->len < PN_TP_CTRL_MAX ? comp->len : PN_TP_CTRL_MAX;
		memcpy(e->data, data, n);
		e->copied = true;
	}
	return 0;
}

int pn_cq_push_ref(struct pn_cq *q, const pn_tp_completion *comp, void *ref, uint32_t slot)
{
	struct pn_cq_entry *e = push(q, comp);
	if (!e)
		return -ENOMEM;
	e->ref = ref;
	e->ref_slot = slot;
	return 0;
}

int pn_cq_pop(struct pn_cq *q, pn_tp_completion *out, int max, pn_cq_ref_fn on_ref, void *arg)
{
	if (max > q->out_cap && pn_ring_count(&q->q) > 0) {
		/* room for a whole pop of copied payloads (never moved during a pop) */
		void *o = realloc(q->out, (size_t)max * PN_TP_CTRL_MAX);
		if (!o)
			return -ENOMEM;
		q->out = o;
		q->out_cap = max;
	}
	int n = 0;
	while (n < max && pn_ring_count(&q->q) > 0) {
		struct pn_cq_entry *e = pn_ring_front(&q->q);
		if (e->ref && on_ref && !on_ref(arg, e->ref, e->ref_slot))
			break;
		out[n] = e->c;
		if (e->copied) {
			memcpy(q->out[n], e->data, e->c.len);
			out[n].data = q->out[n];
		}
		pn_ring_pop(&q->q);
		n++;
	}
	return n;
}
