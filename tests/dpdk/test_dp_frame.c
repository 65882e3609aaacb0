/* The dpdk backend's frame builder and validating parser (no DPDK needed). */
#include "transport/dpdk/frame.h"

#include <criterion/criterion.h>
#include <string.h>

static const struct pn_dp_addr addr = {
	.src_mac = {2, 0, 0, 0, 0, 1}, .dst_mac = {2, 0, 0, 0, 0, 2},
	.src_ip = 0x0a000001, .dst_ip = 0x0a000002, .src_port = 7001, .dst_port = 7002};

static struct pn_dp_hdr hdr(uint8_t type, uint32_t length)
{
	struct pn_dp_hdr h = {.magic = PN_DP_MAGIC, .version = PN_DP_VERSION, .type = type,
			      .flags = 1, .tag = 0x1122334455667788ull, .src_id = 4, .dst_id = 9,
			      .req_id = 0xabcdef0123ull, .key = 0x77, .length = length,
			      .offset = 1ull << 40, .seq = 17, .aux = 1424};
	return h;
}

static size_t make(uint8_t *buf, const struct pn_dp_hdr *h, uint32_t payload)
{
	pn_dp_build(buf, &addr, h, payload);
	for (uint32_t i = 0; i < payload; i++)
		buf[PN_DP_ALL_HDRS + i] = (uint8_t)i;
	return PN_DP_ALL_HDRS + payload;
}

Test(dpdk_frame, header_layout_is_56_bytes)
{
	cr_assert_eq(PN_DP_HDR_LEN, 56);
	cr_assert_eq(PN_DP_ALL_HDRS, 98);
	cr_assert_eq(pn_dp_payload_for_mtu(1500), 1416u);
}

Test(dpdk_frame, build_then_parse_round_trips_every_field)
{
	uint8_t buf[2048];
	struct pn_dp_hdr h = hdr(PN_DP_DATA, 1000);
	size_t len = make(buf, &h, 1000);
	struct pn_dp_frame f;
	cr_assert_eq(pn_dp_parse(buf, len, &f), PN_DP_OK);
	cr_assert_eq(memcmp(&f.hdr, &h, sizeof h), 0);
	cr_assert_eq(memcmp(&f.addr, &addr, sizeof addr), 0);
	cr_assert_eq(f.payload_len, 1000);
	cr_assert_eq(f.payload, buf + PN_DP_ALL_HDRS);
	/* Ethernet padding after the datagram is allowed */
	cr_assert_eq(pn_dp_parse(buf, len + 20, &f), PN_DP_OK);
	cr_assert_eq(f.payload_len, 1000);
}

Test(dpdk_frame, every_truncation_is_rejected)
{
	uint8_t buf[2048];
	struct pn_dp_hdr h = hdr(PN_DP_DATA, 300);
	size_t len = make(buf, &h, 300);
	struct pn_dp_frame f;
	for (size_t cut = 0; cut < len; cut++)
		cr_assert_neq(pn_dp_parse(buf, cut, &f), PN_DP_OK, "accepted a frame cut at %zu", cut);
}

Test(dpdk_frame, split_parse_matches_contiguous_parse)
{
	uint8_t buf[2048];
	struct pn_dp_hdr h = hdr(PN_DP_DATA, 500);
	size_t len = make(buf, &h, 500);
	struct pn_dp_frame f;
	cr_assert_eq(pn_dp_parse_split(buf, PN_DP_ALL_HDRS, len, &f), PN_DP_OK);
	cr_assert_null(f.payload);
	cr_assert_eq(f.payload_len, 500);
	cr_assert_eq(pn_dp_parse_split(buf, PN_DP_ALL_HDRS - 1, len, &f), PN_DP_E_SHORT);
}

Test(dpdk_frame, ip_and_udp_damage_is_rejected)
{
	uint8_t buf[2048], bad[2048];
	struct pn_dp_hdr h = hdr(PN_DP_READ, 100);
	size_t len = make(buf, &h, 0);
	struct pn_dp_frame f;
	memcpy(bad, buf, len); bad[12] = 0x86; bad[13] = 0xdd;  /* IPv6 ethertype */
	cr_assert_eq(pn_dp_parse(bad, len, &f), PN_DP_E_NOT_IP);
	memcpy(bad, buf, len); bad[14 + 9] = 6;                 /* TCP */
	cr_assert_eq(pn_dp_parse(bad, len, &f), PN_DP_E_NOT_IP);
	memcpy(bad, buf, len); bad[14 + 8] ^= 1;                /* TTL flip: checksum fails */
	cr_assert_eq(pn_dp_parse(bad, len, &f), PN_DP_E_IP);
	memcpy(bad, buf, len); bad[14] = 0x46;                  /* IP options */
	cr_assert_eq(pn_dp_parse(bad, len, &f), PN_DP_E_IP);
	memcpy(bad, buf, len); bad[14 + 3] += 4;                /* total length beyond frame */
	cr_assert_eq(pn_dp_parse(bad, len, &f), PN_DP_E_IP);
	memcpy(bad, buf, len); bad[14 + 20 + 5] += 1;           /* UDP length disagrees */
	cr_assert_eq(pn_dp_parse(bad, len, &f), PN_DP_E_UDP);
}

