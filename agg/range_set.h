/* A set of disjoint half-open ranges [lo, hi), kept sorted and merged. Used to refuse
 * chunks that land twice (any overlap) without a per-element bitmap. */
#ifndef PENNANT_RUNTIME_RANGE_SET_H
#define PENNANT_RUNTIME_RANGE_SET_H

#include <stddef.h>

typedef struct pn_range {
	size_t lo, hi;
} pn_range;

typedef struct pn_range_set {
	pn_range *v;
	size_t n, cap;
} pn_range_set;

/* 1 if [lo, hi) overlaps anything in the set. */
int pn_range_set_overlaps(const pn_range_set *s, size_t lo, size_t hi);
/* Adds [lo, hi) (caller checked it does not overlap). 0 or -ENOMEM. */
int pn_range_set_add(pn_range_set *s, size_t lo, size_t hi);
void pn_range_set_free(pn_range_set *s);

#endif
