/* TCP backend wire format: every frame starts with a 32-byte little-endian header.
 *
 *   off size field
 *     0    1 type      enum tcp_frame
 *     1    1 version   TCP_WIRE_VERSION
 *     2    2 reserved  0
 *     4    4 key       region key (READ_REQ), node id (HELLO/ACK)
 *     8    8 req_id    request id (READ_*), job token (HELLO/ACK)
 *    16    8 offset    offset in region (READ_REQ), TCP_WIRE_MAGIC (HELLO/ACK)
 *    24    4 len       bytes requested (READ_REQ) or payload bytes that follow (RESP, CTRL)
 *    28    4 status    0 or -errno (READ_RESP, HELLO_ACK)
 */
#ifndef PENNANT_TRANSPORT_TCP_WIRE_H
#define PENNANT_TRANSPORT_TCP_WIRE_H

#include <stdint.h>

#define TCP_WIRE_HDR_SIZE 32
#define TCP_WIRE_VERSION 1
#define TCP_WIRE_MAGIC 0x504e4e54544350ull /* "PNNTTCP" */

enum tcp_frame {
	TCP_HELLO = 1,
	TCP_HELLO_ACK = 2,
	TCP_READ_REQ = 3,
	TCP_READ_RESP = 4,
	TCP_CTRL = 5,
};

struct tcp_wire_hdr {
	uint8_t type, version;
	uint32_t key;
	uint64_t req_id;
	uint64_t offset;
	uint32_t len;
	int32_t status;
};

void tcp_wire_encode(const struct tcp_wire_hdr *h, uint8_t out[TCP_WIRE_HDR_SIZE]);
void tcp_wire_decode(const uint8_t in[TCP_WIRE_HDR_SIZE], struct tcp_wire_hdr *h);

#endif
