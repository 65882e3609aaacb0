/* pennant-bench-pull: one-sided pull throughput and latency through the transport API.
 * Default: this process reads, a forked child is the target. --server/--connect split the
 * two roles over separate processes (or machines/guests). */
#include "bench_pull.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Forked mode: start the target (before this process opens any context: DPDK must not
 * fork after EAL init) and learn its address. */
static pid_t fork_target(const struct bench_opts *o, char *addr, size_t len)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		_exit(bench_target(o, o->listen, fds[1]));
	}
	close(fds[1]);
	size_t got = 0;
	while (pid > 0 && got + 1 < len) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		if (poll(&p, 1, 30000) != 1 || read(fds[0], addr + got, 1) != 1) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			pid = -1;
			break;
		}
		if (addr[got] == '\n')
			break;
		got++;
	}
	addr[got] = '\0';
	close(fds[0]);
	return pid;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	int st = bench_parse(argc, argv, &o);
	if (st >= 0)
		return st;
	if (o.server)
		return bench_target(&o, o.server, -1);

	struct bench_row rows[BENCH_MAX_SIZES] = { 0 };
	int n = 0;
	for (size_t s = o.min_size; s <= o.max_size && n < BENCH_MAX_SIZES; s *= 2)
		rows[n++].bytes = s;

	const struct bench_baseline *base = o.baseline ? bench_baseline_for(o.backend) : NULL;

	char addr[256];
	pid_t target = -1;
	if (o.connect) {
		snprintf(addr, sizeof(addr), "%s", o.connect);
	} else {
		target = fork_target(&o, addr, sizeof(addr));
		if (target < 0) {
			fprintf(stderr, "pennant-bench-pull: target did not start\n");
			return 1;
		}
	}
	int done = n;
	int rc = bench_reader(&o, addr, base, rows, &done);
	if (target > 0) {
		int wst;
		waitpid(target, &wst, 0);
		if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
			rc = 1;
	}
	bool json_stdout = o.json && strcmp(o.json, "-") == 0;
	bench_print(json_stdout ? stderr : stdout, &o, base ? base->name : NULL, rows, done);
	if (o.json && bench_write_json(o.json, &o, base ? base->name : NULL, rows, done) != 0) {
		fprintf(stderr, "pennant-bench-pull: cannot write %s\n", o.json);
		rc = 1;
	}
	return rc;
}
