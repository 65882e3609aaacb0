/* Name <-> enum value through a table of names indexed by value (codes, wait modes). */
#ifndef PN_SCHED_NAMES_H
#define PN_SCHED_NAMES_H

#include <string.h>

/* The index of name in names[0..count), or -1 (also for NULL). */
static inline int pn_name_find(const char *const *names, int count, const char *name)
{
	for (int i = 0; i < count; i++)
		if (name && strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* names[i], or "?" outside [0, count). */
static inline const char *pn_name_at(const char *const *names, int count, unsigned i)
{
	return i < (unsigned)count ? names[i] : "?";
}

#endif
