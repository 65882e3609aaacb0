/* dpdk backend: completions go into the core's queue (transport/cq.h) from the service
 * thread and leave it through poll, under ctx->lock. */
#include "dp.h"

#include <errno.h>

int dp_cq_push(struct dp_ctx *c, const pn_tp_completion *comp, const void *data)
{
	if (pn_cq_push(&c->cq, comp, data) != 0) {
		dp_nobuf(c, PN_DP_WHY_NO_SLOT, 1); /* cannot record it: say so */
		return -ENOMEM;
	}
	pthread_cond_broadcast(&c->cond);
	return 0;
}

struct wait_arg {
	struct dp_ctx *c;
	bool (*pred)(struct dp_ctx *, void *);
	void *arg;
};

static bool wait_pred(void *p)
{
	struct wait_arg *w = p;
	return w->pred(w->c, w->arg);
}

int dp_wait_until(struct dp_ctx *c, int timeout_ms, bool (*pred)(struct dp_ctx *, void *), void *arg)
{
	struct wait_arg w = { c, pred, arg };
	return pn_tp_wait_until(&c->cond, &c->lock, timeout_ms, wait_pred, &w);
}

static bool have_completion(struct dp_ctx *c, void *arg)
{
	(void)arg;
	return pn_cq_len(&c->cq) > 0;
}

int dp_poll(pn_tp_ctx *ctx, pn_tp_completion *out, int max, int timeout_ms)
{
	struct dp_ctx *c = dp_ctx(ctx);
	pthread_mutex_lock(&c->lock);
	dp_wait_until(c, timeout_ms, have_completion, NULL);
	int n = pn_cq_pop(&c->cq, out, max, NULL, NULL);
	pthread_mutex_unlock(&c->lock);
	return n < 0 ? pn_tp_fail(ctx, ENOMEM, "dpdk: no memory for poll") : n;
}
