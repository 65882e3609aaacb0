/* Leaf helpers shared by agg/, job roles and tools: clock, CPU count, error formatting,
 * finiteness check. Nothing here knows about gradients, packets or rules. */
#ifndef PENNANT_UTIL_UTIL_H
#define PENNANT_UTIL_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when no element is NaN or ±Inf (exponent bits all ones). Vectorised. */
bool pn_all_finite(const float *x, size_t n);
/* Monotonic clock in seconds, and in nanoseconds (the one clock of the library). */
double pn_now_s(void);
uint64_t pn_now_ns(void);
int pn_online_cpus(void);
/* The library's one error formatter: a message into err (no-op when err is NULL or errlen
 * is 0). pn_fail also returns -rc (a negative errno; rc may be given either sign), so an
 * open path reads `return pn_fail(err, errlen, EINVAL, "...", ...)`. */
void pn_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int pn_fail(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int pn_vfail(char *err, size_t errlen, int rc, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
/* The end of a validation prologue: false when why is NULL (nothing wrong), else true with
 * "who: why" in err. */
bool pn_refused(char *err, size_t errlen, const char *who, const char *why);

#endif
