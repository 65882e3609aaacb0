/* Helpers shared by the verbs backend tests: see verbs_test.h. */
#include "verbs_test.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *dev(void)
{
	const char *d = getenv("PN_RDMA_DEV");
	cr_assert(d && d[0], "PN_RDMA_DEV is not set: run through tests/softroce/run-in-guest");
	return d;
}

const char *addr(void)
{
	const char *a = getenv("PN_RDMA_ADDR");
	cr_assert(a && a[0], "PN_RDMA_ADDR is not set: run through tests/softroce/run-in-guest");
	return a;
}

pn_tp_ctx *open_ctx(uint32_t rank, const char *opts, uint32_t reads_in_flight, char *err, size_t errlen)
{
	pn_tp_config cfg = { .backend = "verbs", .node_id = rank, .secret = SECRET, .secret_len = sizeof SECRET - 1, .options = opts,
			     .max_reads_in_flight = reads_in_flight };
	return pn_tp_open(&cfg, err, errlen);
}

uint8_t pattern(uint64_t off, uint32_t seed)
{
	uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ seed;
	return (uint8_t)(x >> 29);
}

int send_retry(pn_tp_ctx *ctx, pn_tp_peer *p, const void *m, size_t len)
{
	int rc;
	for (int i = 0; (rc = pn_tp_send_ctrl(p, m, len)) == -EAGAIN && i < 100000; i++) {
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	(void)ctx;
	return rc;
}

int reap(pid_t pid)
{
	int st = -1;
	for (int waited = 0; waited < WAIT_MS; waited += 10) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	cr_expect(0, "target %d did not exit", (int)pid);
	return st;
}

pn_tp_completion wait_one(pn_tp_ctx *ctx)
{
	pn_tp_completion c;
	int n = pn_tp_poll(ctx, &c, 1, WAIT_MS);
	cr_assert_eq(n, 1, "no completion within %d ms (%s)", WAIT_MS, pn_tp_errmsg(ctx));
	return c;
}

pid_t fork_with_address(child_fn fn, const void *arg, unsigned alarm_s, int *wfd)
{
	int fds[2];
	cr_assert(pipe(fds) == 0);
	(void)dev();
	fflush(NULL);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(alarm_s);
		close(fds[1]);
		char to[128] = "";
		size_t got = 0;
		while (got + 1 < sizeof(to) && read(fds[0], to + got, 1) == 1 && to[got] != '\n')
			got++;
		to[got] = '\0';
		int rc = fn(to, arg);
		fflush(NULL);
		_exit(rc);
	}
	close(fds[0]);
	*wfd = fds[1];
	return pid;
}

pn_tp_ctx *open_listener(const char *opts, uint32_t reads_in_flight, const int *wfd, int n)
{
	char err[512], l[96], a0[128];
	pn_tp_ctx *ctx = open_ctx(0, opts, reads_in_flight, err, sizeof(err));
	cr_assert(ctx, "open: %s", err);
	snprintf(l, sizeof(l), "%s:0", addr());
	cr_assert_eq(pn_tp_listen(ctx, l), 0, "%s", pn_tp_errmsg(ctx));
	cr_assert_eq(pn_tp_local_addr(ctx, a0, sizeof(a0)), 0);
	for (int i = 0; i < n; i++) {
		dprintf(wfd[i], "%s\n", a0);
		close(wfd[i]);
	}
	return ctx;
}

int cm_client_open(struct cm_client *c, const char *to, struct ibv_qp_init_attr *qa)
{
	char host[96], port[16];
	if (pn_addr_split(to, host, sizeof(host), port, sizeof(port)) != 0)
		return 2;
	c->ec = rdma_create_event_channel();
	if (!c->ec || rdma_create_id(c->ec, &c->id, NULL, RDMA_PS_TCP) || getaddrinfo(host, port, NULL, &c->ai))
		return 2;
	struct rdma_cm_event *ev;
	if (rdma_resolve_addr(c->id, NULL, c->ai->ai_addr, 5000) || rdma_get_cm_event(c->ec, &ev) ||
	    ev->event != RDMA_CM_EVENT_ADDR_RESOLVED)
		return 3;
	rdma_ack_cm_event(ev);
	if (rdma_resolve_route(c->id, 5000) || rdma_get_cm_event(c->ec, &ev) ||
	    ev->event != RDMA_CM_EVENT_ROUTE_RESOLVED)
		return 4;
	rdma_ack_cm_event(ev);
	if (rdma_create_qp(c->id, NULL, qa))
		return 5;
	return 0;
}

void cm_client_close(struct cm_client *c)
{
	rdma_destroy_qp(c->id);
	rdma_destroy_id(c->id);
	rdma_destroy_event_channel(c->ec);
	freeaddrinfo(c->ai);
}
