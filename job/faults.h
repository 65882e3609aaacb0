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
/* Applies the Byzantine transform in place. Attacks that need honest gradients (ALIE,
 * IPM, mimic) cannot be applied from g alone: the first call says so on stderr and g is
 * left unchanged; use pn_faults_corrupt_colluding or pn_faults_corrupt_job. */
void pn_faults_corrupt(const pn_faults *f, pn_fault_state *st, float *g, size_t d);

/* ---- colluding attacks (ALIE, IPM, mimic) ----
 * These attackers know honest gradients. How they get them: colluding Byzantine workers
 * compute honest gradients themselves, on partitions they can read (their own, each other's,
 * or, with shared storage as in pennant-train, any partition of the round), at the round's
 * model; every colluder derives the same message from the same samples. The offline demo
 * hands them the actual honest gradients (the omniscient case of the ALIE paper). */
#define PN_IPM_EPSILON 0.1

bool pn_byzantine_needs_honest(pn_byzantine b);
/* ALIE's z for n workers of which f attack (Baruch et al. 2019): with s = ⌊n/2 + 1⌋ − f
 * honest workers the attackers must "win over", z = Φ⁻¹((n − s)/n); at least 0. */
double pn_alie_z(int n, int f);
/* g (d values) becomes the attack built from nh honest samples (each d values); n workers,
 * nbyz attackers (ALIE's z). Other attacks: as pn_faults_corrupt. Returns 0, or -EINVAL if
 * the attack needs honest samples and nh < 1. */
int pn_faults_corrupt_colluding(const pn_faults *f, pn_fault_state *st, float *g, size_t d,
				const float *const *honest, int nh, int n, int nbyz);
/* Worker side, for the job: for colluding attacks, computes the honest gradient of every
 * one of the n partitions at `model` with src (as the round's honest workers would, scaled
 * by Σ coefs so that the message has the scale of this worker's coded gradient), then calls
 * pn_faults_corrupt_colluding; other attacks go to pn_faults_corrupt. Returns 0 or -errno. */
int pn_faults_corrupt_job(const pn_faults *f, pn_fault_state *st, float *g, size_t d,
			  const pn_grad_source *src, uint64_t round, const float *model, const double *coefs,
			  int ncoefs, int n, int nbyz);

#endif
