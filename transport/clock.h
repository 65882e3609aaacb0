/* Internal: the transport's time helpers, all on the library's one monotonic clock
 * (pn_now_ns in util/util.h). A deadline is an absolute time in milliseconds, or
 * PN_TP_FOREVER for a timeout of -1. */
#ifndef PENNANT_TRANSPORT_CLOCK_H
#define PENNANT_TRANSPORT_CLOCK_H

#include "util/util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PN_TP_FOREVER INT64_MAX

static inline int64_t pn_tp_now_ms(void) { return (int64_t)(pn_now_ns() / 1000000u); }
static inline int64_t pn_tp_now_us(void) { return (int64_t)(pn_now_ns() / 1000u); }

/* The deadline of an API timeout (ms; -1 = wait forever). */
int64_t pn_tp_deadline(int timeout_ms);
/* Milliseconds left until deadline for poll(2): -1 when forever, else 0..1000000. */
int pn_tp_left_ms(int64_t deadline);

/* A condition variable that times out on the monotonic clock. */
int pn_tp_cond_init(pthread_cond_t *cond);
/* With m held: wait on cond until pred(arg) holds (0) or timeout_ms passes (-ETIMEDOUT;
 * 0 = do not wait, -1 = forever). */
int pn_tp_wait_until(pthread_cond_t *cond, pthread_mutex_t *m, int timeout_ms,
		     bool (*pred)(void *arg), void *arg);

#endif
