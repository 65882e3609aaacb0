/* The tools' JSON writer (see json.h). */
#include "json.h"
#include "version.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

void pn_json_init(pn_json *j, FILE *f)
{
	memset(j, 0, sizeof *j);
	j->f = f;
}

int pn_json_open(pn_json *j, const char *path)
{
	if (strcmp(path, "-") == 0) {
		pn_json_init(j, stdout);
		return 0;
	}
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	pn_json_init(j, f);
	j->owns_file = true;
	return 0;
}

int pn_json_close(pn_json *j)
{
	if (!j->f)
		return -1;
	bool bad = j->failed || j->depth != 0 || j->after_key;
	fputc('\n', j->f);
	bad |= fflush(j->f) != 0 || ferror(j->f);
	if (j->owns_file)
		bad |= fclose(j->f) != 0;
	j->f = NULL;
	return bad ? -1 : 0;
}

int pn_json_finish_results(pn_json *j, const char *prog)
{
	pn_json_end_array(j);
	pn_json_end_object(j);
	if (pn_json_close(j) == 0)
		return 0;
	fprintf(stderr, "%s: writing the JSON failed\n", prog);
	return -1;
}

/* Before any value: the comma, and the check that objects get keys first. */
static void before_value(pn_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->in_object[j->depth])
		j->failed = true; /* a value inside an object needs a key */
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = true;
}

static void begin(pn_json *j, bool object)
{
	before_value(j);
	if (j->depth == PN_JSON_MAX_DEPTH) {
		j->failed = true;
		return;
	}
	fputc(object ? '{' : '[', j->f);
	j->depth++;
	j->need_comma[j->depth] = false;
	j->in_object[j->depth] = object;
}

static void end(pn_json *j, bool object)
{
	if (j->depth == 0 || j->in_object[j->depth] != object || j->after_key) {
		j->failed = true;
		return;
	}
	fputc(object ? '}' : ']', j->f);
	j->depth--;
}

void pn_json_begin_object(pn_json *j) { begin(j, true); }
void pn_json_end_object(pn_json *j) { end(j, true); }
void pn_json_begin_array(pn_json *j) { begin(j, false); }
void pn_json_end_array(pn_json *j) { end(j, false); }

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f); /* UTF-8 passes through as is */
		}
	}
	fputc('"', f);
}

void pn_json_key(pn_json *j, const char *key)
{
	if (!j->in_object[j->depth] || j->after_key) {
		j->failed = true;
		return;
	}
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = true;
	put_string(j->f, key);
	fputc(':', j->f);
	j->after_key = true;
}

void pn_json_string(pn_json *j, const char *s)
{
	before_value(j);
	if (s)
		put_string(j->f, s);
	else
		fputs("null", j->f);
}

void pn_json_number(pn_json *j, double x)
{
	before_value(j);
	if (isfinite(x))
		fprintf(j->f, "%.10g", x); /* %g never prints a bare '.', 'inf' or 'nan' here */
	else
		fputs("null", j->f);
}

void pn_json_int(pn_json *j, long long x)
{
	before_value(j);
	fprintf(j->f, "%lld", x);
}

void pn_json_uint(pn_json *j, unsigned long long x)
{
	before_value(j);
	fprintf(j->f, "%llu", x);
}

void pn_json_bool(pn_json *j, bool b)
{
	before_value(j);
	fputs(b ? "true" : "false", j->f);
}

void pn_json_null(pn_json *j)
{
	before_value(j);
	fputs("null", j->f);
}

void pn_json_kstring(pn_json *j, const char *k, const char *s) { pn_json_key(j, k), pn_json_string(j, s); }
void pn_json_knumber(pn_json *j, const char *k, double x) { pn_json_key(j, k), pn_json_number(j, x); }
void pn_json_kint(pn_json *j, const char *k, long long x) { pn_json_key(j, k), pn_json_int(j, x); }
void pn_json_kuint(pn_json *j, const char *k, unsigned long long x) { pn_json_key(j, k), pn_json_uint(j, x); }
void pn_json_kbool(pn_json *j, const char *k, bool b) { pn_json_key(j, k), pn_json_bool(j, b); }
void pn_json_knull(pn_json *j, const char *k) { pn_json_key(j, k), pn_json_null(j); }

void pn_json_provenance(pn_json *j, const char *tool)
{
	char host[256] = "";
	if (gethostname(host, sizeof host - 1) != 0)
		host[0] = 0;
	host[sizeof host - 1] = 0;
	pn_json_key(j, "pennant");
	pn_json_begin_object(j);
	pn_json_kstring(j, "tool", tool);
	pn_json_kstring(j, "version", pn_tools_version());
	pn_json_kstring(j, "commit", pn_tools_commit());
	pn_json_kstring(j, "host", host[0] ? host : NULL);
	pn_json_end_object(j);
}
