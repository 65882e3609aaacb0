/* tcp backend: the authenticated handshake (transport/AUTH.md), both sides.
 *
 *   requester                               listener
 *   HELLO(id_r, nonce_r)           ->
 *                                  <-       CHALLENGE(id_l, nonce_l, proof_l)
 *   checks proof_l; if wrong: ABORT, close, connect fails
 *   PROOF(proof_r)                 ->
 *                                  <-       WELCOME, or REFUSED (fixed bytes) and close
 *
 * The requester runs it on the caller's thread, bounded by the caller's deadline. The
 * listener keeps every handshake in progress in a small table, driven without blocking
 * by pn_tp_accept: a slow or silent client never holds the listener, and a handshake
 * outlives an accept call that times out (each has its own TCP_HANDSHAKE_MS deadline).
 * A connection that fails is counted (drop_malformed for garbage or timeouts,
 * drop_bad_token for a wrong proof or an ABORT), closed, and never becomes a peer. */
#include "transport/tcp/tcp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char label[] = "tcp";

static void count(struct tcp_ctx *c, uint64_t *counter)
{
	pthread_mutex_lock(&c->lock);
	(*counter)++;
	pthread_mutex_unlock(&c->lock);
}

/* Blocking (poll-bounded) I/O for the requester. */
static int io_all(int fd, void *buf, size_t len, bool writing, int64_t deadline)
{
	uint8_t *p = buf;
	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = writing ? POLLOUT : POLLIN };
		int pr = poll(&pfd, 1, pn_tp_left_ms(deadline));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			return -ETIMEDOUT;
		ssize_t n = writing ? send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT)
				    : recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_msg(int fd, const struct tcp_hs_msg *m, int64_t deadline)
{
	uint8_t b[TCP_HS_MAX];
	size_t n = tcp_hs_build(m, b);
	return io_all(fd, b, n, true, deadline);
}

/* One whole handshake message; -EPROTO if the bytes are not one. */
static int recv_msg(int fd, struct tcp_hs_msg *m, int64_t deadline)
{
	uint8_t b[TCP_HS_MAX];
	int rc = io_all(fd, b, TCP_WIRE_HDR_SIZE, false, deadline);
	if (rc)
		return rc;
	int pl = tcp_hs_payload_len(b);
	if (pl < 0)
		return -EPROTO;
	if (pl && (rc = io_all(fd, b + TCP_WIRE_HDR_SIZE, (size_t)pl, false, deadline)) != 0)
		return rc;
	return tcp_hs_parse(b, TCP_WIRE_HDR_SIZE + (size_t)pl, m) ? -EPROTO : 0;
}

int tcp_auth_connect(struct tcp_ctx *c, int fd, const char *addr, int64_t deadline, uint32_t *peer_id)
{
	pn_tp_ctx *ctx = &c->base;
	struct pn_auth_transcript t = { .label = label, .id_req = ctx->cfg.node_id };
	if (pn_auth_nonce(t.nonce_req))
		return pn_tp_fail(ctx, EIO, "tcp: no random nonce (libcrypto)");
	struct tcp_hs_msg m = { .type = TCP_HELLO, .node_id = t.id_req };
	memcpy(m.nonce, t.nonce_req, TCP_NONCE_LEN);
	int rc = send_msg(fd, &m, deadline);
	if (rc == 0)
		rc = recv_msg(fd, &m, deadline);
	if (rc == -EPROTO || (rc == 0 && m.type != TCP_CHALLENGE)) {
		count(c, &c->live.drop_malformed);
		return pn_tp_fail(ctx, EPROTO, "tcp: %s is not a pennant tcp listener (or speaks another "
				  "protocol version)", addr);
	}
	if (rc)
		return pn_tp_fail(ctx, -rc, "tcp: handshake with %s: %s", addr, strerror(-rc));
	t.id_lis = m.node_id;
	memcpy(t.nonce_lis, m.nonce, TCP_NONCE_LEN);
	if (!pn_auth_check(ctx, PN_AUTH_LISTENER, &t, m.proof)) {
		count(c, &c->live.drop_bad_token);
		struct tcp_hs_msg ab = { .type = TCP_ABORT };
		send_msg(fd, &ab, deadline); /* best effort: tells it why we leave */
		return pn_tp_fail(ctx, EACCES, "tcp: %s could not prove it knows the job secret (the two "
				  "sides were given different secrets)", addr);
	}
	m = (struct tcp_hs_msg){ .type = TCP_PROOF };
	if (pn_auth_prove(ctx, PN_AUTH_REQUESTER, &t, m.proof))
		return pn_tp_fail(ctx, EIO, "tcp: cannot compute the proof (libcrypto)");
	rc = send_msg(fd, &m, deadline);
	if (rc == 0)
		rc = recv_msg(fd, &m, deadline);
	if (rc == 0 && m.type == TCP_REFUSED)
		return pn_tp_fail(ctx, EPERM, "tcp: %s refused our proof of the job secret", addr);
	if (rc == -EPROTO || (rc == 0 && m.type != TCP_WELCOME)) {
		count(c, &c->live.drop_malformed);
		return pn_tp_fail(ctx, EPROTO, "tcp: %s broke the handshake", addr);
	}
	if (rc)
		return pn_tp_fail(ctx, -rc, "tcp: handshake with %s: %s", addr, strerror(-rc));
	*peer_id = t.id_lis;
	return 0;
}

