/* What the parser fuzz targets share: an exact-size copy of the input (so ASan sees any
 * read past it) and invariant checks; a broken invariant aborts, which libFuzzer
 * records as a crash together with the input. */
#ifndef PN_FUZZ_CHECK_H
#define PN_FUZZ_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint8_t *fuzz_exact_copy(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	return buf;
}

static inline void fuzz_require(bool ok)
{
	if (!ok)
		abort();
}

/* Encoding the decoded message (n bytes in again) gives the input back byte for byte. */
static inline void fuzz_require_same(const uint8_t *again, size_t n, const uint8_t *in, size_t size)
{
	fuzz_require(n == size && memcmp(again, in, size) == 0);
}

#endif
