/* Connection private data of the verbs backend: a fixed little-endian record carried by
 * rdma_cm CONNECT (32 bytes), ACCEPT (64, with the listener's proof) and REJECT (32;
 * RDMA_PS_TCP allows 56 bytes in a CONNECT). Layout in verbs.h. */
#include "transport/verbs/verbs.h"
#include "transport/wire_bytes.h"

#include <errno.h>
#include <string.h>

void verbs_hello_pack(const struct verbs_hello *h, bool with_proof, uint8_t out[VERBS_ACCEPT_SIZE])
{
	pn_st_le32(out, h->magic);
	pn_st_le16(out + 4, h->version);
	pn_st_le16(out + 6, h->ctrl_depth);
	pn_st_le32(out + 8, h->node_id);
	pn_st_le32(out + 12, h->reject);
	memcpy(out + 16, h->nonce, VERBS_NONCE_LEN);
	if (with_proof)
		memcpy(out + 32, h->proof, VERBS_PROOF_LEN);
}

int verbs_hello_unpack(const void *in, size_t len, bool with_proof, struct verbs_hello *h)
{
	const uint8_t *p = in;
	memset(h, 0, sizeof(*h));
	if (!p || len < (with_proof ? VERBS_ACCEPT_SIZE : VERBS_HELLO_SIZE))
		return -EPROTO;
	h->magic = pn_ld_le32(p);
	h->version = pn_ld_le16(p + 4);
	h->ctrl_depth = pn_ld_le16(p + 6);
	h->node_id = pn_ld_le32(p + 8);
	h->reject = pn_ld_le32(p + 12);
	memcpy(h->nonce, p + 16, VERBS_NONCE_LEN);
	if (with_proof)
		memcpy(h->proof, p + 32, VERBS_PROOF_LEN);
	if (h->magic != VERBS_HELLO_MAGIC || h->version != VERBS_HELLO_VERSION)
		return -EPROTO;
	return 0;
}
