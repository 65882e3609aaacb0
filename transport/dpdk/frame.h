/* Wire format of the DPDK backend: Ethernet / IPv4 / UDP / pennant header / payload.
 *
 * This file and frame.c know nothing about DPDK (plain bytes in, plain bytes out), so
 * the parser can be unit-tested and fuzzed without an EAL.
 *
 * The pennant header is packed and little-endian on the wire; every field is read through
 * explicit little-endian loads in frame.c, never by casting the packet to the struct. */
#ifndef PN_DPDK_FRAME_H
#define PN_DPDK_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PN_DP_MAGIC 0x50444e50u /* "PNDP" read as little-endian */
#define PN_DP_VERSION 2 /* 2: authenticated handshake, session tags */

enum pn_dp_type {
	/* Handshake (transport/AUTH.md). req_id pairs the frames of one attempt; tag is 0. */
	PN_DP_HELLO = 1,    /* requester -> listener: src_id, payload = nonce_r */
	PN_DP_ACCEPT = 2,   /* listener -> requester: payload = nonce_l | proof_l */
	PN_DP_READ = 3,     /* read [offset, offset+length) of region `key` */
	PN_DP_DATA = 4,     /* length payload bytes of region `key` at offset */
	PN_DP_ERROR = 5,    /* the READ req_id was refused; aux = positive errno. Untagged in
			     * the handshake: a refused proof, or the requester's abort */
	PN_DP_CTRL = 6,     /* control message, seq = per-peer sequence, payload = message */
	PN_DP_CTRL_ACK = 7, /* cumulative: aux = next sequence expected */
	PN_DP_RAW = 8,      /* benchmark filler: counted, otherwise ignored */
	PN_DP_CONFIRM = 9,  /* requester -> listener: payload = proof_r; tagged */
	PN_DP_READY = 10,   /* listener -> requester: proof accepted, peer created; tagged */
};

/* Handshake payloads. */
#define PN_DP_NONCE_LEN 16
#define PN_DP_PROOF_LEN 32
#define PN_DP_HELLO_LEN PN_DP_NONCE_LEN
#define PN_DP_ACCEPT_LEN (PN_DP_NONCE_LEN + PN_DP_PROOF_LEN)
#define PN_DP_CONFIRM_LEN PN_DP_PROOF_LEN

/* Sizes of the headers on the wire. */
#define PN_DP_ETH_LEN 14
#define PN_DP_IP_LEN 20
#define PN_DP_UDP_LEN 8
#define PN_DP_HDR_LEN 56
#define PN_DP_ALL_HDRS (PN_DP_ETH_LEN + PN_DP_IP_LEN + PN_DP_UDP_LEN + PN_DP_HDR_LEN)
/* Largest control payload (same as PN_TP_CTRL_MAX) and READ length (one request). */
#define PN_DP_CTRL_MAX 256
#define PN_DP_READ_MAX (64u << 20)

/* Header fields, host order. Layout on the wire (offsets in bytes):
 *  0 magic u32 | 4 version u8 | 5 type u8 | 6 flags u16 | 8 tag u64 | 16 src u32 |
 * 20 dst u32 | 24 req_id u64 | 32 key u32 | 36 length u32 | 40 offset u64 | 48 seq u32 |
 * 52 aux u32 */
struct pn_dp_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint64_t tag;             /* the connection's session tag for this direction; 0 in HELLO/ACCEPT */
	uint32_t src_id;
	uint32_t dst_id;
	uint64_t req_id;
	uint32_t key;
	uint32_t length;
	uint64_t offset;
	uint32_t seq;
	uint32_t aux;
};

/* Addressing of one frame (network byte order is handled inside frame.c). */
struct pn_dp_addr {
	uint8_t src_mac[6], dst_mac[6];
	uint32_t src_ip, dst_ip;     /* host order, e.g. 0x0a000001 = 10.0.0.1 */
	uint16_t src_port, dst_port; /* host order */
};

/* Result of parsing one frame. payload points into the caller's buffer. */
struct pn_dp_frame {
	struct pn_dp_addr addr;
	struct pn_dp_hdr hdr;
	const uint8_t *payload;
	uint32_t payload_len;
};

enum pn_dp_parse_err {
	PN_DP_OK = 0,
	PN_DP_E_SHORT = -1,    /* truncated below the headers */
	PN_DP_E_NOT_IP = -2,   /* not IPv4/UDP (ARP, IPv6, other protocols): not ours */
	PN_DP_E_IP = -3,       /* bad IPv4 header, checksum or total length */
	PN_DP_E_UDP = -4,      /* UDP length inconsistent */
	PN_DP_E_MAGIC = -5,    /* not a pennant header */
	PN_DP_E_VERSION = -6,
	PN_DP_E_TYPE = -7,
	PN_DP_E_LENGTH = -8,   /* header length field inconsistent with the payload or type */
};

/* Validate a whole Ethernet frame of `len` bytes: Ethernet II + IPv4 (no options,
 * no fragments, good checksum, total length within the frame) + UDP (length matches)
 * + pennant header (magic, version, known type, per-type length rules). Trailing
 * Ethernet padding after the IP datagram is allowed. Never reads outside [buf, buf+len). */
int pn_dp_parse(const uint8_t *buf, size_t len, struct pn_dp_frame *out);
/* Same for a frame split across buffers: buf holds the first `avail` bytes (at least
 * PN_DP_ALL_HDRS when the frame is that long) of a frame of `len` bytes in total. The
 * payload starts at byte PN_DP_ALL_HDRS of the frame; out->payload is NULL unless the
 * whole frame is in buf. */
int pn_dp_parse_split(const uint8_t *buf, size_t avail, size_t len, struct pn_dp_frame *out);
const char *pn_dp_parse_strerror(int err);

/* Write all headers (Ethernet..pennant) for a frame carrying payload_len bytes into
 * out[PN_DP_ALL_HDRS]. The payload itself follows the headers (separately for zero-copy). */
void pn_dp_build(uint8_t out[PN_DP_ALL_HDRS], const struct pn_dp_addr *a,
		 const struct pn_dp_hdr *h, uint32_t payload_len);

/* Bytes of payload a frame can carry for a given IP MTU. */
static inline uint32_t pn_dp_payload_for_mtu(uint32_t mtu)
{
	return mtu - PN_DP_IP_LEN - PN_DP_UDP_LEN - PN_DP_HDR_LEN;
}

#endif
