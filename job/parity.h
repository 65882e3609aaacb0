/* Double buffering by round parity: the aggregator's model, its landing rows, a worker's
 * gradient region and the count of reads in flight all have two slots, and round v uses
 * slot v % 2 (so round v+1 can be published and computed while round v's reads drain). */
#ifndef PENNANT_JOB_PARITY_H
#define PENNANT_JOB_PARITY_H

#include <stdint.h>

static inline unsigned pn_job_slot(int64_t round)
{
	return (unsigned)(round & 1);
}

#endif
