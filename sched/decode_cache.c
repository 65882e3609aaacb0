#include "sched/decode_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int pn_decode_cache_init(pn_decode_cache *dc, int n, int alen, int capacity)
{
	memset(dc, 0, sizeof *dc);
	dc->n = n;
	dc->alen = alen;
	dc->words = (n + 63) / 64;
	if (capacity <= 0)
		return 0;
	dc->capacity = capacity;
	dc->slots = calloc((size_t)capacity, sizeof *dc->slots);
	return dc->slots ? 0 : -ENOMEM;
}

void pn_decode_cache_clear(pn_decode_cache *dc)
{
	for (int i = 0; i < dc->capacity; i++) {
		free(dc->slots[i].key);
		free(dc->slots[i].a);
		memset(&dc->slots[i], 0, sizeof dc->slots[i]);
	}
	dc->used = 0;
}

void pn_decode_cache_fini(pn_decode_cache *dc)
{
	pn_decode_cache_clear(dc);
	free(dc->slots);
	dc->slots = NULL;
	dc->capacity = 0;
}

void pn_decode_cache_key(const pn_decode_cache *dc, const bool *finished, uint64_t *key)
{
	memset(key, 0, sizeof(uint64_t) * (size_t)dc->words);
	for (int i = 0; i < dc->n; i++)
		if (finished[i])
			key[i / 64] |= 1ULL << (i % 64);
}

static uint64_t hash_key(const pn_decode_cache *dc, const uint64_t *key)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL;
	for (int w = 0; w < dc->words; w++) {
		h ^= key[w] + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
		h *= 0xff51afd7ed558ccdULL;
	}
	return h ^ (h >> 33);
}

static bool same_key(const pn_decode_cache *dc, const uint64_t *a, const uint64_t *b)
{
	return memcmp(a, b, sizeof(uint64_t) * (size_t)dc->words) == 0;
}

const pn_decode_entry *pn_decode_cache_find(const pn_decode_cache *dc, const uint64_t *key)
{
	if (dc->capacity == 0)
		return NULL;
	uint64_t i = hash_key(dc, key) % (uint64_t)dc->capacity;
	for (int probe = 0; probe < dc->capacity; probe++) {
		const pn_decode_entry *e = &dc->slots[i];
		if (!e->key)
			return NULL;
		if (same_key(dc, e->key, key))
			return e;
		i = (i + 1) % (uint64_t)dc->capacity;
	}
	return NULL;
}

int pn_decode_cache_put(pn_decode_cache *dc, const uint64_t *key, const double *a,
			const pn_decode_info *info)
{
	if (dc->capacity == 0)
		return 0;
	int cleared = 0;
	/* Keep the load factor under 3/4 so probes stay short. */
	if ((dc->used + 1) * 4 > dc->capacity * 3) {
		pn_decode_cache_clear(dc);
		cleared = 1;
	}
	uint64_t i = hash_key(dc, key) % (uint64_t)dc->capacity;
	while (dc->slots[i].key && !same_key(dc, dc->slots[i].key, key))
		i = (i + 1) % (uint64_t)dc->capacity;
	pn_decode_entry *e = &dc->slots[i];
	if (!e->key) {
		e->key = malloc(sizeof(uint64_t) * (size_t)dc->words);
		e->a = malloc(sizeof(double) * (size_t)dc->alen);
		if (!e->key || !e->a) {
			free(e->key);
			free(e->a);
			e->key = NULL;
			e->a = NULL;
			return -ENOMEM;
		}
		memcpy(e->key, key, sizeof(uint64_t) * (size_t)dc->words);
		dc->used++;
	}
	memcpy(e->a, a, sizeof(double) * (size_t)dc->alen);
	e->info = *info;
	return cleared;
}
