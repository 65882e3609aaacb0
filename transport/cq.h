/* Internal: the software completion queue every backend reports through.
 *
 * A backend pushes completions as they happen (read done, control message received,
 * peer down) and its poll pops them. A control message's payload is either copied in
 * (pn_cq_push: the payload buffer may be reused at once) or left where it is, with a
 * reference the backend gets back when the caller takes the completion
 * (pn_cq_push_ref: verbs keeps its receive buffer until the next poll). Copied payloads
 * are handed to the caller in the queue's own buffers, valid until the next pop.
 * Not thread-safe: the backend's lock guards it. */
#ifndef PENNANT_TRANSPORT_CQ_H
#define PENNANT_TRANSPORT_CQ_H

#include "pennant/transport.h"
#include "transport/ring.h"

#include <stdbool.h>

struct pn_cq_entry {
	pn_tp_completion c;
	void *ref;          /* pn_cq_push_ref: the backend's handle on the payload */
	uint32_t ref_slot;
	bool copied;        /* payload is in data[] */
	uint8_t data[PN_TP_CTRL_MAX];
};

struct pn_cq {
	struct pn_ring q;                  /* of struct pn_cq_entry */
	uint8_t (*out)[PN_TP_CTRL_MAX];    /* copied payloads handed out by the last pop */
	int out_cap;
};

void pn_cq_init(struct pn_cq *q);
void pn_cq_free(struct pn_cq *q);
static inline uint32_t pn_cq_len(const struct pn_cq *q) { return pn_ring_count(&q->q); }

/* Queue a completion; data (comp->len bytes, CTRL_RECV only) is copied. 0, or -ENOMEM
 * (the completion is lost: the backend counts it in drop_no_buffer). */
int pn_cq_push(struct pn_cq *q, const pn_tp_completion *comp, const void *data);
/* Queue a completion whose comp->data stays valid until the backend releases ref. */
int pn_cq_push_ref(struct pn_cq *q, const pn_tp_completion *comp, void *ref, uint32_t slot);

/* Called for each popped entry that carries a ref; returning false leaves that entry
 * (and those after it) queued for the next pop. */
typedef bool (*pn_cq_ref_fn)(void *arg, void *ref, uint32_t slot);

/* Move up to max completions to out. Returns how many, or -ENOMEM when no buffer for
 * a copied payload could be had (the entries stay queued). */
int pn_cq_pop(struct pn_cq *q, pn_tp_completion *out, int max, pn_cq_ref_fn on_ref, void *arg);

#endif
