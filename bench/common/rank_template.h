/* "{rank}" in an address or options template (a per-rank socket path or port), shared by
 * the pull benchmark and the transport conformance harness, which start one process per
 * rank from one template. */
#ifndef PENNANT_BENCH_RANK_TEMPLATE_H
#define PENNANT_BENCH_RANK_TEMPLATE_H

#include <stddef.h>

/* tmpl into out (len bytes, always terminated, cut if too long) with every "{rank}"
 * replaced by the decimal rank. */
void bench_expand_rank(char *out, size_t len, const char *tmpl, unsigned rank);

#endif
