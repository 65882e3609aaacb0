#include "range_set.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Index of the first range whose hi > x. */
static size_t first_ending_after(const pn_range_set *s, size_t x)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid].hi > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int pn_range_set_overlaps(const pn_range_set *s, size_t lo, size_t hi)
{
	size_t i = first_ending_after(s, lo);
	return i < s->n && s->v[i].lo < hi;
}

int pn_range_set_add(pn_range_set *s, size_t lo, size_t hi)
{
	size_t i = first_ending_after(s, lo == 0 ? 0 : lo - 1);
	/* i: first range that could touch [lo, hi) from the left (its hi >= lo). */
	int join_left = i < s->n && s->v[i].hi == lo;
	size_t right = join_left ? i + 1 : i;
	int join_right = right < s->n && s->v[right].lo == hi;
	if (join_left && join_right) {
		s->v[i].hi = s->v[right].hi;
		memmove(s->v + right, s->v + right + 1, (s->n - right - 1) * sizeof *s->v);
		s->n--;
		return 0;
	}
	if (join_left) {
		s->v[i].hi = hi;
		return 0;
	}
	if (join_right) {
		s->v[right].lo = lo;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		pn_range *nv = realloc(s->v, cap * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	memmove(s->v + right + 1, s->v + right, (s->n - right) * sizeof *s->v);
	s->v[right] = (pn_range){lo, hi};
	s->n++;
	return 0;
}

void pn_range_set_free(pn_range_set *s)
{
	free(s->v);
	*s = (pn_range_set){0};
}
