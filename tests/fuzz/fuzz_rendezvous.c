/* libFuzzer target for the rendezvous file's parser (bytes from a shared filesystem any
 * user of it may write). Built and run by tests/fuzz/run-fuzz. Invariant on every
 * accepted file: the fields are NUL-terminated within their buffers, and writing them
 * back gives the very bytes that were parsed. */
#include "pennant/rendezvous.h"
#include "tests/fuzz/fuzz_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > PN_RENDEZVOUS_FILE_MAX + 16)
		return 0;
	uint8_t *buf = fuzz_exact_copy(data, size);
	char job[PN_RENDEZVOUS_JOB_MAX], addr[PN_RENDEZVOUS_ADDR_MAX];
	if (pn_rendezvous_parse((const char *)buf, size, job, sizeof job, addr, sizeof addr) == 0) {
		fuzz_require(memchr(job, 0, sizeof job) && memchr(addr, 0, sizeof addr));
		char again[PN_RENDEZVOUS_FILE_MAX + 1];
		int n = snprintf(again, sizeof again, "pennant-rendezvous 1\njob %s\naddr %s\n", job[0] ? job : "-", addr);
		fuzz_require(n > 0 && (size_t)n == size && memcmp(again, buf, size) == 0);
	}
	free(buf);
	return 0;
}
