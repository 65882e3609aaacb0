/* Encode/decode of the TCP frame header (layout in wire.h). */
#include "transport/tcp/wire.h"

#include <endian.h>
#include <string.h>

void tcp_wire_encode(const struct tcp_wire_hdr *h, uint8_t out[TCP_WIRE_HDR_SIZE])
{
	uint32_t u32;
	uint64_t u64;
	out[0] = h->type;
	out[1] = TCP_WIRE_VERSION;
	out[2] = out[3] = 0;
	u32 = htole32(h->key);
	memcpy(out + 4, &u32, 4);
	u64 = htole64(h->req_id);
	memcpy(out + 8, &u64, 8);
	u64 = htole64(h->offset);
	memcpy(out + 16, &u64, 8);
	u32 = htole32(h->len);
	memcpy(out + 24, &u32, 4);
	u32 = htole32((uint32_t)h->status);
	memcpy(out + 28, &u32, 4);
}

void tcp_wire_decode(const uint8_t in[TCP_WIRE_HDR_SIZE], struct tcp_wire_hdr *h)
{
	uint32_t u32;
	uint64_t u64;
	h->type = in[0];
	h->version = in[1];
	memcpy(&u32, in + 4, 4);
	h->key = le32toh(u32);
	memcpy(&u64, in + 8, 8);
	h->req_id = le64toh(u64);
	memcpy(&u64, in + 16, 8);
	h->offset = le64toh(u64);
	memcpy(&u32, in + 24, 4);
	h->len = le32toh(u32);
	memcpy(&u32, in + 28, 4);
	h->status = (int32_t)le32toh(u32);
}
