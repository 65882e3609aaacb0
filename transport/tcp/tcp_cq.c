/* tcp backend: the completion queue filled by the progress thread and drained by poll. */
#include "transport/tcp/tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void tcp_cq_push(struct tcp_ctx *c, const pn_tp_completion *comp, const void *data)
{
	if (c->cq_count == c->cq_cap) {
		uint32_t ncap = c->cq_cap ? c->cq_cap * 2 : 256;
		struct tcp_cqe *n = malloc((size_t)ncap * sizeof(*n));
		if (!n) {
			/* Cannot record it; better to say so than to lose it silently. */
			c->live.drop_no_buffer++;
			return;
		}
		for (uint32_t i = 0; i < c->cq_count; i++)
			n[i] = c->cq[(c->cq_head + i) % c->cq_cap];
		free(c->cq);
		c->cq = n;
		c->cq_cap = ncap;
		c->cq_head = 0;
	}
	struct tcp_cqe *e = &c->cq[(c->cq_head + c->cq_count) % c->cq_cap];
	c->cq_count++;
	e->c = *comp;
	if (data && comp->len)
		memcpy(e->data, data, comp->len);
	pthread_cond_signal(&c->cq_cond);
}

static void deadline_ts(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int tcp_poll(pn_tp_ctx *ctx, pn_tp_completion *out, int max, int timeout_ms)
{
	struct tcp_ctx *c = tcp_ctx_of(ctx);
	if (max > c->poll_data_cap) {
		void *n = realloc(c->poll_data, (size_t)max * PN_TP_CTRL_MAX);
		if (!n)
			return pn_tp_fail(ctx, ENOMEM, "tcp: poll buffer");
		c->poll_data = n;
		c->poll_data_cap = max;
	}
	struct timespec ts;
	if (timeout_ms > 0)
		deadline_ts(&ts, timeout_ms);
	pthread_mutex_lock(&c->lock);
	while (c->cq_count == 0 && timeout_ms != 0) {
		int rc = timeout_ms < 0 ? pthread_cond_wait(&c->cq_cond, &c->lock)
					: pthread_cond_timedwait(&c->cq_cond, &c->lock, &ts);
		if (rc == ETIMEDOUT)
			break;
	}
	int n = 0;
	while (n < max && c->cq_count > 0) {
		struct tcp_cqe *e = &c->cq[c->cq_head];
		out[n] = e->c;
		if (e->c.event == PN_TP_CTRL_RECV) {
			memcpy(c->poll_data[n], e->data, e->c.len);
			out[n].data = c->poll_data[n];
		} else {
			out[n].data = NULL;
		}
		c->cq_head = (c->cq_head + 1) % c->cq_cap;
		c->cq_count--;
		n++;
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}

void tcp_cq_free(struct tcp_ctx *c)
{
	free(c->cq);
	free(c->poll_data);
	c->cq = NULL;
	c->poll_data = NULL;
	c->cq_cap = c->cq_count = 0;
}
