/* libFuzzer target for the tcp backend's handshake message parser (transport/tcp/wire.c):
 * every byte a listener reads from an unauthenticated client goes through
 * tcp_hs_payload_len (the header) and tcp_hs_parse (the whole message).
 *
 * Invariants on every accepted message: the header announced exactly the payload that
 * was there, and encoding the decoded message gives the input back byte for byte (so
 * nothing in an accepted message is ignored, and constant messages are constant). */
#include "tests/fuzz/fuzz_check.h"
#include "transport/tcp/wire.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_exact_copy(data, size);
	if (size >= TCP_WIRE_HDR_SIZE)
		fuzz_require(tcp_hs_payload_len(buf) <= TCP_HS_MAX - TCP_WIRE_HDR_SIZE);
	struct tcp_hs_msg m;
	if (tcp_hs_parse(buf, size, &m) == 0) {
		fuzz_require(size >= TCP_WIRE_HDR_SIZE && size <= TCP_HS_MAX);
		fuzz_require((size_t)tcp_hs_payload_len(buf) + TCP_WIRE_HDR_SIZE == size);
		uint8_t again[TCP_HS_MAX];
		fuzz_require_same(again, tcp_hs_build(&m, again), buf, size);
	}
	free(buf);
	return 0;
}
