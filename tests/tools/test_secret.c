/* The job secret loader: any string from PENNANT_JOB_TOKEN, token files (one trailing
 * newline stripped; empty, unreadable, shared or oversized files refused), random draws. */
#include "secret.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/pn-secret-test-XXXXXX");
	cr_assert(mkdtemp(dir));
	unsetenv(PN_SECRET_ENV);
}

static void remove_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

static const char *file_with(const char *name, const void *data, size_t len, mode_t mode)
{
	static char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

TestSuite(secret, .init = make_dir, .fini = remove_dir);

Test(secret, environment_strings_are_the_bytes)
{
	pn_secret a, b;
	char err[256];
	setenv(PN_SECRET_ENV, "alice-secret", 1);
	cr_assert_eq(pn_secret_load(&a, NULL, err, sizeof err), 1, "%s", err);
	setenv(PN_SECRET_ENV, "mallory", 1);
	cr_assert_eq(pn_secret_load(&b, NULL, err, sizeof err), 1, "%s", err);
	cr_expect_eq(a.len, 12);
	cr_expect_eq(memcmp(a.bytes, "alice-secret", 12), 0);
	cr_expect_eq(b.len, 7);
	cr_expect(a.len != b.len || memcmp(a.bytes, b.bytes, a.len), "different tokens, same secret");
	setenv(PN_SECRET_ENV, "0x50454e4e", 1); /* a number-looking token is still its text */
	cr_assert_eq(pn_secret_load(&a, NULL, err, sizeof err), 1);
	cr_expect_eq(a.len, 10);
	cr_expect_str_eq(a.source, PN_SECRET_ENV);
}

Test(secret, empty_environment_is_refused)
{
	pn_secret s;
	char err[256] = "";
	setenv(PN_SECRET_ENV, "", 1);
	cr_expect_lt(pn_secret_load(&s, NULL, err, sizeof err), 0);
	cr_expect(strstr(err, "empty"), "%s", err);
}

Test(secret, no_source_is_zero)
{
	pn_secret s;
	char err[256];
	cr_expect_eq(pn_secret_load(&s, NULL, err, sizeof err), 0);
	cr_expect_eq(s.len, 0);
}

Test(secret, file_strips_one_trailing_newline)
{
	pn_secret s;
	char err[256];
	const char *p = file_with("tok", "s3cret with spaces\n", 19, 0600);
	cr_assert_eq(pn_secret_load(&s, p, err, sizeof err), 1, "%s", err);
	cr_expect_eq(s.len, 18);
	cr_expect_eq(memcmp(s.bytes, "s3cret with spaces", 18), 0);
	p = file_with("tok2", "x\n\n", 3, 0400);
	cr_assert_eq(pn_secret_load(&s, p, err, sizeof err), 1, "%s", err);
	cr_expect_eq(s.len, 2, "only one newline is stripped");
	static const unsigned char bin[] = {0, 1, 2, 0xff, 0};
	p = file_with("bin", bin, sizeof bin, 0600);
	cr_assert_eq(pn_secret_load(&s, p, err, sizeof err), 1, "%s", err);
	cr_expect_eq(s.len, sizeof bin);
	cr_expect_eq(memcmp(s.bytes, bin, sizeof bin), 0);
}

Test(secret, file_wins_over_environment)
{
	pn_secret s;
	char err[256];
	setenv(PN_SECRET_ENV, "from-env", 1);
	const char *p = file_with("tok", "from-file", 9, 0600);
	cr_assert_eq(pn_secret_load(&s, p, err, sizeof err), 1, "%s", err);
	cr_expect_eq(memcmp(s.bytes, "from-file", 9), 0);
	cr_expect(strstr(s.source, "token file"));
}

Test(secret, bad_files_are_refused_with_a_reason)
{
	pn_secret s;
	char err[256] = "";
	cr_expect_lt(pn_secret_load(&s, file_with("empty", "", 0, 0600), err, sizeof err), 0);
	cr_expect(strstr(err, "empty"), "%s", err);
	cr_expect_lt(pn_secret_load(&s, file_with("nl", "\n", 1, 0600), err, sizeof err), 0);
	cr_expect(strstr(err, "empty"), "%s", err);
	cr_expect_lt(pn_secret_load(&s, file_with("shared", "abc", 3, 0644), err, sizeof err), 0);
	cr_expect(strstr(err, "chmod 600"), "%s", err);
	cr_expect_lt(pn_secret_load(&s, file_with("grp", "abc", 3, 0640), err, sizeof err), 0);
	char big[PN_SECRET_MAX + 10];
	memset(big, 'a', sizeof big);
	cr_expect_lt(pn_secret_load(&s, file_with("big", big, sizeof big, 0600), err, sizeof err), 0);
	cr_expect(strstr(err, "larger"), "%s", err);
	char missing[128];
	snprintf(missing, sizeof missing, "%s/missing", dir);
	cr_expect_lt(pn_secret_load(&s, missing, err, sizeof err), 0);
	cr_expect(strstr(err, "No such file"), "%s", err);
	cr_expect_lt(pn_secret_load(&s, dir, err, sizeof err), 0, "a folder is no token file");
	cr_expect_eq(s.len, 0);
	if (geteuid() != 0) { /* root reads anything */
		cr_expect_lt(pn_secret_load(&s, file_with("unreadable", "abc", 3, 0000), err, sizeof err), 0);
	}
}

Test(secret, random_secrets_differ)
{
	pn_secret a, b;
	char err[256];
	cr_assert_eq(pn_secret_random(&a, 32, err, sizeof err), 0, "%s", err);
	cr_assert_eq(pn_secret_random(&b, 32, err, sizeof err), 0, "%s", err);
	cr_expect_eq(a.len, 32);
	cr_expect_neq(memcmp(a.bytes, b.bytes, 32), 0);
	cr_expect_lt(pn_secret_random(&a, 0, err, sizeof err), 0);
	pn_secret_wipe(&b);
	cr_expect_eq(b.len, 0);
}
