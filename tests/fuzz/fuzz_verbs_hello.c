/* libFuzzer target for the verbs backend's connection private data parser
 * (transport/verbs/verbs_hello.c): what a listener reads from any rdma_cm CONNECT, and a
 * requester from an ACCEPT or REJECT.
 *
 * The first byte picks with or without the listener's proof. Invariants on every
 * accepted record: it was long enough, magic and version are ours, and packing the
 * decoded record gives back the bytes it was read from. */
#include "transport/verbs/verbs.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool with_proof = data[0] & 1;
	data++;
	size--;
	uint8_t *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	struct verbs_hello h;
	if (verbs_hello_unpack(size ? buf : NULL, size, with_proof, &h) == 0) {
		size_t want = with_proof ? VERBS_ACCEPT_SIZE : VERBS_HELLO_SIZE;
		if (size < want || h.magic != VERBS_HELLO_MAGIC || h.version != VERBS_HELLO_VERSION)
			abort();
		uint8_t again[VERBS_ACCEPT_SIZE];
		verbs_hello_pack(&h, with_proof, again);
		if (memcmp(again, buf, want) != 0)
			abort();
	}
	free(buf);
	return 0;
}
