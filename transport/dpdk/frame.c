/* Frame builder and validating parser (see frame.h). No DPDK here on purpose. */
#include "frame.h"

#include <string.h>

static uint16_t ld_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t ld_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void st_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void st_be32(uint8_t *p, uint32_t v)
{
	st_be16(p, (uint16_t)(v >> 16));
	st_be16(p + 2, (uint16_t)v);
}
static uint16_t ld_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t ld_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t ld_le64(const uint8_t *p) { return (uint64_t)ld_le32(p) | (uint64_t)ld_le32(p + 4) << 32; }
static void st_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void st_le32(uint8_t *p, uint32_t v)
{
	st_le16(p, (uint16_t)v);
	st_le16(p + 2, (uint16_t)(v >> 16));
}
static void st_le64(uint8_t *p, uint64_t v)
{
	st_le32(p, (uint32_t)v);
	st_le32(p + 4, (uint32_t)(v >> 32));
}

/* RFC 1071 one's-complement sum over the 20-byte IPv4 header. */
static uint16_t ip_checksum(const uint8_t *ip)
{
	uint32_t sum = 0;
	for (int i = 0; i < PN_DP_IP_LEN; i += 2)
		sum += ld_be16(ip + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void pn_dp_build(uint8_t out[PN_DP_ALL_HDRS], const struct pn_dp_addr *a,
		 const struct pn_dp_hdr *h, uint32_t payload_len)
{
	uint8_t *eth = out, *ip = out + PN_DP_ETH_LEN, *udp = ip + PN_DP_IP_LEN;
	uint8_t *ph = udp + PN_DP_UDP_LEN;
	uint32_t udp_len = PN_DP_UDP_LEN + PN_DP_HDR_LEN + payload_len;

	memcpy(eth, a->dst_mac, 6);
	memcpy(eth + 6, a->src_mac, 6);
	st_be16(eth + 12, 0x0800);

	memset(ip, 0, PN_DP_IP_LEN);
	ip[0] = 0x45;                              /* v4, 5 words */
	st_be16(ip + 2, (uint16_t)(PN_DP_IP_LEN + udp_len));
	st_be16(ip + 6, 0x4000);                   /* DF, no fragments */
	ip[8] = 64;                                /* TTL */
	ip[9] = 17;                                /* UDP */
	st_be32(ip + 12, a->src_ip);
	st_be32(ip + 16, a->dst_ip);
	st_be16(ip + 10, ip_checksum(ip));

	st_be16(udp, a->src_port);
	st_be16(udp + 2, a->dst_port);
	st_be16(udp + 4, (uint16_t)udp_len);
	st_be16(udp + 6, 0);                       /* no UDP checksum (allowed in IPv4) */

	st_le32(ph + 0, h->magic);
	ph[4] = h->version;
	ph[5] = h->type;
	st_le16(ph + 6, h->flags);
	st_le64(ph + 8, h->tag);
	st_le32(ph + 16, h->src_id);
	st_le32(ph + 20, h->dst_id);
	st_le64(ph + 24, h->req_id);
	st_le32(ph + 32, h->key);
	st_le32(ph + 36, h->length);
	st_le64(ph + 40, h->offset);
	st_le32(ph + 48, h->seq);
	st_le32(ph + 52, h->aux);
}

/* Per-type rules on the length field and the payload actually present. */
static int check_lengths(const struct pn_dp_hdr *h, uint32_t payload_len)
{
	switch (h->type) {
	case PN_DP_HELLO:
		return h->length == PN_DP_HELLO_LEN && payload_len == PN_DP_HELLO_LEN ? PN_DP_OK : PN_DP_E_LENGTH;
	case PN_DP_ACCEPT:
		return h->length == PN_DP_ACCEPT_LEN && payload_len == PN_DP_ACCEPT_LEN ? PN_DP_OK : PN_DP_E_LENGTH;
	case PN_DP_CONFIRM:
		return h->length == PN_DP_CONFIRM_LEN && payload_len == PN_DP_CONFIRM_LEN ? PN_DP_OK : PN_DP_E_LENGTH;
	case PN_DP_READY:
	case PN_DP_ERROR:
	case PN_DP_CTRL_ACK:
		return payload_len == 0 ? PN_DP_OK : PN_DP_E_LENGTH;
	case PN_DP_READ:
		if (payload_len != 0 || h->length == 0 || h->length > PN_DP_READ_MAX)
			return PN_DP_E_LENGTH;
		break;
	case PN_DP_DATA:
		if (h->length == 0 || h->length != payload_len)
			return PN_DP_E_LENGTH;
		break;
	case PN_DP_CTRL:
		if (h->length != payload_len || h->length > PN_DP_CTRL_MAX)
			return PN_DP_E_LENGTH;
		return PN_DP_OK;
	case PN_DP_RAW:
		return h->length == payload_len ? PN_DP_OK : PN_DP_E_LENGTH;
	default:
		return PN_DP_E_TYPE;
	}
	if (h->offset > UINT64_MAX - h->length)
		return PN_DP_E_LENGTH;
	return PN_DP_OK;
}

int pn_dp_parse(const uint8_t *buf, size_t len, struct pn_dp_frame *out)
{
	return pn_dp_parse_split(buf, len, len, out);
}

int pn_dp_parse_split(const uint8_t *buf, size_t avail, size_t len, struct pn_dp_frame *out)
{
	if (avail > len)
		avail = len;
	if (len < PN_DP_ETH_LEN + PN_DP_IP_LEN + PN_DP_UDP_LEN || avail < PN_DP_ETH_LEN + PN_DP_IP_LEN + PN_DP_UDP_LEN)
		return PN_DP_E_SHORT;
	if (ld_be16(buf + 12) != 0x0800)
		return PN_DP_E_NOT_IP;
	const uint8_t *ip = buf + PN_DP_ETH_LEN;
	if (ip[0] != 0x45)                 /* IPv4 without options only */
		return (ip[0] >> 4) == 4 ? PN_DP_E_IP : PN_DP_E_NOT_IP;
	if (ip[9] != 17)
		return PN_DP_E_NOT_IP;
	uint16_t ip_total = ld_be16(ip + 2);
	if (ip_total < PN_DP_IP_LEN + PN_DP_UDP_LEN || ip_total > len - PN_DP_ETH_LEN)
		return PN_DP_E_IP;
	if ((ld_be16(ip + 6) & 0x3fff) != 0) /* MF set or fragment offset: we never fragment */
		return PN_DP_E_IP;
	if (ip_checksum(ip) != 0)
		return PN_DP_E_IP;
	const uint8_t *udp = ip + PN_DP_IP_LEN;
	uint16_t udp_len = ld_be16(udp + 4);
	if (udp_len != ip_total - PN_DP_IP_LEN)
		return PN_DP_E_UDP;
	if (udp_len < PN_DP_UDP_LEN + PN_DP_HDR_LEN || avail < PN_DP_ALL_HDRS)
		return PN_DP_E_SHORT;

	const uint8_t *ph = udp + PN_DP_UDP_LEN;
	struct pn_dp_hdr *h = &out->hdr;
	h->magic = ld_le32(ph);
	if (h->magic != PN_DP_MAGIC)
		return PN_DP_E_MAGIC;
	h->version = ph[4];
	if (h->version != PN_DP_VERSION)
		return PN_DP_E_VERSION;
	h->type = ph[5];
	h->flags = ld_le16(ph + 6);
	h->tag = ld_le64(ph + 8);
	h->src_id = ld_le32(ph + 16);
	h->dst_id = ld_le32(ph + 20);
	h->req_id = ld_le64(ph + 24);
	h->key = ld_le32(ph + 32);
	h->length = ld_le32(ph + 36);
	h->offset = ld_le64(ph + 40);
	h->seq = ld_le32(ph + 48);
	h->aux = ld_le32(ph + 52);

	uint32_t payload_len = udp_len - PN_DP_UDP_LEN - PN_DP_HDR_LEN;
	int rc = check_lengths(h, payload_len);
	if (rc != PN_DP_OK)
		return rc;

	memcpy(out->addr.dst_mac, buf, 6);
	memcpy(out->addr.src_mac, buf + 6, 6);
	out->addr.src_ip = ld_be32(ip + 12);
	out->addr.dst_ip = ld_be32(ip + 16);
	out->addr.src_port = ld_be16(udp);
	out->addr.dst_port = ld_be16(udp + 2);
	/* Only meaningful when the caller passed the whole frame contiguously. */
	out->payload = avail >= (size_t)PN_DP_ALL_HDRS + payload_len ? ph + PN_DP_HDR_LEN : NULL;
	out->payload_len = payload_len;
	return PN_DP_OK;
}

const char *pn_dp_parse_strerror(int err)
{
	switch (err) {
	case PN_DP_OK: return "ok";
	case PN_DP_E_SHORT: return "truncated frame";
	case PN_DP_E_NOT_IP: return "not IPv4/UDP";
	case PN_DP_E_IP: return "bad IPv4 header";
	case PN_DP_E_UDP: return "bad UDP length";
	case PN_DP_E_MAGIC: return "bad magic";
	case PN_DP_E_VERSION: return "unsupported version";
	case PN_DP_E_TYPE: return "unknown frame type";
	case PN_DP_E_LENGTH: return "inconsistent length";
	default: return "unknown error";
	}
}
