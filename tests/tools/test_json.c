/* The tools' JSON writer: commas, escaping, null for non-finite numbers and NULL strings,
 * nesting checks, provenance; every document is also parsed by python3 -m json.tool. */
#include "json.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(FILE *f)
{
	long n = ftell(f);
	rewind(f);
	char *buf = calloc((size_t)n + 1, 1);
	cr_assert(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	return buf;
}

/* Parses `text` with python3's json module; returns its exit status. */
static int python_parses(const char *text)
{
	char path[] = "/tmp/pn-json-test-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "python3 -m json.tool %s > /dev/null", path);
	int st = system(cmd);
	unlink(path);
	return st;
}

Test(json, writes_a_nested_document_that_python_parses)
{
	FILE *f = tmpfile();
	pn_json j;
	pn_json_init(&j, f);
	pn_json_begin_object(&j);
	pn_json_provenance(&j, "test-json");
	pn_json_kstring(&j, "quote\"and\\slash", "line\nbreak\ttab\x01" "ctl \xc3\xa9");
	pn_json_knumber(&j, "nan", NAN);
	pn_json_knumber(&j, "inf", -INFINITY);
	pn_json_knumber(&j, "tiny", 1e-300);
	pn_json_knumber(&j, "huge", 1.5e300);
	pn_json_kint(&j, "neg", -42);
	pn_json_kuint(&j, "big", 18446744073709551615ull);
	pn_json_kbool(&j, "yes", true);
	pn_json_kstring(&j, "none", NULL);
	pn_json_key(&j, "list");
	pn_json_begin_array(&j);
	for (int i = 0; i < 3; i++) {
		pn_json_begin_object(&j);
		pn_json_kint(&j, "i", i);
		pn_json_key(&j, "empty");
		pn_json_begin_array(&j);
		pn_json_end_array(&j);
		pn_json_end_object(&j);
	}
	pn_json_number(&j, 0.5);
	pn_json_null(&j);
	pn_json_end_array(&j);
	pn_json_end_object(&j);
	fflush(f);
	char *text = slurp(f);
	cr_assert_eq(pn_json_close(&j), 0);
	fclose(f);
	cr_expect(strstr(text, "\"nan\":null"), "%s", text);
	cr_expect(strstr(text, "\"inf\":null"), "%s", text);
	cr_expect(strstr(text, "\"none\":null"), "%s", text);
	cr_expect(strstr(text, "\"quote\\\"and\\\\slash\":\"line\\nbreak\\ttab\\u0001ctl"), "%s", text);
	cr_expect(strstr(text, "\"big\":18446744073709551615"), "%s", text);
	cr_expect(strstr(text, "\"version\":\""), "%s", text);
	cr_expect(strstr(text, "\"commit\":\""), "%s", text);
	cr_expect(strstr(text, "\"host\":"), "%s", text);
	cr_expect(strstr(text, "[{\"i\":0,\"empty\":[]},{\"i\":1"), "%s", text);
	cr_expect(!strstr(text, ":nan") && !strstr(text, ":inf") && !strstr(text, ":-inf"), "%s", text);
	cr_expect_eq(python_parses(text), 0, "python3 -m json.tool refused: %s", text);
	free(text);
}

/* Documents the writer must refuse to close cleanly, each written by one function. */
static void truncated(pn_json *j)
{
	pn_json_begin_object(j);
	pn_json_key(j, "a");
	pn_json_begin_array(j);
}

static void value_without_key(pn_json *j)
{
	pn_json_begin_object(j);
	pn_json_int(j, 1); /* a value without a key inside an object */
	pn_json_end_object(j);
}

static void wrong_closer(pn_json *j)
{
	pn_json_begin_array(j);
	pn_json_end_object(j);
}

static void expect_refused(void (*write)(pn_json *), const char *what)
{
	FILE *f = tmpfile();
	cr_assert(f);
	pn_json j;
	pn_json_init(&j, f);
	write(&j);
	cr_expect_neq(pn_json_close(&j), 0, "%s must not close cleanly", what);
	fclose(f);
}

Test(json, unbalanced_documents_are_reported)
{
	expect_refused(truncated, "a truncated document");
}

Test(json, misuse_is_reported)
{
	expect_refused(value_without_key, "a value without a key");
	expect_refused(wrong_closer, "a wrong closer");
}

Test(json, open_dash_is_stdout_and_creates_no_file)
{
	char dir[] = "/tmp/pn-json-dash-XXXXXX";
	cr_assert(mkdtemp(dir));
	char cwd[512];
	cr_assert(getcwd(cwd, sizeof cwd));
	cr_assert_eq(chdir(dir), 0);
	pn_json j;
	cr_assert_eq(pn_json_open(&j, "-"), 0);
	cr_expect_eq(j.f, stdout);
	pn_json_begin_array(&j);
	pn_json_end_array(&j);
	cr_expect_eq(pn_json_close(&j), 0);
	cr_expect_neq(access("-", F_OK), 0, "a file named '-' was created");
	cr_assert_eq(chdir(cwd), 0);
	rmdir(dir);
}

Test(json, open_reports_unwritable_paths)
{
	pn_json j;
	cr_expect_lt(pn_json_open(&j, "/nonexistent-dir/x.json"), 0);
}
