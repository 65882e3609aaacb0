/* "key=value;key=value" option lists shared by the backends. Values may contain commas
 * and '=' (a DPDK vdev string does); only ';' separates entries. Empty entries are skipped
 * and blanks around keys and values are trimmed. */
#include "transport/backend.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int pn_kv_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	int shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10, end++;
	else if (*end == 'M' || *end == 'm')
		shift = 20, end++;
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

void *pn_tp_page_alloc(size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t align = page > 0 ? (size_t)page : 4096;
	if (len > SIZE_MAX - align)
		return NULL;
	size_t rounded = (len + align - 1) / align * align;
	void *p = NULL;
	if (posix_memalign(&p, align, rounded) != 0)
		return NULL;
	memset(p, 0, rounded);
	return p;
}

int pn_opt_num(const struct pn_tp_option *o, const char *val, void *settings)
{
	uint64_t v;
	if (pn_kv_parse_size(val, &v) != 0 || v < o->lo || v > o->hi)
		return -EINVAL;
	unsigned char *dst = (unsigned char *)settings + o->off;
	switch (o->width) {
	case 1: { uint8_t x = (uint8_t)v; memcpy(dst, &x, 1); return 0; }
	case 2: { uint16_t x = (uint16_t)v; memcpy(dst, &x, 2); return 0; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(dst, &x, 4); return 0; }
	case 8: memcpy(dst, &v, 8); return 0;
	default: return -EINVAL;
	}
}

int pn_opt_str(const struct pn_tp_option *o, const char *val, void *settings)
{
	size_t n = strlen(val);
	if (n == 0 || n >= o->width)
		return -EINVAL;
	memcpy((char *)settings + o->off, val, n + 1);
	return 0;
}

static void list_keys(const struct pn_tp_option *table, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (const struct pn_tp_option *o = table; o->key && used < len; o++) {
		int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", o->key);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

int pn_kv_apply(const char *options, const struct pn_tp_option *table, void *settings,
		const char *backend, char *err, size_t errlen)
{
	pn_kv_iter it = { options ? options : "" };
	char key[64], val[1024];
	int rc;
	while ((rc = pn_kv_next(&it, key, sizeof(key), val, sizeof(val))) > 0) {
		const struct pn_tp_option *o = table;
		while (o->key && strcmp(o->key, key) != 0)
			o++;
		if (!o->key) {
			char known[512];
			list_keys(table, known, sizeof(known));
			return pn_fail(err, errlen, EINVAL, "%s: unknown option '%s' (known: %s)",
				       backend, key, known);
		}
		if (o->parse(o, val, settings) == 0)
			continue;
		if (o->parse == pn_opt_num)
			return pn_fail(err, errlen, EINVAL, "%s: bad value '%s' for option '%s' (want "
				       "a number in [%llu, %llu])", backend, val, key,
				       (unsigned long long)o->lo, (unsigned long long)o->hi);
		return pn_fail(err, errlen, EINVAL, "%s: bad value '%s' for option '%s'%s%s%s",
			       backend, val, key, o->want ? " (want " : "", o->want ? o->want : "",
			       o->want ? ")" : "");
	}
	if (rc < 0)
		return pn_fail(err, errlen, EINVAL, "%s: malformed options '%s' (want key=value;...)",
			       backend, options);
	return 0;
}
