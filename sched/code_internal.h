/* Internals shared by the gradient-code files: the code object and per-kind hooks. */
#ifndef PN_SCHED_CODE_INTERNAL_H
#define PN_SCHED_CODE_INTERNAL_H

#include "pennant/codes.h"
#include "sched/decode_cache.h"

#include <stdbool.h>
#include <stdint.h>

struct pn_code_ops {
	/* Threshold reached (see pn_code_ready). */
	bool (*ready)(const pn_code *c, const bool *finished);
	/* Unfinished workers still useful; NULL: all unfinished until ready, then none. */
	void (*needed)(const pn_code *c, const bool *finished, bool *needed);
	/* Straggler feedback (GC-DC); NULL: ignored. Returns workers moved or -errno. */
	int (*observe)(pn_code *c, const bool *straggled);
	void (*free_impl)(void *impl);
	/* Partition list when it is not the non-zeros of B (comm-efficient); NULL: B. */
	int (*partitions)(const pn_code *c, int worker, int *parts, double *coefs, int cap);
	/* Matrix decode (comm-efficient): A is comm_dim × n. NULL: vector decode of B. */
	int (*decode_matrix)(pn_code *c, const bool *finished, int k, double *A, pn_decode_info *info);
};

struct pn_code {
	pn_code_kind kind;
	int n, s;
	int comm_dim;         /* m: messages are ceil(d/m) long (1 for every code but one) */
	double *E;            /* comm_dim > 1: n × (n·m) row-major encode matrix; else NULL (= B) */
	bool exact;           /* decode exact once ready */
	double *B;            /* n×n row-major */
	int *group;           /* n: replica group / cluster per worker (may be NULL) */
	int ngroups;
	double sigma2;        /* second singular value (approximate codes) */
	double probe_cond;    /* cyclic codes: worst cond over the construction's probe sets */
	double warn_cond;
	bool warned;
	uint64_t generation;
	const struct pn_code_ops *ops;
	void *impl;
	pn_decode_cache cache;
	pn_code_stats stats;
	char desc[96];
};

/* Per-kind builders: fill B (already allocated, zeroed), ops, group, desc. Return 0 or
 * -EINVAL with a message. */
int pn_code_build_uncoded(pn_code *c, const pn_code_params *p, char *err, size_t errlen);
int pn_code_build_fractional(pn_code *c, const pn_code_params *p, char *err, size_t errlen);
int pn_code_build_cyclic(pn_code *c, const pn_code_params *p, char *err, size_t errlen);
int pn_code_build_expander(pn_code *c, const pn_code_params *p, char *err, size_t errlen);
int pn_code_build_bibd(pn_code *c, const pn_code_params *p, char *err, size_t errlen);
int pn_code_build_gcdc(pn_code *c, const pn_code_params *p, char *err, size_t errlen);
int pn_code_build_comm_efficient(pn_code *c, const pn_code_params *p, char *err, size_t errlen);

/* Cyclic-repetition matrix for m workers tolerating s (row-major m×m into out, stride
 * ld), from a seeded Gaussian H; the best conditioned of `candidates` draws (by the worst
 * cond over probe straggler sets, written to *worst_cond). Used by the cyclic code and
 * inside GC-DC clusters. */
int pn_cyclic_matrix(int m, int s, uint64_t seed, int candidates, double *out, int ld, double *worst_cond);

/* Probe straggler set t (n flags into strag): for t < blocks the contiguous block of s
 * workers starting at t·n/blocks (adjacent supports overlap most), after that s distinct
 * workers drawn from rng. */
struct pn_rng;
void pn_code_probe_set(bool *strag, int n, int s, int t, int blocks, struct pn_rng *rng);

/* Default readiness helper: at least `need` finished. */
int pn_code_count_finished(const pn_code *c, const bool *finished);

/* B changed: bump generation and drop cached decoders. */
void pn_code_matrix_changed(pn_code *c);

#endif