Test(dpdk_frame, header_damage_is_rejected)
{
	uint8_t buf[2048];
	struct pn_dp_frame f;
	struct pn_dp_hdr h = hdr(PN_DP_READ, 100);
	h.magic ^= 1;
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, 0), &f), PN_DP_E_MAGIC);
	h = hdr(PN_DP_READ, 100); h.version = 1; /* the unauthenticated protocol */
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, 0), &f), PN_DP_E_VERSION);
	h = hdr(0, 0);
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, 0), &f), PN_DP_E_TYPE);
	h = hdr(200, 0);
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, 0), &f), PN_DP_E_TYPE);
}

Test(dpdk_frame, per_type_length_rules)
{
	uint8_t buf[2048];
	struct pn_dp_frame f;
	struct pn_dp_hdr h;
	h = hdr(PN_DP_READ, 0);                 /* empty read */
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, 0), &f), PN_DP_E_LENGTH);
	h = hdr(PN_DP_READ, PN_DP_READ_MAX + 1);
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, 0), &f), PN_DP_E_LENGTH);
	h = hdr(PN_DP_READ, 10);                /* a read carries no payload */
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, 5), &f), PN_DP_E_LENGTH);
	h = hdr(PN_DP_READ, 10); h.offset = UINT64_MAX - 5; /* offset + length overflows */
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, 0), &f), PN_DP_E_LENGTH);
	h = hdr(PN_DP_DATA, 100);               /* length says 100, 99 present */
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, 99), &f), PN_DP_E_LENGTH);
	h = hdr(PN_DP_DATA, 0);
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, 0), &f), PN_DP_E_LENGTH);
	h = hdr(PN_DP_CTRL, PN_DP_CTRL_MAX + 1);
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, PN_DP_CTRL_MAX + 1), &f), PN_DP_E_LENGTH);
	h = hdr(PN_DP_CTRL, PN_DP_CTRL_MAX);
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, PN_DP_CTRL_MAX), &f), PN_DP_OK);
	h = hdr(PN_DP_HELLO, 0);
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, 3), &f), PN_DP_E_LENGTH);
	/* handshake frames: exact payloads, length field equal to it */
	const struct { uint8_t type; uint32_t len; } hs[] = {
		{ PN_DP_HELLO, PN_DP_HELLO_LEN }, { PN_DP_ACCEPT, PN_DP_ACCEPT_LEN },
		{ PN_DP_CONFIRM, PN_DP_CONFIRM_LEN }, { PN_DP_READY, 0 } };
	for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
		h = hdr(hs[i].type, hs[i].len);
		cr_assert_eq(pn_dp_parse(buf, make(buf, &h, hs[i].len), &f), PN_DP_OK, "type %u", hs[i].type);
		cr_assert_eq(f.payload_len, hs[i].len);
		h = hdr(hs[i].type, hs[i].len + 1);
		cr_assert_eq(pn_dp_parse(buf, make(buf, &h, hs[i].len + 1), &f), PN_DP_E_LENGTH, "type %u", hs[i].type);
		if (hs[i].len) {
			h = hdr(hs[i].type, hs[i].len);
			cr_assert_eq(pn_dp_parse(buf, make(buf, &h, hs[i].len - 1), &f), PN_DP_E_LENGTH);
			h = hdr(hs[i].type, 0);
			cr_assert_eq(pn_dp_parse(buf, make(buf, &h, hs[i].len), &f), PN_DP_E_LENGTH);
		}
	}
	h = hdr(PN_DP_CTRL_ACK, 0);
	cr_assert_eq(pn_dp_parse(buf, make(buf, &h, 0), &f), PN_DP_OK);
}

Test(dpdk_frame, random_bytes_never_parse_as_ours)
{
	uint8_t buf[512];
	struct pn_dp_frame f;
	uint64_t x = 12345;
	for (int round = 0; round < 20000; round++) {
		for (size_t i = 0; i < sizeof buf; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			buf[i] = (uint8_t)(x >> 56);
		}
		cr_assert_neq(pn_dp_parse(buf, (size_t)(x % sizeof buf), &f), PN_DP_OK);
	}
}
