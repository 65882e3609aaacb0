/* The rules the engine knows, one descriptor each (defined next to the rule's code).
 * Adding a rule: write agg/rules_NAME.c defining `const pn_rule_desc pn_rule_desc_NAME`,
 * add X(NAME) below in the position of its pn_rule id, the file to agg/meson.build and
 * the id to include/pennant/agg.h (see ARCHITECTURE.md). An unknown name or id is an
 * error everywhere: there is no default rule. */
#include "agg_internal.h"

#include <string.h>

/* In pn_rule id order (checked by pn_rule_desc_get and by the unit tests). */
#define PN_RULES(X)                                                                              \
	X(mean) X(median) X(trimmed_mean) X(meamed) X(phocas) X(krum) X(multi_krum) X(bulyan)   \
	X(geomed) X(flag) X(weighted)

#define PN_DECLARE_RULE(name) extern const pn_rule_desc pn_rule_desc_##name;
#define PN_LIST_RULE(name) &pn_rule_desc_##name,
PN_RULES(PN_DECLARE_RULE)
static const pn_rule_desc *const rule_table[] = {PN_RULES(PN_LIST_RULE) NULL};

_Static_assert(sizeof rule_table / sizeof *rule_table == PN_RULE_COUNT_ + 1,
	       "one descriptor per pn_rule id");

const pn_rule_desc *pn_rule_desc_get(int id)
{
	if (id < 0 || id >= PN_RULE_COUNT_)
		return NULL;
	const pn_rule_desc *d = rule_table[id];
	return d->id == (pn_rule)id ? d : NULL; /* table out of order: refuse, never guess */
}

const pn_rule_desc *pn_rule_desc_find(const char *name)
{
	for (int i = 0; name && rule_table[i]; i++)
		if (strcmp(name, rule_table[i]->name) == 0)
			return rule_table[i];
	return NULL;
}

int pn_rule_from_name(const char *name)
{
	const pn_rule_desc *d = pn_rule_desc_find(name);
	return d ? (int)d->id : -1;
}

const char *pn_rule_name(pn_rule rule)
{
	const pn_rule_desc *d = pn_rule_desc_get((int)rule);
	return d ? d->name : "?";
}

int pn_rule_min_workers(const pn_agg_config *cfg)
{
	const pn_rule_desc *d = cfg ? pn_rule_desc_get((int)cfg->rule) : NULL;
	return d ? d->min_workers(cfg) : -22; /* -EINVAL */
}

const char *pn_agg_status_name(int status)
{
	static const char *const names[] = {"used", "nonfinite", "incomplete", "excluded"};
	return status >= 0 && status < 4 ? names[status] : "?";
}
