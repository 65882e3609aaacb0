/* The growable circular queue (ring.h). */
#include "transport/ring.h"

#include <stdlib.h>
#include <string.h>

void pn_ring_init(struct pn_ring *r, size_t item_size, uint32_t first_cap, uint32_t max_cap)
{
	memset(r, 0, sizeof(*r));
	r->item_size = item_size;
	r->first_cap = first_cap ? first_cap : 16;
	r->max_cap = max_cap;
	if (max_cap && r->first_cap > max_cap)
		r->first_cap = max_cap;
}

/* Double the storage, moving the items to the front in order. */
static bool grow(struct pn_ring *r)
{
	uint64_t ncap = r->cap ? 2ull * r->cap : r->first_cap;
	if (r->max_cap && ncap > r->max_cap)
		ncap = r->max_cap;
	if (ncap <= r->cap || ncap > UINT32_MAX || ncap > SIZE_MAX / r->item_size)
		return false;
	unsigned char *n = malloc((size_t)ncap * r->item_size);
	if (!n)
		return false;
	/* the items run from head to the end of the storage, then wrap to its start */
	uint32_t first = r->cap - r->head < r->count ? r->cap - r->head : r->count;
	if (r->count) {
		memcpy(n, r->items + (size_t)r->head * r->item_size, (size_t)first * r->item_size);
		memcpy(n + (size_t)first * r->item_size, r->items, (size_t)(r->count - first) * r->item_size);
	}
	free(r->items);
	r->items = n;
	r->cap = (uint32_t)ncap;
	r->head = 0;
	return true;
}

void *pn_ring_push(struct pn_ring *r)
{
	if (pn_ring_full(r))
		return NULL;
	if (r->count == r->cap && !grow(r))
		return NULL;
	r->count++;
	return pn_ring_at(r, r->count - 1);
}

void pn_ring_free(struct pn_ring *r)
{
	free(r->items);
	r->items = NULL;
	r->cap = r->head = r->count = 0;
}
