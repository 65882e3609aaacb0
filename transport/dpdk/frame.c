/* Frame builder and validating parser (see frame.h). No DPDK here on purpose. */
#include "frame.h"
#include "transport/wire_bytes.h"

#include <string.h>

/* RFC 1071 one's-complement sum over the 20-byte IPv4 header. */
static uint16_t ip_checksum(const uint8_t *ip)
{
	uint32_t sum = 0;
	for (int i = 0; i < PN_DP_IP_LEN; i += 2)
		sum += pn_ld_be16(ip + i);
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
	pn_st_be16(eth + 12, 0x0800);

	memset(ip, 0, PN_DP_IP_LEN);
	ip[0] = 0x45;                              /* v4, 5 words */
	pn_st_be16(ip + 2, (uint16_t)(PN_DP_IP_LEN + udp_len));
	pn_st_be16(ip + 6, 0x4000);                   /* DF, no fragments */
	ip[8] = 64;                                /* TTL */
	ip[9] = 17;                                /* UDP */
	pn_st_be32(ip + 12, a->src_ip);
	pn_st_be32(ip + 16, a->dst_ip);
	pn_st_be16(ip + 10, ip_checksum(ip));

	pn_st_be16(udp, a->src_port);
	pn_st_be16(udp + 2, a->dst_port);
	pn_st_be16(udp + 4, (uint16_t)udp_len);
	pn_st_be16(udp + 6, 0);                       /* no UDP checksum (allowed in IPv4) */

	pn_st_le32(ph + 0, h->magic);
	ph[4] = h->version;
	ph[5] = h->type;
	pn_st_le16(ph + 6, h->flags);
	pn_st_le64(ph + 8, h->tag);
	pn_st_le32(ph + 16, h->src_id);
	pn_st_le32(ph + 20, h->dst_id);
	pn_st_le64(ph + 24, h->req_id);
	pn_st_le32(ph + 32, h->key);
	pn_st_le32(ph + 36, h->length);
	pn_st_le64(ph + 40, h->offset);
	pn_st_le32(ph + 48, h->seq);
	pn_st_le32(ph + 52, h->aux);
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
	if (pn_ld_be16(buf + 12) != 0x0800)
		return PN_DP_E_NOT_IP;
	const uint8_t *ip = buf + PN_DP_ETH_LEN;
	if (ip[0] != 0x45)                 /* IPv4 without options only */
		return (ip[0] >> 4) == 4 ? PN_DP_E_IP : PN_DP_E_NOT_IP;
	if (ip[9] != 17)
		return PN_DP_E_NOT_IP;
	uint16_t ip_total = pn_ld_be16(ip + 2);
	if (ip_total < PN_DP_IP_LEN + PN_DP_UDP_LEN || ip_total > len - PN_DP_ETH_LEN)
		return PN_DP_E_IP;
	if ((pn_ld_be16(ip + 6) & 0x3fff) != 0) /* MF set or fragment offset: we never fragment */
		return PN_DP_E_IP;
	if (ip_checksum(ip) != 0)
		return PN_DP_E_IP;
	const uint8_t *udp = ip + PN_DP_IP_LEN;
	uint16_t udp_len = pn_ld_be16(udp + 4);
	if (udp_len != ip_total - PN_DP_IP_LEN)
		return PN_DP_E_UDP;
	if (udp_len < PN_DP_UDP_LEN + PN_DP_HDR_LEN || avail < PN_DP_ALL_HDRS)
		return PN_DP_E_SHORT;

	const uint8_t *ph = udp + PN_DP_UDP_LEN;
	struct pn_dp_hdr *h = &out->hdr;
	h->magic = pn_ld_le32(ph);
	if (h->magic != PN_DP_MAGIC)
		return PN_DP_E_MAGIC;
	h->version = ph[4];
	if (h->version != PN_DP_VERSION)
		return PN_DP_E_VERSION;
	h->type = ph[5];
	h->flags = pn_ld_le16(ph + 6);
	h->tag = pn_ld_le64(ph + 8);
	h->src_id = pn_ld_le32(ph + 16);
	h->dst_id = pn_ld_le32(ph + 20);
	h->req_id = pn_ld_le64(ph + 24);
	h->key = pn_ld_le32(ph + 32);
	h->length = pn_ld_le32(ph + 36);
	h->offset = pn_ld_le64(ph + 40);
	h->seq = pn_ld_le32(ph + 48);
	h->aux = pn_ld_le32(ph + 52);

	uint32_t payload_len = udp_len - PN_DP_UDP_LEN - PN_DP_HDR_LEN;
	int rc = check_lengths(h, payload_len);
	if (rc != PN_DP_OK)
		return rc;

	memcpy(out->addr.dst_mac, buf, 6);
	memcpy(out->addr.src_mac, buf + 6, 6);
	out->addr.src_ip = pn_ld_be32(ip + 12);
	out->addr.dst_ip = pn_ld_be32(ip + 16);
	out->addr.src_port = pn_ld_be16(udp);
	out->addr.dst_port = pn_ld_be16(udp + 2);
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
