/* option_values.c: parsing and checking single option values of pennant-train. */
#ifndef PENNANT_TOOLS_TRAIN_OPTION_VALUES_H
#define PENNANT_TOOLS_TRAIN_OPTION_VALUES_H

#include <stdbool.h>
#include <stddef.h>

/* A whole decimal integer in [lo, hi]; a finite real. */
bool parse_long(const char *s, long long lo, long long hi, long long *out);
bool parse_real(const char *s, double *out);
/* "r,r,..." ranks in [0, n) into flags: how many new ones, or -errno with the reason. */
int parse_ranks(const char *s, int n, bool *flags, char *err, size_t errlen);
/* Loopback only: 127.0.0.0/8, ::1, localhost. An empty host or 0.0.0.0 is every address. */
bool loopback_address(const char *addr);
/* HOST:PORT (HOST may be [v6]); the backend resolves the host when it starts. */
bool valid_address(const char *addr);
/* A file that --save-model will create: its folder must exist and be writable now. */
bool writable_path(const char *path, char *why, size_t len);

#endif
