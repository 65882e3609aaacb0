/* The job token for pn_session_join_simple/_opts (include/pennant/session.h): from a
 * token file that only its owner can read, or from PENNANT_JOB_TOKEN. Never from an
 * argument string: a token on a command line is visible to every user in ps. */
#include "job/session_token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int from_file(const char *path, uint8_t *buf, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "token file %s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) != 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	else if (st.st_mode & (S_IRWXG | S_IRWXO))
		rc = -EPERM; /* readable by others: not a secret (chmod 600, as for ssh keys) */
	size_t got = 0;
	while (rc == 0 && got <= PN_SESSION_TOKEN_MAX) {
		/* one byte of room beyond the limit tells "too long" from "exactly the limit" */
		ssize_t r = read(fd, buf + got, PN_SESSION_TOKEN_MAX + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = -errno;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (rc == 0 && got > 0 && buf[got - 1] == '\n')
		got--;
	if (rc == 0 && (got == 0 || got > PN_SESSION_TOKEN_MAX))
		rc = got ? -EFBIG : -EINVAL;
	if (rc)
		snprintf(err, errlen, "token file %s: %s", path,
			 rc == -EPERM ? "accessible by group or others (chmod 600)"
			 : rc == -EINVAL ? "empty or not a regular file"
			 : rc == -EFBIG ? "larger than 4096 bytes" : strerror(-rc));
	*len = rc ? 0 : got;
	return rc;
}

int pn_session_token_load(const char *file, uint8_t *buf, size_t *len, char *err, size_t errlen)
{
	if (file)
		return from_file(file, buf, len, err, errlen);
	const char *v = getenv("PENNANT_JOB_TOKEN");
	size_t n = v ? strlen(v) : 0;
	if (n == 0 || n > PN_SESSION_TOKEN_MAX) {
		snprintf(err, errlen, "no job token: set PENNANT_JOB_TOKEN (1..%d bytes) or give a token file",
			 PN_SESSION_TOKEN_MAX);
		return -EINVAL;
	}
	memcpy(buf, v, n);
	*len = n;
	return 0;
}