/* ---- listener ---- */

struct tcp_hs {
	int fd;                  /* -1: free slot */
	int64_t deadline;
	bool proving;            /* CHALLENGE sent, waiting for PROOF */
	uint32_t got;
	uint8_t buf[TCP_HS_MAX];
	struct pn_auth_transcript t;
};

static void hs_drop(struct tcp_hs *s)
{
	close(s->fd);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

/* The whole message must go at once: it is tiny and the socket is fresh. */
static int send_now(int fd, const struct tcp_hs_msg *m)
{
	uint8_t b[TCP_HS_MAX];
	size_t n = tcp_hs_build(m, b);
	ssize_t w;
	do
		w = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	return w == (ssize_t)n ? 0 : -EIO;
}

/* Read what has arrived: 1 when buf holds one whole message, 0 if more is needed,
 * <0 on EOF, error or bytes that cannot start a handshake message. */
static int hs_read(struct tcp_hs *s)
{
	for (;;) {
		uint32_t want = TCP_WIRE_HDR_SIZE;
		if (s->got >= TCP_WIRE_HDR_SIZE) {
			int pl = tcp_hs_payload_len(s->buf);
			if (pl < 0)
				return -EPROTO;
			want += (uint32_t)pl;
		}
		if (s->got == want)
			return 1;
		ssize_t n = recv(s->fd, s->buf + s->got, want - s->got, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		s->got += (uint32_t)n;
	}
}

/* Advance one handshake: 1 = it became a peer (*out set), 0 = in progress, -1 = dropped,
 * <-1 = a local error making the peer (returned to the caller). */
static int hs_step(struct tcp_ctx *c, struct tcp_hs *s, pn_tp_peer **out)
{
	int rc = hs_read(s);
	if (rc == 0)
		return 0;
	struct tcp_hs_msg m;
	if (rc < 0 || tcp_hs_parse(s->buf, s->got, &m) != 0 ||
	    (!s->proving && m.type != TCP_HELLO) ||
	    (s->proving && m.type != TCP_PROOF && m.type != TCP_ABORT)) {
		count(c, &c->live.drop_malformed);
		hs_drop(s);
		return -1;
	}
	s->got = 0;
	if (!s->proving) {
		s->t = (struct pn_auth_transcript){ .label = label, .id_req = m.node_id,
						    .id_lis = c->base.cfg.node_id };
		memcpy(s->t.nonce_req, m.nonce, TCP_NONCE_LEN);
		struct tcp_hs_msg ch = { .type = TCP_CHALLENGE, .node_id = s->t.id_lis };
		if (pn_auth_nonce(s->t.nonce_lis) || pn_auth_prove(&c->base, PN_AUTH_LISTENER, &s->t, ch.proof)) {
			hs_drop(s);
			return -1;
		}
		memcpy(ch.nonce, s->t.nonce_lis, TCP_NONCE_LEN);
		if (send_now(s->fd, &ch)) {
			hs_drop(s);
			return -1;
		}
		s->proving = true;
		return 0;
	}
	if (m.type == TCP_ABORT || !pn_auth_check(&c->base, PN_AUTH_REQUESTER, &s->t, m.proof)) {
		count(c, &c->live.drop_bad_token);
		if (m.type == TCP_PROOF) {
			struct tcp_hs_msg no = { .type = TCP_REFUSED };
			send_now(s->fd, &no);
		}
		hs_drop(s);
		return -1;
	}
	struct tcp_hs_msg ok = { .type = TCP_WELCOME };
	if (send_now(s->fd, &ok)) {
		hs_drop(s);
		return -1;
	}
	int fd = s->fd;
	uint32_t id = s->t.id_req;
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	rc = tcp_make_peer(c, fd, id, out);
	return rc == 0 ? 1 : (rc < -1 ? rc : -EIO);
}

void tcp_auth_free(struct tcp_ctx *c)
{
	if (!c->hs)
		return;
	for (int i = 0; i < TCP_HS_SLOTS; i++)
		if (c->hs[i].fd >= 0)
			close(c->hs[i].fd);
	free(c->hs);
	c->hs = NULL;
}

int tcp_auth_accept(struct tcp_ctx *c, pn_tp_peer **peer, int timeout_ms)
{
	if (!c->hs) {
		c->hs = calloc(TCP_HS_SLOTS, sizeof(*c->hs));
		if (!c->hs)
			return pn_tp_fail(&c->base, ENOMEM, "tcp: out of memory");
		for (int i = 0; i < TCP_HS_SLOTS; i++)
			c->hs[i].fd = -1;
	}
	int64_t deadline = pn_tp_deadline(timeout_ms);
	for (;;) {
		struct pollfd pfd[TCP_HS_SLOTS + 1];
		int slot_of[TCP_HS_SLOTS + 1];
		int n = 0, free_slots = 0;
		int64_t wake = deadline;
		for (int i = 0; i < TCP_HS_SLOTS; i++) {
			struct tcp_hs *s = &c->hs[i];
			if (s->fd < 0) {
				free_slots++;
				continue;
			}
			pfd[n] = (struct pollfd){ .fd = s->fd, .events = POLLIN };
			slot_of[n++] = i;
			if (s->deadline < wake)
				wake = s->deadline;
		}
		int listen_at = -1;
		if (free_slots) { /* when full, newcomers wait in the kernel's backlog */
			listen_at = n;
			pfd[n++] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
		}
		int pr = poll(pfd, (nfds_t)n, pn_tp_left_ms(wake));
		if (pr < 0 && errno != EINTR)
			return pn_tp_fail(&c->base, errno, "tcp: poll: %s", strerror(errno));
		int64_t t = pn_tp_now_ms();
		for (int k = 0; k < n; k++) {
			if (k == listen_at)
				continue;
			struct tcp_hs *s = &c->hs[slot_of[k]];
			if (pr > 0 && pfd[k].revents) {
				int rc = hs_step(c, s, peer);
				if (rc == 1)
					return 0;
				if (rc < -1)
					return rc;
			}
			if (s->fd >= 0 && t >= s->deadline) { /* silent or too slow */
				count(c, &c->live.drop_malformed);
				hs_drop(s);
			}
		}
		if (listen_at >= 0 && pr > 0 && (pfd[listen_at].revents & POLLIN)) {
			for (int i = 0; i < TCP_HS_SLOTS; i++) {
				if (c->hs[i].fd >= 0)
					continue;
				int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0) {
					if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED ||
					    errno == EWOULDBLOCK)
						break;
					return pn_tp_fail(&c->base, errno, "tcp: accept: %s", strerror(errno));
				}
				c->hs[i].fd = fd;
				c->hs[i].deadline = pn_tp_deadline(TCP_HANDSHAKE_MS);
			}
		}
		if (pn_tp_now_ms() >= deadline)
			return pn_tp_fail(&c->base, ETIMEDOUT, "tcp: no peer within %d ms", timeout_ms);
	}
}
