/* The job secret: the bytes every peer of one job shares and proves it knows (the
 * transport's challenge-response; the secret itself never crosses the wire).
 *
 * Sources, in order of precedence:
 *   a token file (--token-file FILE), else the environment variable PENNANT_JOB_TOKEN:
 *     the library's one loader, pn_job_token_load (pennant/token.h, its rules there);
 *   a random secret drawn per run (pn_secret_random) for a job whose every process is
 *     forked by this one: children inherit it in memory, it is never in argv or environ.
 * The command line is never a source: argv is visible to every user in ps. */
#ifndef PENNANT_TOOLS_SECRET_H
#define PENNANT_TOOLS_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "pennant/token.h"

#define PN_SECRET_MAX PN_JOB_TOKEN_MAX
#define PN_SECRET_ENV PN_JOB_TOKEN_ENV

typedef struct pn_secret {
	uint8_t bytes[PN_SECRET_MAX + 1]; /* + 1: the loader's room to see "too long" */
	size_t len;           /* 0: no secret */
	char source[80];      /* "token file /path", "PENNANT_JOB_TOKEN", "random per run" */
} pn_secret;

/* Loads from `file` if not NULL, else from PENNANT_JOB_TOKEN. Returns 1 when a secret
 * was loaded, 0 when neither source is given (s->len = 0), or a negative errno with a
 * one-line reason in err (nothing loaded). */
int pn_secret_load(pn_secret *s, const char *file, char *err, size_t errlen);
/* Draws `len` (1..PN_SECRET_MAX) random bytes with getrandom. 0 or a negative errno. */
int pn_secret_random(pn_secret *s, size_t len, char *err, size_t errlen);
/* Overwrites the bytes (explicit_bzero). */
void pn_secret_wipe(pn_secret *s);

#endif
