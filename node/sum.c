/* The streaming sum of one round (node mode `sum`, SwitchML-style): the children's
 * chunks land in a bounded pool of slots, each landed chunk is added into the
 * parent-facing gradient slot at once and its slot is reused. Memory is the pool plus
 * the sum, never one d-vector per child. Reads go chunk-major (the lowest chunk any
 * ready child still owes first), so the sum's prefix completes in order: a chunk every
 * child has contributed to is rounded into the slot at once, and the parent is told the
 * complete prefix (PROGRESS) so it can read it while the rest is still being summed. */
#include "node/node_internal.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <string.h>

void pn_node_sum_begin(pn_node *n, int64_t round, float *sum)
{
	n->round = round;
	n->sum = sum;
	n->landed = 0;
	n->prefix = n->told = 0;
	memset(n->chunk_kids, 0, (size_t)n->nchunks * sizeof *n->chunk_kids);
	memset(n->acc, 0, n->d * sizeof(double));
	if (n->fixed_on)
		pn_fixed_reset(&n->fixed);
	for (int c = 0; c < n->g; c++) {
		n->kids[c].ready = false;
		n->kids[c].next_chunk = 0;
		n->kids[c].landed = 0;
		n->kids[c].upto = 0;
	}
}

/* Whether chunk `chunk` of child k may be read: it said READY, or its PROGRESS covers it. */
static bool readable(const pn_node *n, const node_child *k, int chunk)
{
	return k->ready || (size_t)chunk * n->chunk + pn_node_chunk_len(n, chunk) <= k->upto;
}

/* The ready child owing the lowest chunk, -1 when none owes one. */
static int next_child(const pn_node *n)
{
	int best = -1;
	for (int c = 0; c < n->g; c++) {
		const node_child *k = &n->kids[c];
		if (k->next_chunk < n->nchunks && readable(n, k, k->next_chunk) &&
		    (best < 0 || k->next_chunk < n->kids[best].next_chunk))
			best = c;
	}
	return best;
}

int pn_node_sum_post(pn_node *n)
{
	for (int s = 0; s < n->nslots; s++) {
		if (n->slots[s].busy)
			continue;
		int c = next_child(n);
		if (c < 0)
			return 0;
		node_child *k = &n->kids[c];
		int chunk = k->next_chunk;
		uint64_t roff = ((uint64_t)k->slot * n->d + (uint64_t)chunk * n->chunk) * sizeof(float);
		/* robust: straight into the child's row (the slot only bounds the reads in flight) */
		pn_tp_mr *mr = n->rows ? n->rows_mr : n->pool_mr;
		size_t loff = (n->rows ? (size_t)c * n->d + (size_t)chunk * n->chunk : (size_t)s * n->chunk) *
			      sizeof(float);
		int rc = pn_tp_post_read(k->peer, mr, loff, &k->grad, roff, pn_node_chunk_len(n, chunk) * sizeof(float),
					 pn_node_cookie(n->round, s));
		if (rc == -EAGAIN)
			return 0; /* the queue is full: retry after the next poll */
		if (rc)
			return pn_node_fail(n, rc, "round %lld: a read from child rank %d failed to post: %s",
					    (long long)n->round, n->cfg->first_rank + c, pn_tp_errmsg(n->ctx));
		n->slots[s] = (node_slot){.busy = true, .child = c, .chunk = chunk};
		k->next_chunk++;
		n->reads_before_ready += !k->ready;
	}
	return 0;
}

/* G float32 addends sum exactly in float64 unless their exponents are ~29 apart, so the
 * one rounding per coordinate, once the chunk is complete, gives the same float32 sum in
 * any arrival order: a tree's runs are reproducible (a float32 running sum was not). */
static void complete_prefix(pn_node *n)
{
	while (n->prefix < n->nchunks && n->chunk_kids[n->prefix] == n->g) {
		size_t off = (size_t)n->prefix * n->chunk, len = pn_node_chunk_len(n, n->prefix);
		for (size_t i = off; i < off + len; i++)
			n->sum[i] = (float)n->acc[i];
		n->prefix++;
	}
}

int pn_node_sum_progress(pn_node *n)
{
	int step = n->nchunks / 16 > 1 ? n->nchunks / 16 : 1;
	if (!n->streaming || n->prefix >= n->nchunks || n->prefix - n->told < step)
		return 0;
	int rc = pn_session_progress(n->parent, (size_t)n->prefix * n->chunk);
	if (rc)
		return pn_node_fail(n, rc, "parent: %s", pn_session_error(n->parent));
	n->told = n->prefix;
	n->progress_sent++;
	return 0;
}

int pn_node_sum_landed(pn_node *n, int slot, int status, uint32_t len)
{
	node_slot *sl = &n->slots[slot];
	int rank = n->cfg->first_rank + sl->child;
	size_t want = pn_node_chunk_len(n, sl->chunk);
	sl->busy = false;
	if (status != 0)
		return pn_node_fail(n, status, "round %lld: a read from child rank %d failed (%s)",
				    (long long)n->round, rank, strerror(-status));
	if (len != want * sizeof(float))
		return pn_node_fail(n, -EIO, "round %lld: child rank %d: %u bytes landed, %zu expected",
				    (long long)n->round, rank, len, want * sizeof(float));
	size_t off = (size_t)sl->chunk * n->chunk;
	if (!n->rows) { /* (robust: the read landed in the child's row, kept whole for the rule) */
		const float *in = n->pool + (size_t)slot * n->chunk;
		double *out = n->acc + off;
		for (size_t i = 0; i < want; i++)
			out[i] += in[i];
		if (n->fixed_on)
			pn_fixed_add(&n->fixed, off, in, want);
		n->chunk_kids[sl->chunk]++;
		complete_prefix(n);
	}
	n->bytes_pulled += len;
	n->kids[sl->child].landed++;
	n->landed++;
	return 0;
}

bool pn_node_sum_complete(const pn_node *n)
{
	return n->landed == n->g * n->nchunks;
}

void pn_node_sum_finish(pn_node *n)
{
	/* (every chunk is complete, so complete_prefix has rounded the whole sum into place) */
	if (!n->fixed_on)
		return;
	double diff2 = 0, norm2 = 0;
	pn_fixed_read_over(&n->fixed, n->sum, &diff2, &norm2);
	double rel = norm2 > 0 ? sqrt(diff2 / norm2) : sqrt(diff2);
	if (rel > n->fixed_err_max)
		n->fixed_err_max = rel;
}
