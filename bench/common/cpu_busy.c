/* The machine's busy CPU time from /proc/stat (cpu_busy.h). */
#include "cpu_busy.h"

#include <stdio.h>
#include <unistd.h>

double bench_cpu_busy_s(void)
{
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal = 0;
	int k = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle,
		       &iowait, &irq, &softirq, &steal);
	fclose(f);
	long hz = sysconf(_SC_CLK_TCK);
	if (k < 7 || hz <= 0)
		return -1;
	return (double)(user + nice + sys + irq + softirq + steal) / (double)hz;
}
