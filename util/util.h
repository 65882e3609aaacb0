/* Leaf helpers shared by agg/, job roles and tools: clock, CPU count, error formatting,
 * finiteness check. Nothing here knows about gradients, packets or rules. */
#ifndef PENNANT_UTIL_UTIL_H
#define PENNANT_UTIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when no element is NaN or ±Inf (exponent bits all ones). Vectorised. */
bool pn_all_finite(const float *x, size_t n);
/* Monotonic clock in seconds, and in nanoseconds (the one clock of the library). */
double pn_now_s(void);
uint64_t pn_now_ns(void);
int pn_online_cpus(void);
/* snprintf into err (no-op when err is NULL or errlen is 0). */
void pn_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
