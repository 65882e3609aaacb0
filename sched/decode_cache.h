/* Cache of decode vectors keyed by the finished set (a bitset of workers). Open
 * addressing; when it fills up it is cleared (bounded memory, simple, still fast when
 * the same few straggler patterns recur, which is the common case). */
#ifndef PN_SCHED_DECODE_CACHE_H
#define PN_SCHED_DECODE_CACHE_H

#include "pennant/codes.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct pn_decode_entry {
	uint64_t *key;      /* words bitset words; NULL = empty slot */
	double *a;          /* alen values (n for a decode vector) */
	pn_decode_info info;
} pn_decode_entry;

typedef struct pn_decode_cache {
	int n, alen, words, capacity, used;
	pn_decode_entry *slots;
} pn_decode_cache;

/* Keys are sets of n workers; values hold alen doubles. capacity <= 0 disables caching. */
int pn_decode_cache_init(pn_decode_cache *dc, int n, int alen, int capacity);
void pn_decode_cache_fini(pn_decode_cache *dc);
void pn_decode_cache_clear(pn_decode_cache *dc);
/* Key from n flags into words (caller buffer of dc->words). */
void pn_decode_cache_key(const pn_decode_cache *dc, const bool *finished, uint64_t *key);
const pn_decode_entry *pn_decode_cache_find(const pn_decode_cache *dc, const uint64_t *key);
/* Stores a copy; returns 1 if the cache was cleared to make room, 0, or -ENOMEM. */
int pn_decode_cache_put(pn_decode_cache *dc, const uint64_t *key, const double *a,
			const pn_decode_info *info);

#endif
