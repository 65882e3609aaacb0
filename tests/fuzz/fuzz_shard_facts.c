/* libFuzzer target for a sharded round's facts/decision blob (job/shard_facts.h: bytes
 * another process wrote into a region this one READs). Built and run by run-fuzz.
 *
 * Input byte 0 picks the mode: bit 0 clear, the rest is raw; bit 0 set, the rest gets a
 * valid header and checksum (so the fuzzer reaches the status checks). Bit 1: the blob
 * carries a Gram. Byte 1 picks p in [1, 8] (raw mode: whatever p the bytes claim, capped).
 * Invariants on every accepted blob: the statuses are pn_agg_worker_status values, and
 * packing the result again gives the very bytes that were parsed. */
#include "job/shard_facts.h"
#include "pennant/agg.h"
#include "tests/fuzz/fuzz_check.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const uint8_t *b, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 2 + 16 + 64 + 64 * 8 + 8)
		return 0;
	uint8_t mode = data[0];
	int p = 1 + data[1] % 8;
	bool gram = mode & 2;
	size -= 2;
	uint8_t *buf = fuzz_exact_copy(data + 2, size);
	int64_t round = 0;
	if (size >= 16) {
		memcpy(&round, buf + 8, 8);
		if (!(mode & 1)) {
			uint16_t p16;
			memcpy(&p16, buf + 6, 2);
			if (p16 >= 1 && p16 <= 8)
				p = p16;
		}
	}
	if ((mode & 1) && size == pn_shard_facts_size(p, gram)) {
		uint16_t p16 = (uint16_t)p;
		memcpy(buf, "PNSF", 4);
		buf[4] = PN_SHARD_FACTS_VERSION;
		buf[5] = gram;
		memcpy(buf + 6, &p16, 2);
		uint64_t h = fnv1a(buf, size - 8);
		memcpy(buf + size - 8, &h, 8);
	}
	int status[8];
	double G[64];
	if (pn_shard_facts_unpack(buf, size, round, p, status, gram ? G : NULL) == 0) {
		for (int i = 0; i < p; i++)
			fuzz_require(status[i] >= PN_AGG_USED && status[i] <= PN_AGG_EXCLUDED);
		uint8_t again[16 + 8 + 64 * 8 + 8];
		fuzz_require_same(again, pn_shard_facts_pack(round, p, status, gram ? G : NULL, again),
				  buf, size);
	}
	free(buf);
	return 0;
}
