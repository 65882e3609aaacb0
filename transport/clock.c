/* Deadlines and monotonic condition waits shared by the backends (clock.h). */
#include "transport/clock.h"

#include <errno.h>
#include <time.h>

int64_t pn_tp_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? PN_TP_FOREVER : pn_tp_now_ms() + timeout_ms;
}

int pn_tp_left_ms(int64_t deadline)
{
	if (deadline == PN_TP_FOREVER)
		return -1;
	int64_t d = deadline - pn_tp_now_ms();
	return d <= 0 ? 0 : d > 1000000 ? 1000000 : (int)d;
}

int pn_tp_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
	return -rc;
}

int pn_tp_wait_until(pthread_cond_t *cond, pthread_mutex_t *m, int timeout_ms,
		     bool (*pred)(void *arg), void *arg)
{
	struct timespec dl = { 0, 0 };
	if (timeout_ms > 0) {
		uint64_t at = pn_now_ns() + (uint64_t)timeout_ms * 1000000u;
		dl.tv_sec = (time_t)(at / 1000000000u);
		dl.tv_nsec = (long)(at % 1000000000u);
	}
	while (!pred(arg)) {
		if (timeout_ms == 0)
			return -ETIMEDOUT;
		if (timeout_ms < 0)
			pthread_cond_wait(cond, m);
		else if (pthread_cond_timedwait(cond, m, &dl) == ETIMEDOUT)
			return pred(arg) ? 0 : -ETIMEDOUT;
	}
	return 0;
}
