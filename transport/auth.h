/* Internal: job authentication shared by every backend (transport/AUTH.md).
 *
 * The job secret never crosses the wire. pn_tp_open derives a 32-byte key from it
 * (pn_auth_key_from_secret) and keeps only that key in the context. A connection is
 * authenticated by challenge-response in both directions over fresh random nonces from
 * both sides:
 *
 *   proof(role) = HMAC-SHA-256(key, "pennant-proof-v1" | label | role |
 *                              nonce_req | nonce_lis | id_req | id_lis)
 *
 * label separates backends (a proof made for tcp is useless on dpdk), role separates the
 * two directions (a listener's proof cannot be reflected back as a requester's). Proofs
 * are compared in constant time. Data-plane frames that need per-frame membership (dpdk)
 * carry a session tag derived from the same key and both nonces, one per direction;
 * never the secret or the key. */
#ifndef PENNANT_TRANSPORT_AUTH_H
#define PENNANT_TRANSPORT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pn_tp_ctx;

#define PN_AUTH_KEY_LEN 32
#define PN_AUTH_NONCE_LEN 16
#define PN_AUTH_PROOF_LEN 32
#define PN_AUTH_SECRET_MAX 4096

enum pn_auth_role {
	PN_AUTH_REQUESTER = 1, /* the side that called connect */
	PN_AUTH_LISTENER = 2,  /* the side that accepted */
};

/* What both sides agree on once the nonces are exchanged. */
struct pn_auth_transcript {
	const char *label;                       /* backend, e.g. "tcp" */
	uint8_t nonce_req[PN_AUTH_NONCE_LEN];
	uint8_t nonce_lis[PN_AUTH_NONCE_LEN];
	uint32_t id_req, id_lis;
};

/* Session tags of one connection, one per direction (dpdk frames). */
struct pn_auth_tags {
	uint64_t from_req, from_lis;
};

/* Key derivation (core only). 0, or -EINVAL for an empty secret or one longer than
 * PN_AUTH_SECRET_MAX, -EIO if libcrypto fails. */
int pn_auth_key_from_secret(const void *secret, size_t len, uint8_t key[PN_AUTH_KEY_LEN]);

/* Overwrite key material (not optimised away). */
void pn_auth_wipe(void *p, size_t len);

/* A fresh random nonce (libcrypto's CSPRNG). 0 or -EIO. */
int pn_auth_nonce(uint8_t out[PN_AUTH_NONCE_LEN]);

/* This context's proof for role over the transcript. 0 or -EIO. */
int pn_auth_prove(const struct pn_tp_ctx *ctx, enum pn_auth_role role,
		  const struct pn_auth_transcript *t, uint8_t out[PN_AUTH_PROOF_LEN]);
/* True only if proof is what a holder of our key would send for role (constant time). */
bool pn_auth_check(const struct pn_tp_ctx *ctx, enum pn_auth_role role,
		   const struct pn_auth_transcript *t, const uint8_t proof[PN_AUTH_PROOF_LEN]);
/* Session tags for the connection (never 0). 0 or -EIO. */
int pn_auth_session_tags(const struct pn_tp_ctx *ctx, const struct pn_auth_transcript *t,
			 struct pn_auth_tags *out);

#endif
