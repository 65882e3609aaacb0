/* "key=value;key=value" option lists shared by the backends. Values may contain commas
 * and '=' (a DPDK vdev string does); only ';' separates entries. Empty entries are skipped
 * and blanks around keys and values are trimmed. */
#include "transport/backend.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

static void trim(const char **s, const char **e)
{
	while (*s < *e && isspace((unsigned char)**s))
		(*s)++;
	while (*e > *s && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

int pn_kv_next(pn_kv_iter *it, char *key, size_t keylen, char *val, size_t vallen)
{
	if (!it || !key || !val || keylen == 0 || vallen == 0)
		return -EINVAL;
	if (!it->p)
		return 0;
	for (;;) {
		const char *start = it->p;
		if (!*start)
			return 0;
		const char *end = strchr(start, ';');
		if (!end)
			end = start + strlen(start);
		it->p = *end ? end + 1 : end;
		const char *ks = start, *ke = end;
		trim(&ks, &ke);
		if (ks == ke)
			continue; /* empty entry, e.g. a trailing ';' */
		const char *eq = memchr(ks, '=', (size_t)(ke - ks));
		if (!eq)
			return -EINVAL;
		const char *vs = eq + 1, *ve = ke;
		ke = eq;
		trim(&ks, &ke);
		trim(&vs, &ve);
		size_t kn = (size_t)(ke - ks), vn = (size_t)(ve - vs);
		if (kn == 0 || kn >= keylen || vn >= vallen)
			return -EINVAL;
		memcpy(key, ks, kn);
		key[kn] = '\0';
		memcpy(val, vs, vn);
		val[vn] = '\0';
		return 1;
	}
}
