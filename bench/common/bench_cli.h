/* The command line every benchmark shares: getopt_long over the benchmark's own options
 * plus --help and --version, which are answered here like a bad option or a stray
 * argument, so each benchmark's loop only applies its own options. */
#ifndef PENNANT_BENCH_CLI_H
#define PENNANT_BENCH_CLI_H

#include <getopt.h>
#include <stdio.h>

#define BENCH_CLI_MAX_OPTS 48
/* bench_cli_next's value when the program should end now with *status. */
#define BENCH_CLI_EXIT (-2)

struct bench_cli {
	const char *prog;
	void (*usage)(FILE *out);
	const struct option *opts; /* the benchmark's own, ending with a zero row */
	struct option all[BENCH_CLI_MAX_OPTS + 3];
	int ready;
};

/* The next option character for the benchmark to apply (optarg holds its value); -1 once
 * the command line is used up with nothing left over; BENCH_CLI_EXIT with *status 0 after
 * --help (usage to stdout) or --version, 2 after a bad option or a stray argument (one
 * line to stderr). */
int bench_cli_next(struct bench_cli *cli, int argc, char **argv, int *status);

#endif
