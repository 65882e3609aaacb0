/* Fractional repetition: replicas of a group compute the same partitions and must agree
 * bit-for-bit. When a strict majority of a group's arrived replicas are identical, the
 * others are flagged and left out; without a majority (e.g. two attackers that also
 * differ from each other) nobody is flagged and the rule decides. */
#include "job/aggregator_internal.h"

#include <string.h>

static bool same_row(pn_job *j, int a, int b)
{
	return memcmp(pn_job_land_row(j, j->round, a), pn_job_land_row(j, j->round, b),
		      j->msg_len * j->esize) == 0;
}

int pn_job_check_replicas(pn_job *j, bool *use)
{
	if (pn_code_kind_of(j->code) != PN_CODE_FRACTIONAL)
		return 0;
	int flagged = 0, *members = j->members;
	for (int g = 0; g < pn_code_groups(j->code); g++) {
		int m = 0;
		for (int i = 0; i < j->n; i++)
			if (use[i] && pn_code_group_of(j->code, i) == g)
				members[m++] = i;
		int best = -1, best_count = 0;
		for (int a = 0; a < m; a++) {
			int same = 1;
			for (int b = 0; b < m; b++)
				same += b != a && same_row(j, members[a], members[b]);
			if (same > best_count) {
				best_count = same;
				best = members[a];
			}
		}
		if (m < 3 || best_count * 2 <= m)
			continue;
		for (int a = 0; a < m; a++) {
			int i = members[a];
			if (i != best && !same_row(j, i, best)) {
				use[i] = false;
				j->w[i].flagged++;
				pn_job_trust_observe(&j->w[i], 0); /* judged: no share of the weight */
				flagged++;
			}
		}
	}
	return flagged;
}
