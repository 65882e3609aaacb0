/* tcp backend: the progress thread. It waits on every peer socket, parses incoming frames
 * and hands them to the responder (READ_REQ), the requester (READ_RESP) or the control
 * path (CTRL), and drains send queues the caller's thread could not finish. */
#include "transport/tcp/tcp.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define RX_BUDGET (4u << 20) /* bytes read from one peer before looking at the others */

int tcp_epoll_add(struct tcp_ctx *c, struct tcp_peer *p)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = p };
	return epoll_ctl(c->epfd, EPOLL_CTL_ADD, p->fd, &ev) == 0 ? 0 : -errno;
}

/* A whole header is in p->rx_hdr: decide where its payload goes. <0: stream is broken. */
static int on_header(struct tcp_peer *p)
{
	struct tcp_ctx *c = tcp_peer_ctx(p);
	tcp_wire_decode(p->rx_hdr, &p->rx);
	p->rx_got = 0;
	if (p->rx.version != TCP_WIRE_VERSION) {
		c->live.drop_malformed++;
		return -EPROTO;
	}
	switch (p->rx.type) {
	case TCP_READ_REQ:
		return tcp_on_read_req(p, &p->rx);
	case TCP_READ_RESP: {
		int rc = tcp_on_read_resp(p, &p->rx);
		if (rc == 0 && p->rx_mode == RX_HEADER)
			tcp_pump_requests(p); /* a refused piece freed window space */
		return rc;
	}
	case TCP_CTRL:
		if (p->rx.len == 0 || p->rx.len > PN_TP_CTRL_MAX) {
			c->live.drop_malformed++;
			return -EPROTO;
		}
		p->rx_mode = RX_CTRL;
		return 0;
	default:
		c->live.drop_malformed++;
		return -EPROTO;
	}
}

/* A payload (landing data or control message) is complete; `extra` bytes of the next
 * header came with it. Returns <0 if the stream is broken. */
static int on_payload_done(struct tcp_peer *p, uint32_t extra)
{
	enum tcp_rx_mode mode = p->rx_mode;
	p->rx_mode = RX_HEADER;
	p->rx_got = extra;
	if (mode == RX_LAND) {
		tcp_on_piece_landed(p);
		tcp_pump_requests(p);
	} else {
		tcp_on_ctrl(p);
	}
	return extra == TCP_WIRE_HDR_SIZE ? on_header(p) : 0;
}

static void on_readable(struct tcp_peer *p)
{
	size_t budget = RX_BUDGET;
	while (!p->down && budget > 0) {
		struct iovec iov[2];
		int niov = 1;
		if (p->rx_mode == RX_HEADER) {
			iov[0].iov_base = p->rx_hdr + p->rx_got;
			iov[0].iov_len = TCP_WIRE_HDR_SIZE - p->rx_got;
		} else {
			/* Landing data goes straight into the reader's buffer: this is the only
			 * copy on the read path, and the socket medium forces it. The next header
			 * is read in the same call (its buffer is free: the current header has
			 * been decoded), which saves a system call per frame. */
			uint8_t *base = p->rx_mode == RX_LAND ? p->rx_dst : p->rx_ctrl;
			iov[0].iov_base = base + p->rx_got;
			iov[0].iov_len = p->rx.len - p->rx_got;
			iov[1].iov_base = p->rx_hdr;
			iov[1].iov_len = TCP_WIRE_HDR_SIZE;
			niov = 2;
		}
		size_t want = iov[0].iov_len;
		ssize_t n = readv(p->fd, iov, niov);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			tcp_peer_down(p, n == 0 ? -ECONNRESET : -errno, true);
			return;
		}
		budget -= (size_t)n < budget ? (size_t)n : budget;
		if ((size_t)n < want) {
			p->rx_got += (uint32_t)n;
			continue;
		}
		int rc;
		if (p->rx_mode == RX_HEADER) {
			p->rx_got = TCP_WIRE_HDR_SIZE;
			rc = on_header(p);
		} else {
			rc = on_payload_done(p, (uint32_t)((size_t)n - want));
		}
		if (rc < 0) {
			tcp_peer_down(p, rc, true);
			return;
		}
	}
	tcp_peer_kick(p);
}

static void *progress_main(void *arg)
{
	struct tcp_ctx *c = arg;
	struct epoll_event evs[32];
	for (;;) {
		int n = epoll_wait(c->epfd, evs, 32, -1);
		if (n < 0 && errno != EINTR)
			break;
		pthread_mutex_lock(&c->lock);
		if (c->stop) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		for (int i = 0; i < n; i++) {
			struct tcp_peer *p = evs[i].data.ptr;
			if (!p) {
				uint64_t v;
				if (read(c->wakefd, &v, sizeof(v)) < 0) {
					/* nothing pending: fine */
				}
				continue;
			}
			if (p->down)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
				on_readable(p);
			else if (evs[i].events & EPOLLOUT)
				tcp_peer_kick(p);
		}
		pthread_mutex_unlock(&c->lock);
	}
	return NULL;
}

int tcp_progress_start(struct tcp_ctx *c, char *err, size_t errlen)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->wakefd, &ev) != 0) {
		pn_errf(err, errlen, "tcp: epoll_ctl: %s", strerror(errno));
		return -errno;
	}
	/* The progress thread takes no signals: the application's handlers run on its own
	 * threads, as if the backend had none. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&c->thread, NULL, progress_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pn_errf(err, errlen, "tcp: cannot start progress thread: %s", strerror(rc));
		return -rc;
	}
	c->thread_started = true;
	return 0;
}

void tcp_progress_stop(struct tcp_ctx *c)
{
	if (!c->thread_started)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_mutex_unlock(&c->lock);
	uint64_t one = 1;
	if (write(c->wakefd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow here; nothing else can fail */
	}
	pthread_join(c->thread, NULL);
	c->thread_started = false;
}
