/* The latency pass's clock (bench_pull.h). Every interval holds one clock read, so the
 * read must cost next to nothing: in a guest whose TSC the kernel does not trust,
 * clock_gettime is a system call of about 3 us, which sat inside every 50 us read.
 * perftest's ib_read_lat times with the TSC (get_cycles); so does this, where there is
 * one: the thread is pinned to the CPU it is on for the pass (a guest's vCPUs need not
 * agree on the TSC), and the TSC's rate is taken from the monotonic clock over the same
 * pass. Elsewhere, or if pinning fails, it is clock_gettime. */
#include "bench_pull.h"

#include <sched.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void lat_clock_begin(struct lat_clock *k, bool want_tsc)
{
	k->tsc = false;
#if HAVE_TSC
	int cpu = sched_getcpu();
	if (want_tsc && cpu >= 0 && sched_getaffinity(0, sizeof k->saved, &k->saved) == 0) {
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		k->tsc = sched_setaffinity(0, sizeof one, &one) == 0;
	}
#else
	(void)want_tsc;
#endif
	k->mono0 = mono_ns();
	k->ticks0 = lat_clock_now(k);
}

uint64_t lat_clock_now(const struct lat_clock *k)
{
#if HAVE_TSC
	if (k->tsc)
		return __rdtsc();
#endif
	(void)k;
	return mono_ns();
}

double lat_clock_end(struct lat_clock *k)
{
	uint64_t ticks = lat_clock_now(k), ns = mono_ns() - k->mono0;
	if (!k->tsc)
		return 1000.0; /* nanoseconds */
#if HAVE_TSC
	sched_setaffinity(0, sizeof k->saved, &k->saved);
#endif
	return ticks > k->ticks0 && ns > 0 ? (double)(ticks - k->ticks0) / ((double)ns / 1e3) : 0;
}
