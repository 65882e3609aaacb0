#include "rank_template.h"

#include <stdio.h>
#include <string.h>

void bench_expand_rank(char *out, size_t len, const char *tmpl, unsigned rank)
{
	size_t o = 0;
	for (const char *p = tmpl; *p && o + 1 < len;) {
		if (strncmp(p, "{rank}", 6) == 0) {
			int n = snprintf(out + o, len - o, "%u", rank);
			o += n > 0 ? (size_t)n : 0;
			p += 6;
		} else {
			out[o++] = *p++;
		}
	}
	out[o < len ? o : len - 1] = '\0';
}
