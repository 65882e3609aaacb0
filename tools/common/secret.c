/* Loading the job secret (see secret.h). */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int load_file(pn_secret *s, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "token file %s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "token file %s is not a regular file", path);
	} else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		/* a secret others can read is no secret; the same rule ssh applies to keys */
		rc = -EPERM;
		snprintf(err, errlen, "token file %s is accessible by group or others (mode %04o): "
			 "chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
	} else if (st.st_size > (off_t)PN_SECRET_MAX + 1) {
		rc = -EFBIG;
		snprintf(err, errlen, "token file %s is larger than %d bytes", path, PN_SECRET_MAX);
	}
	uint8_t buf[PN_SECRET_MAX + 2];
	size_t len = 0;
	while (rc == 0 && len < sizeof buf) {
		ssize_t got = read(fd, buf + len, sizeof buf - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -errno;
			snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
		}
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	if (rc == 0 && len > 0 && buf[len - 1] == '\n')
		len--; /* `echo secret > file` adds one */
	if (rc == 0 && len > PN_SECRET_MAX) {
		rc = -EFBIG;
		snprintf(err, errlen, "token file %s is larger than %d bytes", path, PN_SECRET_MAX);
	} else if (rc == 0 && len == 0) {
		rc = -EINVAL;
		snprintf(err, errlen, "token file %s is empty", path);
	}
	if (rc == 0) {
		memcpy(s->bytes, buf, len);
		s->len = len;
		snprintf(s->source, sizeof s->source, "token file %.60s", path);
	}
	explicit_bzero(buf, sizeof buf);
	return rc;
}

int pn_secret_load(pn_secret *s, const char *file, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	if (file) {
		int rc = load_file(s, file, err, errlen);
		return rc < 0 ? rc : 1;
	}
	const char *v = getenv(PN_SECRET_ENV);
	if (!v)
		return 0;
	size_t len = strlen(v);
	if (len == 0) {
		snprintf(err, errlen, "%s is set but empty", PN_SECRET_ENV);
		return -EINVAL;
	}
	if (len > PN_SECRET_MAX) {
		snprintf(err, errlen, "%s is longer than %d bytes", PN_SECRET_ENV, PN_SECRET_MAX);
		return -EFBIG;
	}
	memcpy(s->bytes, v, len);
	s->len = len;
	snprintf(s->source, sizeof s->source, "%s", PN_SECRET_ENV);
	return 1;
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
