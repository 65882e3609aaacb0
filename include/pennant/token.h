/* The job token: the secret every process of one job shares (the transport proves it by
 * challenge-response; it never crosses the wire). One loader for every program and
 * binding, so a token that one accepts the others accept too.
 *
 * Sources: a token file (its whole content, one trailing newline stripped; refused when
 * empty, not a regular file, larger than PN_JOB_TOKEN_MAX, or accessible to group or
 * others, like ssh keys: chmod 600), else the environment variable PENNANT_JOB_TOKEN (any
 * string, used as bytes; an empty value is refused). Never the command line: argv is
 * visible to every user in ps. */
#ifndef PENNANT_TOKEN_H
#define PENNANT_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PN_JOB_TOKEN_MAX 4096 /* bytes; the transport's limit (pn_tp_config.secret_len) */
#define PN_JOB_TOKEN_ENV "PENNANT_JOB_TOKEN"

/* From `file` if not NULL, else from PENNANT_JOB_TOKEN, into buf (room for
 * PN_JOB_TOKEN_MAX + 1 bytes; wiped on failure). Returns 1 and *len when a token was
 * loaded, 0 when file is NULL and the variable is unset (*len = 0), or -errno with one
 * line in err. */
int pn_job_token_load(const char *file, uint8_t *buf, size_t *len, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
