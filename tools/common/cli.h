/* Shared command-line behaviour of the tools: one line for a bad option plus a --help
 * hint (exit status 2), and --version. */
#ifndef PENNANT_TOOLS_CLI_H
#define PENNANT_TOOLS_CLI_H

/* Call with getopt's return value when it is '?' or ':' (use an optstring starting with
 * ':' so a missing value is told apart). Prints one line to stderr; returns 2. */
int pn_cli_bad_option(const char *prog, int c, char *const argv[]);

#endif
