/* tcp backend: context lifetime and its ops table. */
#include "transport/tcp/tcp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static void tcp_close(pn_tp_ctx *ctx);

static pn_tp_ctx *tcp_open(const pn_tp_config *cfg, char *err, size_t errlen)
{
	struct tcp_ctx *c = pn_tp_ctx_new(sizeof(*c), cfg, err, errlen);
	if (!c)
		return NULL;
	c->epfd = c->wakefd = c->listen_fd = -1;
	if (tcp_parse_options(c, cfg, err, errlen) != 0) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	pn_tp_cond_init(&c->cq_cond);
	pn_cq_init(&c->cq);
	/* Keys start at a random point so a stale descriptor from an earlier run of the job
	 * is unlikely to name a live region. */
	if (getrandom(&c->next_key, sizeof(c->next_key), GRND_NONBLOCK) != sizeof(c->next_key))
		c->next_key = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->epfd < 0 || c->wakefd < 0) {
		pn_errf(err, errlen, "tcp: epoll/eventfd: %s", strerror(errno));
		tcp_close(&c->base);
		return NULL;
	}
	if (tcp_progress_start(c, err, errlen) != 0) {
		tcp_close(&c->base);
		return NULL;
	}
	return &c->base;
}

static void tcp_close(pn_tp_ctx *ctx)
{
	struct tcp_ctx *c = tcp_ctx_of(ctx);
	tcp_progress_stop(c);
	pthread_mutex_lock(&c->lock);
	for (struct tcp_peer *p = c->peers; p; p = p->next) {
		if (!p->down)
			tcp_flush(p); /* best effort: a last control message should leave */
		tcp_peer_down(p, -ECANCELED, false);
	}
	pthread_mutex_unlock(&c->lock);
	while (c->peers) {
		struct tcp_peer *p = c->peers;
		c->peers = p->next;
		tcp_peer_free(p);
	}
	tcp_mr_free_all(c);
	pn_cq_free(&c->cq);
	tcp_auth_free(c);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->wakefd >= 0)
		close(c->wakefd);
	pthread_cond_destroy(&c->cq_cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static size_t tcp_preferred_chunk(const pn_tp_ctx *ctx)
{
	return ((const struct tcp_ctx *)ctx)->piece;
}

static void tcp_refresh_stats(const pn_tp_ctx *ctx)
{
	/* The context object itself is never const; the API just promises not to change
	 * anything the caller can observe besides the counters. */
	struct tcp_ctx *c = (struct tcp_ctx *)ctx;
	pthread_mutex_lock(&c->lock);
	c->base.stats = c->live;
	pthread_mutex_unlock(&c->lock);
}

const struct pn_tp_ops pn_tp_tcp_ops = {
	.name = "tcp",
	.open = tcp_open,
	.close = tcp_close,
	.preferred_chunk = tcp_preferred_chunk,
	.alloc = tcp_alloc,
	.reg = tcp_reg,
	.dereg = tcp_dereg,
	.listen = tcp_listen,
	.local_addr = tcp_local_addr,
	.accept = tcp_accept,
	.connect = tcp_connect,
	.disconnect = tcp_disconnect,
	.post_read = tcp_post_read,
	.send_ctrl = tcp_send_ctrl,
	.poll = tcp_poll,
	.refresh_stats = tcp_refresh_stats,
};
