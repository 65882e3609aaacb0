/* tcp backend: completions go into the core's queue (transport/cq.h) from the progress
 * thread and leave it through poll, under the context lock. */
#include "transport/tcp/tcp.h"

#include <errno.h>

void tcp_cq_push(struct tcp_ctx *c, const pn_tp_completion *comp, const void *data)
{
	if (pn_cq_push(&c->cq, comp, data) != 0) {
		/* Cannot record it; better to say so than to lose it silently. */
		c->live.drop_no_buffer++;
		return;
	}
	pthread_cond_signal(&c->cq_cond);
}

static bool cq_nonempty(void *arg)
{
	return pn_cq_len(arg) > 0;
}

int tcp_poll(pn_tp_ctx *ctx, pn_tp_completion *out, int max, int timeout_ms)
{
	struct tcp_ctx *c = tcp_ctx_of(ctx);
	pthread_mutex_lock(&c->lock);
	pn_tp_wait_until(&c->cq_cond, &c->lock, timeout_ms, cq_nonempty, &c->cq);
	int n = pn_cq_pop(&c->cq, out, max, NULL, NULL);
	pthread_mutex_unlock(&c->lock);
	return n < 0 ? pn_tp_fail(ctx, ENOMEM, "tcp: poll buffer") : n;
}
