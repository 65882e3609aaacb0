/* The probe straggler sets the codes estimate their worst decode condition over (the
 * true worst case would need all C(n, s) sets). */
#include "sched/code_internal.h"
#include "sched/rng.h"

#include <string.h>

void pn_code_probe_set(bool *strag, int n, int s, int t, int blocks, pn_rng *rng)
{
	memset(strag, 0, sizeof(bool) * (size_t)n);
	if (t < blocks) {
		int start = (int)((long)t * n / blocks);
		for (int x = 0; x < s; x++)
			strag[(start + x) % n] = true;
		return;
	}
	for (int x = 0; x < s;) {
		int i = (int)pn_rng_below(rng, (uint64_t)n);
		if (!strag[i]) {
			strag[i] = true;
			x++;
		}
	}
}
