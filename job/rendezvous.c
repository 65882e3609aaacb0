/* Rendezvous through the environment or a shared file (pennant/rendezvous.h). */
#include "pennant/rendezvous.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char header[] = "pennant-rendezvous 1";

/* A job id or host name: letters, digits and . _ : @ + - only (nothing a shell, a path
 * or the file's own syntax gives a meaning to). */
static bool token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("._:@+-", c));
}

static bool plain_token(const char *s, size_t len)
{
	if (len == 0 || len >= PN_RENDEZVOUS_JOB_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!token_char(s[i]))
			return false;
	return true;
}

/* HOST:PORT or [V6]:PORT: a host of plain characters, a port 0..65535. */
static bool valid_addr(const char *s, size_t len)
{
	if (len == 0 || len >= PN_RENDEZVOUS_ADDR_MAX)
		return false;
	const char *colon = NULL;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ':')
			colon = s + i;
	if (!colon || colon == s)
		return false;
	size_t plen = (size_t)(s + len - colon - 1);
	if (plen == 0 || plen > 5)
		return false;
	long port = 0;
	for (size_t i = 0; i < plen; i++) {
		if (colon[1 + i] < '0' || colon[1 + i] > '9')
			return false;
		port = port * 10 + (colon[1 + i] - '0');
	}
	if (port > 65535)
		return false;
	size_t hl = (size_t)(colon - s);
	bool v6 = s[0] == '[';
	if (v6 && (hl < 3 || s[hl - 1] != ']'))
		return false;
	/* a host name or IPv4 literal has no ':'; inside [ ] an IPv6 literal (zone: %eth0) */
	for (size_t i = v6; i < hl - v6; i++)
		if (!(v6 ? token_char(s[i]) || s[i] == '%' : token_char(s[i]) && s[i] != ':'))
			return false;
	return true;
}

const char *pn_rendezvous_job_id(char *buf, size_t len)
{
	/* the same on every process of a job: PMIx's namespace before Slurm's job id, since
	 * under mpirun in an allocation only some hosts' processes may see SLURM_JOB_ID */
	static const char *const vars[] = {"PENNANT_JOB_ID", "PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid",
					   "SLURM_JOB_ID"};
	if (len)
		buf[0] = 0;
	for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
		const char *v = getenv(vars[i]);
		if (!v || !*v)
			continue;
		const char *step = i == 3 ? getenv("SLURM_STEP_ID") : NULL;
		int n = step && *step ? snprintf(buf, len, "%s.%s", v, step) : snprintf(buf, len, "%s", v);
		if (n < 0 || (size_t)n >= len || !plain_token(buf, (size_t)n)) {
			if (len)
				buf[0] = 0;
			return NULL;
		}
		return vars[i];
	}
	return NULL;
}

int pn_rendezvous_advertised(const char *bound, char *out, size_t len, char *err, size_t errlen)
{
	size_t bl = strlen(bound);
	if (!valid_addr(bound, bl) && !(bl > 0 && bound[0] == ':')) {
		snprintf(err, errlen, "rendezvous: '%s' is not HOST:PORT", bound);
		return -EINVAL;
	}
	const char *colon = strrchr(bound, ':');
	size_t hl = (size_t)(colon - bound);
	bool wildcard = hl == 0 || (hl == 7 && strncmp(bound, "0.0.0.0", 7) == 0) ||
			(hl == 4 && strncmp(bound, "[::]", 4) == 0);
	int n;
	if (wildcard) {
		char host[256];
		if (gethostname(host, sizeof host) != 0 || !host[0]) {
			snprintf(err, errlen, "rendezvous: %s listens on every address and this host has no "
				 "name to tell the workers: give --listen HOST:PORT", bound);
			return -EINVAL;
		}
		host[sizeof host - 1] = 0;
		n = snprintf(out, len, "%s%s", host, colon);
	} else {
		n = snprintf(out, len, "%s", bound);
	}
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "rendezvous: the address of %s does not fit in %zu bytes", bound, len);
		return -ENOSPC;
	}
	return 0;
}

