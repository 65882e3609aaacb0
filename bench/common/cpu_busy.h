/* How busy the whole machine's CPUs were: for benchmarks whose peers (forked workers)
 * share the cores with the process measured, so that a round's time can be set against
 * the CPU work the round cost everyone. */
#ifndef PENNANT_BENCH_CPU_BUSY_H
#define PENNANT_BENCH_CPU_BUSY_H

/* Core-seconds the machine's CPUs have spent busy since boot (user, nice, system, irq,
 * softirq, steal: /proc/stat), or a negative number where that cannot be read. */
double bench_cpu_busy_s(void);

/* (Spread over pn_online_cpus(): the CPUs /proc/stat's total line covers.) */

#endif
