#include "cli.h"

#include <getopt.h>
#include <stdio.h>

int pn_cli_bad_option(const char *prog, int c, char *const argv[])
{
	/* getopt_long has already advanced optind past the offending word */
	const char *word = optind > 0 ? argv[optind - 1] : "?";
	if (c == ':')
		fprintf(stderr, "%s: option '%s' needs a value (see %s --help)\n", prog, word, prog);
	else if (optopt && optopt != '?')
		fprintf(stderr, "%s: unknown option '-%c' (see %s --help)\n", prog, optopt, prog);
	else
		fprintf(stderr, "%s: unknown option '%s' (see %s --help)\n", prog, word, prog);
	return 2;
}