int pn_rendezvous_from_env(char *addr, size_t len, char *err, size_t errlen)
{
	const char *v = getenv(PN_RENDEZVOUS_ENV);
	if (!v || !*v)
		return 0;
	if (!valid_addr(v, strlen(v))) {
		snprintf(err, errlen, "%s='%s' is not HOST:PORT", PN_RENDEZVOUS_ENV, v);
		return -EINVAL;
	}
	if (strlen(v) >= len) {
		snprintf(err, errlen, "%s is longer than %zu bytes", PN_RENDEZVOUS_ENV, len - 1);
		return -ENOSPC;
	}
	memcpy(addr, v, strlen(v) + 1);
	return 1;
}

static int format_file(char *buf, size_t len, const char *job_id, const char *addr)
{
	int n = snprintf(buf, len, "%s\njob %s\naddr %s\n", header, job_id && *job_id ? job_id : "-", addr);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

int pn_rendezvous_file_publish(const char *path, const char *job_id, const char *addr, char *err,
			       size_t errlen)
{
	if (job_id && *job_id && !plain_token(job_id, strlen(job_id))) {
		snprintf(err, errlen, "rendezvous: job id '%s' is not a plain token", job_id);
		return -EINVAL;
	}
	if (!valid_addr(addr, strlen(addr))) {
		snprintf(err, errlen, "rendezvous: '%s' is not HOST:PORT", addr);
		return -EINVAL;
	}
	char body[PN_RENDEZVOUS_FILE_MAX], host[64] = "host", tmp[4096];
	int blen = format_file(body, sizeof body, job_id, addr);
	gethostname(host, sizeof host);
	host[sizeof host - 1] = 0;
	if (blen < 0 || snprintf(tmp, sizeof tmp, "%s.tmp.%s.%d", path, host, (int)getpid()) >= (int)sizeof tmp) {
		snprintf(err, errlen, "rendezvous: path %s is too long", path);
		return -ENAMETOOLONG;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "rendezvous file %s: cannot create %s: %s", path, tmp, strerror(e));
		return -e;
	}
	int e = 0;
	if (write(fd, body, (size_t)blen) != blen)
		e = errno ? errno : EIO;
	if (!e && fsync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) != 0)
		e = errno;
	if (e) {
		unlink(tmp);
		snprintf(err, errlen, "rendezvous file %s: cannot write it: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

/* One "KEY VALUE" line: the value is copied out. */
static int take_value(const char *line, size_t ll, const char *key, char *out, size_t outlen)
{
	size_t kl = strlen(key);
	if (ll <= kl + 1 || memcmp(line, key, kl) != 0 || line[kl] != ' ')
		return -EINVAL;
	size_t vl = ll - kl - 1;
	if (vl >= outlen)
		return -ENOSPC;
	memcpy(out, line + kl + 1, vl);
	out[vl] = 0;
	return 0;
}

int pn_rendezvous_parse(const char *text, size_t len, char *job, size_t joblen, char *addr, size_t addrlen)
{
	if (len > PN_RENDEZVOUS_FILE_MAX || !joblen || !addrlen)
		return -EINVAL;
	const char *lines[3];
	size_t lens[3];
	size_t pos = 0;
	for (int i = 0; i < 3; i++) {
		const char *nl = pos < len ? memchr(text + pos, '\n', len - pos) : NULL;
		if (!nl)
			return -EINVAL; /* every line ends with a newline (a torn write does not) */
		lines[i] = text + pos;
		lens[i] = (size_t)(nl - lines[i]);
		if (memchr(lines[i], 0, lens[i]))
			return -EINVAL;
		pos += lens[i] + 1;
	}
	if (pos != len || lens[0] != sizeof header - 1 || memcmp(lines[0], header, lens[0]) != 0)
		return -EINVAL;
	char j[PN_RENDEZVOUS_JOB_MAX], a[PN_RENDEZVOUS_ADDR_MAX];
	if (take_value(lines[1], lens[1], "job", j, sizeof j) || take_value(lines[2], lens[2], "addr", a, sizeof a))
		return -EINVAL;
	bool nojob = strcmp(j, "-") == 0;
	if ((!nojob && !plain_token(j, strlen(j))) || !valid_addr(a, strlen(a)))
		return -EINVAL;
	if ((nojob ? 1 : strlen(j) + 1) > joblen || strlen(a) + 1 > addrlen)
		return -ENOSPC;
	strcpy(job, nojob ? "" : j);
	strcpy(addr, a);
	return 0;
}

static double wall_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One look at the file: 0 and the address if it is this job's; else a positive reason. */
enum { SEEN_MISSING = 1, SEEN_UNREADABLE, SEEN_MALFORMED, SEEN_OTHER_JOB, SEEN_TOO_OLD };

static int look(const char *path, const char *job_id, double not_before, char *addr, size_t addrlen,
		char *seen, size_t seenlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? SEEN_MISSING : SEEN_UNREADABLE;
	char buf[PN_RENDEZVOUS_FILE_MAX + 1];
	struct stat st;
	ssize_t n = read(fd, buf, sizeof buf);
	int fst = fstat(fd, &st);
	close(fd);
	if (n < 0 || fst != 0)
		return SEEN_UNREADABLE;
	char job[PN_RENDEZVOUS_JOB_MAX], a[PN_RENDEZVOUS_ADDR_MAX];
	if (pn_rendezvous_parse(buf, (size_t)n, job, sizeof job, a, sizeof a))
		return SEEN_MALFORMED;
	const char *want = job_id ? job_id : "";
	if (strcmp(job, want) != 0) {
		snprintf(seen, seenlen, "%s", job[0] ? job : "-");
		return SEEN_OTHER_JOB;
	}
	double mtime = (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec;
	if (!want[0] && mtime < not_before - PN_RENDEZVOUS_GRACE_S)
		return SEEN_TOO_OLD;
	if (strlen(a) >= addrlen)
		return SEEN_MALFORMED;
	strcpy(addr, a);
	return 0;
}

int pn_rendezvous_file_lookup(const char *path, const char *job_id, double not_before, int timeout_ms,
			      const volatile sig_atomic_t *stop, char *addr, size_t addrlen, char *err,
			      size_t errlen)
{
	double t0 = wall_s(), limit = timeout_ms / 1e3;
	char seen[PN_RENDEZVOUS_JOB_MAX] = "";
	int why;
	for (;;) {
		why = look(path, job_id, not_before, addr, addrlen, seen, sizeof seen);
		if (why == 0)
			return 0;
		if (stop && *stop)
			break;
		if (wall_s() - t0 >= limit)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
	}
	const char *want = job_id && *job_id ? job_id : NULL;
	char held[256];
	switch (why) {
	case SEEN_MISSING: snprintf(held, sizeof held, "it does not exist"); break;
	case SEEN_UNREADABLE: snprintf(held, sizeof held, "it cannot be read"); break;
	case SEEN_MALFORMED: snprintf(held, sizeof held, "it is not a rendezvous file (or is torn)"); break;
	case SEEN_OTHER_JOB: snprintf(held, sizeof held, "it names job %s (a stale file of another job?)", seen); break;
	default:
		snprintf(held, sizeof held, "it was written more than %d s before this process started "
			 "(stale; set PENNANT_JOB_ID on every process to tell jobs apart)", PN_RENDEZVOUS_GRACE_S);
	}
	snprintf(err, errlen, "%s: no aggregator address in rendezvous file %s after %.0f s (wanted job %s%s; "
		 "at the last look %s)", stop && *stop ? "stopped" : "timed out", path, wall_s() - t0,
		 want ? want : "-", want ? "" : ": no job id in the environment", held);
	return stop && *stop ? -EINTR : -ETIMEDOUT;
}

int pn_rendezvous_file_remove(const char *path, const char *job_id, const char *addr)
{
	char want[PN_RENDEZVOUS_FILE_MAX], buf[PN_RENDEZVOUS_FILE_MAX + 1];
	int wl = format_file(want, sizeof want, job_id, addr);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -errno;
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	if (wl < 0 || n != wl || memcmp(buf, want, (size_t)wl) != 0)
		return 1;
	return unlink(path) == 0 ? 0 : -errno;
}
