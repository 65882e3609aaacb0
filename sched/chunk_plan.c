/* Chunk plan: how a d-float gradient is cut into reads. */
#include "util/util.h"

#include "pennant/sched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Formats the reason into err; the value is the error code to return. */
#define bad(err, errlen, ...) pn_fail(err, errlen, EINVAL, __VA_ARGS__)

static size_t round_up(size_t x, size_t m)
{
	return (x + m - 1) / m * m;
}

static size_t div_up(size_t x, size_t m)
{
	return (x + m - 1) / m;
}

/* Nominal chunk size in floats. */
static size_t pick_chunk_floats(const pn_chunk_params *p, size_t es, size_t unit_f, size_t max_f)
{
	if (p->chunk_bytes) {
		size_t want = round_up(div_up(p->chunk_bytes, es), unit_f);
		return want > max_f ? max_f : want;
	}
	int target = p->target_pulls > 0 ? p->target_pulls : 256;
	size_t per_worker = div_up((size_t)target, (size_t)p->workers);
	size_t chunk = round_up(div_up(p->d, per_worker), unit_f);
	if (chunk > max_f)
		chunk = max_f;
	if (chunk < unit_f)
		chunk = unit_f;
	return chunk;
}

struct builder {
	pn_chunk *v;
	int n, cap;
};

static int push(struct builder *b, size_t off, size_t len, int layer)
{
	if (b->n == b->cap) {
		int cap = b->cap ? b->cap * 2 : 64;
		pn_chunk *v = realloc(b->v, sizeof(pn_chunk) * (size_t)cap);
		if (!v)
			return -ENOMEM;
		b->v = v;
		b->cap = cap;
	}
	b->v[b->n++] = (pn_chunk){ .offset = off, .len = len, .layer = layer };
	return 0;
}

/* Split [off, off+len) into equal unit-aligned pieces of at most chunk floats. */
static int split_range(struct builder *b, size_t off, size_t len, int layer, size_t chunk, size_t unit_f)
{
	size_t pieces = div_up(len, chunk);
	size_t piece = round_up(div_up(len, pieces), unit_f);
	if (piece > chunk)
		piece = chunk;
	for (size_t at = 0; at < len; at += piece) {
		int rc = push(b, off + at, len - at < piece ? len - at : piece, layer);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int pn_chunk_plan_build(const pn_chunk_params *p, pn_chunk_plan *plan, char *err, size_t errlen)
{
	memset(plan, 0, sizeof *plan);
	if (!p)
		return bad(err, errlen, "chunk plan: no parameters");
	if (p->d == 0)
		return bad(err, errlen, "chunk plan: gradient dimension d must be > 0");
	if (p->workers < 1)
		return bad(err, errlen, "chunk plan: workers must be >= 1 (got %d)", p->workers);
	size_t unit = p->unit_bytes ? p->unit_bytes : 65536, es = p->elem_bytes ? p->elem_bytes : 4;
	if (es != 2 && es != 4)
		return bad(err, errlen, "chunk plan: elem_bytes=%zu is not 2 or 4", es);
	if (unit % 4 != 0)
		return bad(err, errlen, "chunk plan: unit_bytes=%zu is not a multiple of 4", unit);
	size_t maxb = p->max_chunk_bytes ? p->max_chunk_bytes : (size_t)8 << 20;
	if (maxb < unit)
		maxb = unit;
	size_t unit_f = unit / es, max_f = maxb / es / unit_f * unit_f;
	if (p->layers < 0 || (p->layers > 0 && !p->layer_ends))
		return bad(err, errlen, "chunk plan: %d layers but no layer_ends", p->layers);
	for (int l = 0; l < p->layers; l++) {
		size_t prev = l ? p->layer_ends[l - 1] : 0;
		if (p->layer_ends[l] <= prev)
			return bad(err, errlen, "chunk plan: layer %d ends at %zu, not after %zu", l,
				   p->layer_ends[l], prev);
	}
	if (p->layers > 0 && p->layer_ends[p->layers - 1] != p->d)
		return bad(err, errlen, "chunk plan: last layer ends at %zu, expected d=%zu",
			   p->layer_ends[p->layers - 1], p->d);

	size_t chunk = pick_chunk_floats(p, es, unit_f, max_f);
	struct builder b = { 0 };
	int rc = 0;
	if (p->layers == 0) {
		for (size_t off = 0; off < p->d && rc == 0; off += chunk)
			rc = push(&b, off, p->d - off < chunk ? p->d - off : chunk, 0);
	} else {
		/* Pack whole small layers into an open chunk; split big ones on their own. */
		size_t open_off = 0, open_len = 0;
		int open_layer = 0;
		for (int l = 0; l < p->layers && rc == 0; l++) {
			size_t off = l ? p->layer_ends[l - 1] : 0, len = p->layer_ends[l] - off;
			if (open_len > 0 && open_len + len > chunk) {
				rc = push(&b, open_off, open_len, open_layer);
				open_len = 0;
			}
			if (rc < 0)
				break;
			if (len > chunk) {
				rc = split_range(&b, off, len, l, chunk, unit_f);
				continue;
			}
			if (open_len == 0) {
				open_off = off;
				open_layer = l;
			}
			open_len += len;
		}
		if (rc == 0 && open_len > 0)
			rc = push(&b, open_off, open_len, open_layer);
	}
	if (rc < 0) {
		free(b.v);
		pn_errf(err, errlen, "chunk plan: out of memory");
		return rc;
	}
	plan->d = p->d;
	plan->chunk_floats = chunk;
	plan->nchunks = b.n;
	plan->chunks = b.v;
	return 0;
}

void pn_chunk_plan_free(pn_chunk_plan *plan)
{
	if (!plan)
		return;
	free(plan->chunks);
	memset(plan, 0, sizeof *plan);
}
