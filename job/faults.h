#ifndef PENNANT_JOB_FAULTS_H
#define PENNANT_JOB_FAULTS_H

#include "pennant/job.h"

typedef struct pn_fault_state {
	uint64_t rng;
	bool slow; /* Markov delay state */
} pn_fault_state;

void pn_faults_init_state(pn_fault_state *st, const pn_faults *f);
/* Delay for this round, in ms (advances the Markov chain). */
double pn_faults_delay_ms(const pn_faults *f, pn_fault_state *st);
/* Applies the Byzantine transform in place. */
void pn_faults_corrupt(const pn_faults *f, pn_fault_state *st, float *g, size_t d);

#endif
