/* Loading the job secret (see secret.h). */
#include "secret.h"
#include "pennant/token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* The library's loader (pennant/token.h) reads the file or the environment: the tools
 * and the bindings accept exactly the same tokens. */
int pn_secret_load(pn_secret *s, const char *file, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	int rc = pn_job_token_load(file, s->bytes, &s->len, err, errlen);
	if (rc == 1)
		snprintf(s->source, sizeof s->source, file ? "token file %.60s" : "%s",
			 file ? file : PN_SECRET_ENV);
	return rc;
}

int pn_secret_random(pn_secret *s, size_t len, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	if (len < 1 || len > PN_SECRET_MAX) {
		snprintf(err, errlen, "random secret length %zu not in [1, %d]", len, PN_SECRET_MAX);
		return -EINVAL;
	}
	size_t got = 0;
	while (got < len) {
		ssize_t r = getrandom(s->bytes + got, len - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			snprintf(err, errlen, "getrandom: %s", strerror(e));
			explicit_bzero(s->bytes, sizeof s->bytes);
			return -e;
		}
		got += (size_t)r;
	}
	s->len = len;
	snprintf(s->source, sizeof s->source, "random per run");
	return 0;
}

void pn_secret_wipe(pn_secret *s)
{
	explicit_bzero(s->bytes, sizeof s->bytes);
	s->len = 0;
}
