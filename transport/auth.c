/* Job authentication: key derivation, nonces, proofs, session tags (see auth.h). */
#include "transport/auth.h"
#include "transport/backend.h"
#include "transport/wire_bytes.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

int pn_auth_key_from_secret(const void *secret, size_t len, uint8_t key[PN_AUTH_KEY_LEN])
{
	static const char info[] = "pennant-job-key-v1";
	if (!secret || len == 0 || len > PN_AUTH_SECRET_MAX)
		return -EINVAL;
	unsigned out_len = 0;
	if (!HMAC(EVP_sha256(), secret, (int)len, (const unsigned char *)info, sizeof(info) - 1, key,
		  &out_len) || out_len != PN_AUTH_KEY_LEN)
		return -EIO;
	return 0;
}

void pn_auth_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}

int pn_auth_nonce(uint8_t out[PN_AUTH_NONCE_LEN])
{
	return RAND_bytes(out, PN_AUTH_NONCE_LEN) == 1 ? 0 : -EIO;
}

/* HMAC(key, what | label | 0 | role | nonce_req | nonce_lis | id_req | id_lis). The label
 * is NUL-terminated in the message so "tc"+"p..." can never equal "tcp"+"...". */
static int mac(const struct pn_tp_ctx *ctx, const char *what, uint8_t role,
	       const struct pn_auth_transcript *t, uint8_t out[32])
{
	uint8_t msg[64 + 2 + 2 * PN_AUTH_NONCE_LEN + 8];
	size_t wl = strlen(what), ll = t->label ? strlen(t->label) : 0;
	if (wl + ll + 2 > 64)
		return -EINVAL;
	size_t n = 0;
	memcpy(msg + n, what, wl);
	n += wl;
	msg[n++] = 0;
	memcpy(msg + n, t->label, ll);
	n += ll;
	msg[n++] = 0;
	msg[n++] = role;
	memcpy(msg + n, t->nonce_req, PN_AUTH_NONCE_LEN);
	n += PN_AUTH_NONCE_LEN;
	memcpy(msg + n, t->nonce_lis, PN_AUTH_NONCE_LEN);
	n += PN_AUTH_NONCE_LEN;
	pn_st_le32(msg + n, t->id_req);
	pn_st_le32(msg + n + 4, t->id_lis);
	n += 8;
	unsigned out_len = 0;
	if (!HMAC(EVP_sha256(), ctx->auth_key, PN_AUTH_KEY_LEN, msg, n, out, &out_len) || out_len != 32)
		return -EIO;
	return 0;
}

int pn_auth_prove(const struct pn_tp_ctx *ctx, enum pn_auth_role role,
		  const struct pn_auth_transcript *t, uint8_t out[PN_AUTH_PROOF_LEN])
{
	return mac(ctx, "pennant-proof-v1", (uint8_t)role, t, out);
}

bool pn_auth_check(const struct pn_tp_ctx *ctx, enum pn_auth_role role,
		   const struct pn_auth_transcript *t, const uint8_t proof[PN_AUTH_PROOF_LEN])
{
	uint8_t want[PN_AUTH_PROOF_LEN];
	if (mac(ctx, "pennant-proof-v1", (uint8_t)role, t, want) != 0)
		return false;
	bool ok = CRYPTO_memcmp(want, proof, PN_AUTH_PROOF_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

static uint64_t le64_nonzero(const uint8_t *p)
{
	uint64_t v = pn_ld_le64(p);
	return v ? v : 1;
}

int pn_auth_session_tags(const struct pn_tp_ctx *ctx, const struct pn_auth_transcript *t,
			 struct pn_auth_tags *out)
{
	uint8_t m[32];
	int rc = mac(ctx, "pennant-session-v1", 0, t, m);
	if (rc)
		return rc;
	out->from_req = le64_nonzero(m);
	out->from_lis = le64_nonzero(m + 8);
	OPENSSL_cleanse(m, sizeof(m));
	return 0;
}
