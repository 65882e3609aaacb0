/* The one encoding of a read's cookie: which round, worker and chunk a landed read is.
 * round (32 bits) | worker (12 bits) | chunk (20 bits). The same value names a landed
 * chunk in the aggregator's list of landed chunks (pipelining off). */
#ifndef PENNANT_JOB_COOKIE_H
#define PENNANT_JOB_COOKIE_H

#include <stdint.h>

#define PN_COOKIE_WORKER_BITS 12
#define PN_COOKIE_CHUNK_BITS 20
#define PN_COOKIE_MAX_WORKERS (1 << PN_COOKIE_WORKER_BITS) /* exclusive */
#define PN_COOKIE_MAX_CHUNKS (1 << PN_COOKIE_CHUNK_BITS)   /* exclusive */

static inline uint64_t pn_cookie_make(int64_t round, int worker, int chunk)
{
	return (uint64_t)round << (PN_COOKIE_WORKER_BITS + PN_COOKIE_CHUNK_BITS) |
	       (uint64_t)worker << PN_COOKIE_CHUNK_BITS | (uint64_t)chunk;
}

static inline int64_t pn_cookie_round(uint64_t c)
{
	return (int64_t)(c >> (PN_COOKIE_WORKER_BITS + PN_COOKIE_CHUNK_BITS));
}

static inline int pn_cookie_worker(uint64_t c)
{
	return (int)(c >> PN_COOKIE_CHUNK_BITS & (PN_COOKIE_MAX_WORKERS - 1));
}

static inline int pn_cookie_chunk(uint64_t c)
{
	return (int)(c & (PN_COOKIE_MAX_CHUNKS - 1));
}

#endif
