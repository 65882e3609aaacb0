#include "bench_cli.h"

#include "cli.h"
#include "version.h"

#include <stdlib.h>
#include <string.h>

static void build(struct bench_cli *cli)
{
	size_t n = 0;
	while (cli->opts[n].name) {
		if (n == BENCH_CLI_MAX_OPTS)
			abort(); /* a programming error: raise BENCH_CLI_MAX_OPTS */
		cli->all[n] = cli->opts[n];
		n++;
	}
	cli->all[n++] = (struct option){ "help", no_argument, 0, 'h' };
	cli->all[n++] = (struct option){ "version", no_argument, 0, 'V' };
	cli->all[n] = (struct option){ 0, 0, 0, 0 };
	cli->ready = 1;
	opterr = 0;
}

int bench_cli_next(struct bench_cli *cli, int argc, char **argv, int *status)
{
	if (!cli->ready)
		build(cli);
	int c = getopt_long(argc, argv, ":h", cli->all, NULL);
	switch (c) {
	case 'h':
		cli->usage(stdout);
		*status = 0;
		return BENCH_CLI_EXIT;
	case 'V':
		pn_tools_print_version(stdout, cli->prog);
		*status = 0;
		return BENCH_CLI_EXIT;
	case '?':
	case ':':
		*status = pn_cli_bad_option(cli->prog, c, argv);
		return BENCH_CLI_EXIT;
	case -1:
		if (optind == argc)
			return -1;
		fprintf(stderr, "%s: unexpected argument '%s' (see %s --help)\n", cli->prog, argv[optind],
			cli->prog);
		*status = 2;
		return BENCH_CLI_EXIT;
	default:
		return c;
	}
}
