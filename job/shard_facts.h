/* The bytes one shard hands another in a sharded round: shard k's facts (its
 * pn_agg_settle status row and partial Gram) for shard 0, and shard 0's decision (merged
 * status and G = Σ_k G_k) for every shard. p²·8 bytes do not fit a control message, so
 * the blob sits in a registered region the other side READs; a control message only says
 * which round and slot. Layout, little-endian:
 *     "PNSF", version (1), has_gram (0/1), p (u16), round (i64),
 *     status[p] (u8 each, a pn_agg_worker_status), G[p×p] (f64, only with has_gram),
 *     FNV-1a 64 of everything before it (u64).
 * The parser takes bytes from another process (a torn or overwritten slot, a peer of
 * another job): anything that is not exactly the expected round's blob is -EBADMSG.
 * Fuzzed by tests/fuzz/fuzz_shard_facts.c. */
#ifndef PENNANT_JOB_SHARD_FACTS_H
#define PENNANT_JOB_SHARD_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PN_SHARD_FACTS_VERSION 1

/* Bytes of one blob for p workers (p in [1, 4095]), with or without the Gram. */
size_t pn_shard_facts_size(int p, bool has_gram);
/* Writes the blob into buf (pn_shard_facts_size bytes); G may be NULL (no Gram). */
size_t pn_shard_facts_pack(int64_t round, int p, const int *status, const double *G,
			   uint8_t *buf);
/* 0 when buf is exactly round's blob for p workers with (G != NULL) or without a Gram:
 * fills status[p] and G[p×p]; -EBADMSG otherwise (outputs then unspecified). */
int pn_shard_facts_unpack(const void *buf, size_t len, int64_t round, int p, int *status,
			  double *G);

#endif
