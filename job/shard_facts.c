/* Wire form of a shard's round facts or shard 0's decision (job/shard_facts.h). */
#include "job/shard_facts.h"
#include "pennant/agg.h"

#include <errno.h>
#include <string.h>

#define FACTS_MAX_P 4095
#define HEADER_LEN 16 /* magic 4, version 1, has_gram 1, p 2, round 8 */

static const uint8_t magic[4] = {'P', 'N', 'S', 'F'};

static uint64_t fnv1a(const uint8_t *b, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

size_t pn_shard_facts_size(int p, bool has_gram)
{
	if (p < 1 || p > FACTS_MAX_P)
		return 0;
	size_t n = (size_t)p;
	return HEADER_LEN + n + (has_gram ? n * n * sizeof(double) : 0) + sizeof(uint64_t);
}

size_t pn_shard_facts_pack(int64_t round, int p, const int *status, const double *G,
			   uint8_t *buf)
{
	size_t len = pn_shard_facts_size(p, G != NULL);
	if (len == 0)
		return 0;
	uint16_t p16 = (uint16_t)p;
	memcpy(buf, magic, 4);
	buf[4] = PN_SHARD_FACTS_VERSION;
	buf[5] = G != NULL;
	memcpy(buf + 6, &p16, 2); /* x86-64 and the wire are both little-endian */
	memcpy(buf + 8, &round, 8);
	uint8_t *s = buf + HEADER_LEN;
	for (int i = 0; i < p; i++)
		s[i] = (uint8_t)status[i];
	if (G)
		memcpy(s + p, G, sizeof(double) * (size_t)p * (size_t)p);
	uint64_t h = fnv1a(buf, len - sizeof h);
	memcpy(buf + len - sizeof h, &h, sizeof h);
	return len;
}

int pn_shard_facts_unpack(const void *buf, size_t len, int64_t round, int p, int *status,
			  double *G)
{
	const uint8_t *b = buf;
	size_t want = pn_shard_facts_size(p, G != NULL);
	if (!b || want == 0 || len != want)
		return -EBADMSG;
	uint16_t p16;
	int64_t r;
	uint64_t h;
	memcpy(&p16, b + 6, 2);
	memcpy(&r, b + 8, 8);
	memcpy(&h, b + len - sizeof h, sizeof h);
	if (memcmp(b, magic, 4) != 0 || b[4] != PN_SHARD_FACTS_VERSION || b[5] != (G != NULL) ||
	    p16 != p || r != round || h != fnv1a(b, len - sizeof h))
		return -EBADMSG;
	const uint8_t *s = b + HEADER_LEN;
	for (int i = 0; i < p; i++) {
		if (s[i] > PN_AGG_EXCLUDED)
			return -EBADMSG;
		status[i] = s[i];
	}
	if (G)
		memcpy(G, s + p, sizeof(double) * (size_t)p * (size_t)p);
	return 0;
}
