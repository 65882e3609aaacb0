/* Loading the job token for the session's ctypes-friendly constructors. */
#ifndef PENNANT_JOB_SESSION_TOKEN_H
#define PENNANT_JOB_SESSION_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define PN_SESSION_TOKEN_MAX 4096

/* From `file` (whole content, one trailing newline stripped; a regular file of mode
 * 0600 or stricter, 1..4096 bytes) or, when file is NULL, from PENNANT_JOB_TOKEN.
 * buf holds PN_SESSION_TOKEN_MAX + 1 bytes. 0 and *len, or -errno with one line in err. */
int pn_session_token_load(const char *file, uint8_t *buf, size_t *len, char *err, size_t errlen);

#endif
