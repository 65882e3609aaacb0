/* libFuzzer target for the dpdk backend's frame parser (transport/dpdk/frame.c).
 * Built and run by scripts/dpdk-fuzz (clang -fsanitize=fuzzer,address,undefined).
 *
 * The first input byte picks a mode:
 *   even: the rest is a raw frame (anything a port could deliver);
 *   odd:  the rest fills a header and addresses, a valid frame is built from them (so
 *         checksums are right and the fuzzer reaches the deep checks), then later input
 *         bytes overwrite chosen offsets of that frame and its length is cut.
 * Invariants checked on every accepted frame: the payload lies inside the input, the
 * per-type length rules hold, and rebuilding from the parsed fields gives the same
 * headers back. */
#include "transport/dpdk/frame.h"

#include <stdlib.h>
#include <string.h>

static void check_accepted(const uint8_t *buf, size_t len, const struct pn_dp_frame *f)
{
	if ((size_t)PN_DP_ALL_HDRS + f->payload_len > len)
		abort();
	if (f->payload && f->payload != buf + PN_DP_ALL_HDRS)
		abort();
	switch (f->hdr.type) {
	case PN_DP_DATA:
		if (f->hdr.length != f->payload_len || !f->payload_len)
			abort();
		break;
	case PN_DP_READ:
		if (f->payload_len || !f->hdr.length || f->hdr.length > PN_DP_READ_MAX ||
		    f->hdr.offset + f->hdr.length < f->hdr.offset)
			abort();
		break;
	case PN_DP_CTRL:
		if (f->hdr.length != f->payload_len || f->payload_len > PN_DP_CTRL_MAX)
			abort();
		break;
	case PN_DP_HELLO: /* handshake frames: exactly their fixed payload */
		if (f->payload_len != PN_DP_HELLO_LEN || f->hdr.length != PN_DP_HELLO_LEN)
			abort();
		break;
	case PN_DP_ACCEPT:
		if (f->payload_len != PN_DP_ACCEPT_LEN || f->hdr.length != PN_DP_ACCEPT_LEN)
			abort();
		break;
	case PN_DP_CONFIRM:
		if (f->payload_len != PN_DP_CONFIRM_LEN || f->hdr.length != PN_DP_CONFIRM_LEN)
			abort();
		break;
	case PN_DP_READY:
		if (f->payload_len)
			abort();
		break;
	default:
		break;
	}
	uint8_t again[PN_DP_ALL_HDRS];
	pn_dp_build(again, &f->addr, &f->hdr, f->payload_len);
	/* Identical in every field the parser interprets. Not compared: IP TOS (15), id,
	 * flags/fragment offset (DF may be either), TTL (18-22), the IP checksum that covers
	 * them (24-25) and the UDP checksum (40-41): we write fixed values, accept any. */
	static const struct { int from, to; } same[] = {{0, 15}, {16, 18}, {23, 24}, {26, 40}, {42, PN_DP_ALL_HDRS}};
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
		if (memcmp(again + same[i].from, buf + same[i].from, (size_t)(same[i].to - same[i].from)))
			abort();
}

static size_t take(const uint8_t **d, size_t *n, void *out, size_t want)
{
	size_t k = *n < want ? *n : want;
	memset(out, 0, want);
	memcpy(out, *d, k);
	*d += k;
	*n -= k;
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	struct pn_dp_frame f;
	if (!(mode & 1)) {
		/* copy so that ASan sees the exact bounds */
		uint8_t *buf = malloc(size ? size : 1);
		memcpy(buf, data, size);
		if (pn_dp_parse(buf, size, &f) == PN_DP_OK)
			check_accepted(buf, size, &f);
		size_t avail = mode < size ? mode : size;
		if (pn_dp_parse_split(buf, avail, size, &f) == PN_DP_OK && f.payload)
			abort(); /* payload pointer only for whole frames */
		free(buf);
		return 0;
	}
	struct pn_dp_hdr h;
	struct pn_dp_addr a;
	uint16_t payload;
	take(&data, &size, &h, sizeof h);
	take(&data, &size, &a, sizeof a);
	take(&data, &size, &payload, sizeof payload);
	payload %= 9000;
	if (mode & 2) { /* mostly-valid header: let the fuzzer focus on lengths and types */
		h.magic = PN_DP_MAGIC;
		h.version = PN_DP_VERSION;
	}
	size_t len = (size_t)PN_DP_ALL_HDRS + payload;
	uint8_t *buf = calloc(1, len);
	pn_dp_build(buf, &a, &h, payload);
	/* then corrupt: pairs of (offset, value) */
	while (size >= 3) {
		size_t off = (size_t)(data[0] | data[1] << 8) % len;
		buf[off] = data[2];
		data += 3;
		size -= 3;
	}
	size_t cut = size ? len - (size_t)data[0] % (len + 1) : len;
	uint8_t *exact = malloc(cut ? cut : 1);
	memcpy(exact, buf, cut);
	if (pn_dp_parse(exact, cut, &f) == PN_DP_OK)
		check_accepted(exact, cut, &f);
	free(exact);
	free(buf);
	return 0;
}
