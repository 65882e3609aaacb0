/* tcp backend: listening, connecting, the handshake, and taking a peer down.
 *
 * The authenticated handshake itself is in tcp_auth.c; only a connection that completed
 * it becomes a peer and joins the progress thread's epoll set. */
#include "transport/tcp/tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int tcp_listen(pn_tp_ctx *ctx, const char *addr)
{
	struct tcp_ctx *c = tcp_ctx_of(ctx);
	struct addrinfo *res;
	int rc = pn_tp_resolve(ctx, addr, true, &res);
	if (rc)
		return rc;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = pn_tp_fail(ctx, errno, "tcp: socket: %s", strerror(errno));
		freeaddrinfo(res);
		return rc;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0) {
		rc = pn_tp_fail(ctx, errno, "tcp: bind/listen on %s: %s", addr, strerror(errno));
		close(fd);
		freeaddrinfo(res);
		return rc;
	}
	freeaddrinfo(res);
	c->listen_fd = fd;
	return 0;
}

int tcp_local_addr(pn_tp_ctx *ctx, char *buf, size_t len)
{
	struct tcp_ctx *c = tcp_ctx_of(ctx);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(c->listen_fd, (struct sockaddr *)&ss, &sl) != 0)
		return pn_tp_fail(ctx, errno, "tcp: getsockname: %s", strerror(errno));
	char host[INET6_ADDRSTRLEN], port[16];
	if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return pn_tp_fail(ctx, EINVAL, "tcp: getnameinfo failed");
	int n = snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
	if (n < 0 || (size_t)n >= len)
		return pn_tp_fail(ctx, ENOSPC, "tcp: address buffer too small");
	return 0;
}

/* Small frames go out at once; a vanished host is detected within peer_timeout_ms even
 * when the connection is idle (keepalive) or stuck with unacknowledged data. */
static void set_socket_options(struct tcp_ctx *c, int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->peer_timeout_ms == 0)
		return;
	unsigned ut = c->peer_timeout_ms;
	int probe_s = (int)(c->peer_timeout_ms / 3000u);
	if (probe_s < 1)
		probe_s = 1;
	int cnt = 3;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &probe_s, sizeof(probe_s));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &probe_s, sizeof(probe_s));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
}

int tcp_make_peer(struct tcp_ctx *c, int fd, uint32_t id, pn_tp_peer **out)
{
	struct tcp_peer *p = calloc(1, sizeof(*p));
	if (!p) {
		close(fd);
		return pn_tp_fail(&c->base, ENOMEM, "tcp: out of memory for a peer");
	}
	set_socket_options(c, fd);
	p->base.ctx = &c->base;
	p->base.id = id;
	p->fd = fd;
	pn_ring_init(&p->txq, sizeof(struct tcp_tx_item), 64, TCP_TXQ_HARD_CAP);
	pn_ring_init(&p->pend, sizeof(struct tcp_piece), 64, 0);
	pthread_mutex_lock(&c->lock);
	p->next = c->peers;
	c->peers = p;
	int rc = tcp_epoll_add(c, p);
	if (rc != 0)
		tcp_peer_down(p, rc, false);
	pthread_mutex_unlock(&c->lock);
	if (rc != 0)
		return pn_tp_fail(&c->base, -rc, "tcp: epoll_ctl: %s", strerror(-rc));
	*out = &p->base;
	return 0;
}

int tcp_accept(pn_tp_ctx *ctx, pn_tp_peer **peer, int timeout_ms)
{
	return tcp_auth_accept(tcp_ctx_of(ctx), peer, timeout_ms);
}

/* One connection attempt; -ECONNREFUSED lets the caller retry (listener not up yet). */
static int connect_once(const struct addrinfo *ai, int64_t deadline, int *out)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			int e = errno;
			close(fd);
			return -e;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int pr;
		do
			pr = poll(&pfd, 1, pn_tp_left_ms(deadline));
		while (pr < 0 && errno == EINTR);
		if (pr <= 0) {
			close(fd);
			return pr == 0 ? -ETIMEDOUT : -errno;
		}
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			close(fd);
			return -err;
		}
	}
	*out = fd;
	return 0;
}

int tcp_connect(pn_tp_ctx *ctx, const char *addr, pn_tp_peer **peer, int timeout_ms)
{
	struct tcp_ctx *c = tcp_ctx_of(ctx);
	struct addrinfo *res;
	int rc = pn_tp_resolve(ctx, addr, false, &res);
	if (rc)
		return rc;
	int64_t deadline = pn_tp_deadline(timeout_ms);
	int fd = -1;
	for (;;) {
		rc = connect_once(res, deadline, &fd);
		if (rc != -ECONNREFUSED || pn_tp_left_ms(deadline) == 0)
			break;
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	freeaddrinfo(res);
	if (rc)
		return pn_tp_fail(ctx, -rc, "tcp: connect to %s: %s", addr, strerror(-rc));
	int64_t hs = pn_tp_deadline(TCP_HANDSHAKE_MS);
	if (deadline < hs)
		hs = deadline;
	uint32_t id;
	rc = tcp_auth_connect(c, fd, addr, hs, &id);
	if (rc) {
		close(fd);
		return rc;
	}
	return tcp_make_peer(c, fd, id, peer);
}

void tcp_peer_down(struct tcp_peer *p, int err, bool announce)
{
	if (p->down)
		return;
	struct tcp_ctx *c = tcp_peer_ctx(p);
	p->down = true;
	__atomic_store_n(&p->base.failed, 1, __ATOMIC_RELAXED); /* the core reads it unlocked */
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, p->fd, NULL);
	close(p->fd);
	p->fd = -1;
	tcp_fail_all_ops(p, err);
	pn_ring_free(&p->txq);
	p->rx_mode = RX_HEADER;
	p->rx_got = 0;
	if (announce) {
		pn_tp_completion comp = { .event = PN_TP_PEER_DOWN, .status = err, .peer = &p->base,
					  .peer_id = p->base.id };
		tcp_cq_push(c, &comp, NULL);
	}
}

void tcp_peer_free(struct tcp_peer *p)
{
	pn_ring_free(&p->txq);
	pn_ring_free(&p->pend);
	free(p);
}

int tcp_disconnect(pn_tp_peer *peer)
{
	struct tcp_peer *p = tcp_peer_of(peer);
	struct tcp_ctx *c = tcp_peer_ctx(p);
	pthread_mutex_lock(&c->lock);
	tcp_peer_down(p, -ECANCELED, false);
	pthread_mutex_unlock(&c->lock);
	return 0;
}
