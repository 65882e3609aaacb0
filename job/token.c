/* The job token loader (include/pennant/token.h). */
#include "pennant/token.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 0, or why the open token file cannot be a secret (-errno, one line in err). */
static int check_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return pn_fail(err, errlen, -errno, "token file %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return pn_fail(err, errlen, -EINVAL, "token file %s is not a regular file", path);
	if (st.st_mode & (S_IRWXG | S_IRWXO)) /* a secret others can read is no secret */
		return pn_fail(err, errlen, -EPERM, "token file %s is accessible by group or others "
			       "(mode %04o): chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
	if (st.st_size > (off_t)PN_JOB_TOKEN_MAX + 1)
		return pn_fail(err, errlen, -EFBIG, "token file %s is larger than %d bytes", path,
			       PN_JOB_TOKEN_MAX);
	return 0;
}

static int from_file(const char *path, uint8_t *buf, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return pn_fail(err, errlen, -errno, "token file %s: %s", path, strerror(errno));
	int rc = check_file(fd, path, err, errlen);
	size_t got = 0;
	while (rc == 0 && got <= PN_JOB_TOKEN_MAX) {
		/* one byte of room beyond the limit tells "too long" from "exactly the limit" */
		ssize_t r = read(fd, buf + got, PN_JOB_TOKEN_MAX + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = pn_fail(err, errlen, -errno, "token file %s: %s", path, strerror(errno));
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (rc == 0 && got > 0 && buf[got - 1] == '\n')
		got--; /* `echo secret > file` adds one */
	if (rc == 0 && got > PN_JOB_TOKEN_MAX)
		rc = pn_fail(err, errlen, -EFBIG, "token file %s is larger than %d bytes", path,
			     PN_JOB_TOKEN_MAX);
	else if (rc == 0 && got == 0)
		rc = pn_fail(err, errlen, -EINVAL, "token file %s is empty", path);
	*len = rc ? 0 : got;
	return rc ? rc : 1;
}

int pn_job_token_load(const char *file, uint8_t *buf, size_t *len, char *err, size_t errlen)
{
	*len = 0;
	int rc;
	if (file) {
		rc = from_file(file, buf, len, err, errlen);
	} else {
		const char *v = getenv(PN_JOB_TOKEN_ENV);
		size_t n = v ? strlen(v) : 0;
		if (!v)
			return 0;
		if (n == 0)
			rc = pn_fail(err, errlen, -EINVAL, "%s is set but empty", PN_JOB_TOKEN_ENV);
		else if (n > PN_JOB_TOKEN_MAX)
			rc = pn_fail(err, errlen, -EFBIG, "%s is longer than %d bytes", PN_JOB_TOKEN_ENV,
				     PN_JOB_TOKEN_MAX);
		else
			memcpy(buf, v, n), *len = n, rc = 1;
	}
	if (rc < 0)
		explicit_bzero(buf, PN_JOB_TOKEN_MAX + 1);
	return rc;
}
