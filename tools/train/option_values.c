/* Single option values of pennant-train: numbers in a range, rank lists, addresses, the
 * output path --save-model will create (options.c uses them while parsing and checking). */
#include "option_values.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool parse_long(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

bool parse_real(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

int parse_ranks(const char *s, int n, bool *flags, char *err, size_t errlen)
{
	char *dup = strdup(s), *save = NULL;
	int count = 0;
	if (!dup)
		return -ENOMEM;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		long long r;
		if (!parse_long(t, 0, n - 1, &r)) {
			snprintf(err, errlen, "rank '%s' is not in [0, %d)", t, n);
			free(dup);
			return -EINVAL;
		}
		count += !flags[r];
		flags[r] = true;
	}
	free(dup);
	return count;
}

/* Loopback only: 127.0.0.0/8, ::1, localhost. An empty host or 0.0.0.0 is every address. */
bool loopback_address(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
	char host[256];
	if (hl >= sizeof host)
		return false;
	memcpy(host, addr, hl);
	host[hl] = 0;
	char *h = host;
	if (h[0] == '[' && hl > 1 && h[hl - 1] == ']')
		h[hl - 1] = 0, h++;
	return strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 || strcmp(h, "localhost") == 0;
}

/* HOST:PORT (HOST may be [v6]); the backend resolves the host when it starts. */
bool valid_address(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	long long port;
	return colon && colon != addr && parse_long(colon + 1, 0, 65535, &port);
}

/* A file that --save-model will create: its folder must exist and be writable now. */
bool writable_path(const char *path, char *why, size_t len)
{
	if (access(path, F_OK) == 0) {
		if (access(path, W_OK) != 0) {
			snprintf(why, len, "%s", strerror(errno));
			return false;
		}
		return true;
	}
	char *dup = strdup(path);
	if (!dup)
		return false;
	const char *dir = dirname(dup);
	bool ok = access(dir, W_OK | X_OK) == 0;
	if (!ok)
		snprintf(why, len, "folder %s: %s", dir, strerror(errno));
	free(dup);
	return ok;
}
