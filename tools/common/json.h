/* One small JSON writer for every Pennant tool and benchmark.
 *
 * Streams to a FILE as values are given (a record can be written across callbacks, e.g.
 * one array element per training round). It inserts the commas, escapes strings, writes
 * null for NaN/Inf (JSON has no such numbers) and for NULL strings, and checks nesting:
 * pn_json_close reports an unbalanced or failed document instead of leaving a truncated
 * one unnoticed. Not thread-safe; one writer per document. */
#ifndef PENNANT_TOOLS_JSON_H
#define PENNANT_TOOLS_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PN_JSON_MAX_DEPTH 32

typedef struct pn_json {
	FILE *f;
	int depth;
	bool need_comma[PN_JSON_MAX_DEPTH + 1]; /* per level: a value was already written */
	bool in_object[PN_JSON_MAX_DEPTH + 1];
	bool after_key;                         /* a key was written, its value is next */
	bool failed;                            /* misuse (value without key in an object, ...) */
	bool owns_file;                         /* opened by pn_json_open: closed by pn_json_close */
} pn_json;

/* Writes to an open stream (not closed by pn_json_close). */
void pn_json_init(pn_json *j, FILE *f);
/* Opens PATH for writing; "-" is stdout. Returns 0, or -errno (nothing opened). */
int pn_json_open(pn_json *j, const char *path);
/* Ends the document (a newline), flushes, closes a file opened by pn_json_open. Returns 0,
 * or -1 if the nesting is unbalanced, the writer was misused or the stream failed. */
int pn_json_close(pn_json *j);
/* Ends a results document (the open array inside the top object), closes it, and on
 * failure says "PROG: writing the JSON failed" on stderr. Returns 0, or -1. */
int pn_json_finish_results(pn_json *j, const char *prog);

void pn_json_begin_object(pn_json *j);
void pn_json_end_object(pn_json *j);
void pn_json_begin_array(pn_json *j);
void pn_json_end_array(pn_json *j);
void pn_json_key(pn_json *j, const char *key);

void pn_json_string(pn_json *j, const char *s); /* NULL -> null */
void pn_json_number(pn_json *j, double x);      /* non-finite -> null */
void pn_json_int(pn_json *j, long long x);
void pn_json_uint(pn_json *j, unsigned long long x);
void pn_json_bool(pn_json *j, bool b);
void pn_json_null(pn_json *j);

/* key + value in one call */
void pn_json_kstring(pn_json *j, const char *key, const char *s);
void pn_json_knumber(pn_json *j, const char *key, double x);
void pn_json_kint(pn_json *j, const char *key, long long x);
void pn_json_kuint(pn_json *j, const char *key, unsigned long long x);
void pn_json_kbool(pn_json *j, const char *key, bool b);
void pn_json_knull(pn_json *j, const char *key);

/* "pennant":{"tool":..., "version":..., "commit":..., "host":...}: every record carries it. */
void pn_json_provenance(pn_json *j, const char *tool);

#endif
