/* pennant-bench-pull: same-run baselines of the raw medium, one per backend.
 *
 * tcp: a plain loopback socket stream of the same bytes. A forked sender send()s each
 * message straight from its buffer (no user-space copy), the receiver recv()s it into a
 * landing buffer (the one copy the medium forces, as in our pull), rotating through the
 * same landing slots as the pull. No request/response: this is the ceiling a pull over
 * TCP could reach.
 *
 * Backends add a row to the table (e.g. dpdk: raw frame blast; verbs: ib_read_bw). */
#include "bench_pull.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs in a child forked from a threaded process: system calls only, then _exit. */
static void stream_sender(int port, const uint8_t *buf, size_t size, int iters)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		_exit(1);
	char go;
	if (recv(fd, &go, 1, MSG_WAITALL) != 1)
		_exit(1);
	for (int i = 0; i < iters; i++) {
		size_t off = 0;
		while (off < size) {
			ssize_t n = send(fd, buf + off, size - off, MSG_NOSIGNAL);
			if (n <= 0)
				_exit(1);
			off += (size_t)n;
		}
	}
	_exit(0);
}

static double socket_stream(const struct bench_opts *o, size_t size, int iters)
{
	size_t slots = bench_slots_for(o, size);
	uint8_t *buf = malloc(size);
	uint8_t *land = malloc(slots * size);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (!buf || !land || lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 1) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
		free(buf);
		free(land);
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	memset(buf, 0x5c, size);
	memset(land, 0, slots * size); /* first touch outside the timed part, as for the pull */
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		stream_sender(ntohs(sa.sin_port), buf, size, iters);
	double mib = -1;
	int fd = pid > 0 ? accept(lfd, NULL, NULL) : -1;
	if (fd >= 0) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		double t0 = bench_now_us();
		int i = 0;
		if (send(fd, "g", 1, MSG_NOSIGNAL) == 1)
			for (; i < iters; i++)
				if (recv(fd, land + ((size_t)i % slots) * size, size, MSG_WAITALL) != (ssize_t)size)
					break;
		double dt = bench_now_us() - t0;
		if (i == iters)
			mib = (double)iters * (double)size / dt * 1e6 / 1048576.0;
		close(fd);
	}
	if (pid > 0) {
		int st;
		waitpid(pid, &st, 0);
	}
	close(lfd);
	free(buf);
	free(land);
	return mib;
}

static const struct bench_baseline baselines[] = {
	{ "tcp", "socket-stream", socket_stream },
};

const struct bench_baseline *bench_baseline_for(const char *backend)
{
	for (size_t i = 0; i < sizeof(baselines) / sizeof(baselines[0]); i++)
		if (strcmp(baselines[i].backend, backend) == 0)
			return &baselines[i];
	return NULL;
}
