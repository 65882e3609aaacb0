/* Leaf helpers: clock, CPU count, error formatting, finiteness check (see util.h). */
#include "util.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

uint64_t pn_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double pn_now_s(void)
{
	return 1e-9 * (double)pn_now_ns();
}

int pn_online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

int pn_vfail(char *err, size_t errlen, int rc, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	return rc < 0 ? rc : -rc;
}

int pn_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc = pn_vfail(err, errlen, rc, fmt, ap);
	va_end(ap);
	return rc;
}

bool pn_refused(char *err, size_t errlen, const char *who, const char *why)
{
	if (!why)
		return false;
	pn_errf(err, errlen, "%s: %s", who, why);
	return true;
}

void pn_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pn_vfail(err, errlen, 0, fmt, ap);
	va_end(ap);
}

/* An integer OR-reduction over the exponent test vectorises; a float one would not. */
__attribute__((target_clones("avx512f", "avx2", "default"))) bool pn_all_finite(const float *x,
										  size_t n)
{
	uint32_t bad = 0;
	for (size_t k = 0; k < n; k++) {
		uint32_t u;
		memcpy(&u, &x[k], sizeof u);
		bad |= (u & 0x7f800000u) == 0x7f800000u;
	}
	return bad == 0;
}
