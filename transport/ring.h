/* Internal: a growable circular queue of fixed-size items, the one every backend uses
 * for its completion queue, send queues and pending messages. Not thread-safe: the
 * owner's lock guards it.
 *
 * Items are stored in order from the head; pn_ring_at(r, i) is the i-th oldest. A push
 * that finds the ring full doubles its storage (first_cap first) up to max_cap items
 * (0 = no limit); pointers into the ring are valid only until the next push. */
#ifndef PENNANT_TRANSPORT_RING_H
#define PENNANT_TRANSPORT_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pn_ring {
	unsigned char *items;
	size_t item_size;
	uint32_t cap, head, count;
	uint32_t first_cap, max_cap;
};

void pn_ring_init(struct pn_ring *r, size_t item_size, uint32_t first_cap, uint32_t max_cap);
/* A new slot at the tail (contents undefined), or NULL when the ring holds max_cap items
 * or cannot grow (pn_ring_full tells the two apart). */
void *pn_ring_push(struct pn_ring *r);
void pn_ring_free(struct pn_ring *r); /* back to empty, storage released */

static inline uint32_t pn_ring_count(const struct pn_ring *r) { return r->count; }
static inline bool pn_ring_full(const struct pn_ring *r)
{
	return r->max_cap && r->count >= r->max_cap;
}
static inline void *pn_ring_at(const struct pn_ring *r, uint32_t i)
{
	return r->items + (size_t)((r->head + i) % r->cap) * r->item_size;
}
/* The oldest item; the ring must not be empty. */
static inline void *pn_ring_front(const struct pn_ring *r) { return pn_ring_at(r, 0); }
/* Drop the oldest item; the ring must not be empty. */
static inline void pn_ring_pop(struct pn_ring *r)
{
	r->head = (r->head + 1) % r->cap;
	r->count--;
}
/* Take back the newest push; the ring must not be empty. */
static inline void pn_ring_unpush(struct pn_ring *r) { r->count--; }
/* Forget every item, keep the storage. */
static inline void pn_ring_clear(struct pn_ring *r) { r->head = r->count = 0; }

#endif
