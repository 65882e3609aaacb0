/* Name table of the pull ordering policies (one file per policy: policy_*.c). */
#include "pennant/sched.h"

#include <string.h>

static const pn_pull_policy *const all_policies[] = {
	&pn_policy_round_robin,
	&pn_policy_earliest_ready,
	&pn_policy_layer_priority,
	NULL,
};

const pn_pull_policy *const *pn_pull_policies(void)
{
	return all_policies;
}

const pn_pull_policy *pn_pull_policy_by_name(const char *name)
{
	for (int i = 0; name && all_policies[i]; i++)
		if (strcmp(all_policies[i]->name, name) == 0)
			return all_policies[i];
	return NULL;
}
