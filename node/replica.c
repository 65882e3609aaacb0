/* Node mode `replica`: fractional repetition mapped onto the tree (MLfabric's replication).
 * The G children are one replica group: every one computes the sum of the group's G
 * partitions (children.c's ROUND rows), so any one of them is the group's gradient, and
 * honest replicas are identical bit for bit (same model, same data, same code).
 *
 * Per round the node takes a candidate, the first child to say READY, pulls it into the
 * parent-facing slot, and compares the other ready replicas against it chunk by chunk. It
 * serves (READY to the parent) once `quorum` replicas are identical: quorum 1 serves the
 * first complete replica and checks the rest afterwards (detection only); quorum 2 outvotes
 * a single Byzantine child. A candidate that can no longer reach the quorum (too many differ)
 * is given up and the next ready child is tried. Up to G - quorum children may be late or
 * lost at no cost. Memory stays the sum mode's: the pool and one d-vector (the candidate).
 *
 * Reads land in the node's pool, like the sum's. The candidate's chunk is then copied into
 * the parent-facing slot: the one copy here, kept so that reads of a candidate given up or
 * lost (pn_tp_disconnect completes them later) never touch the slot the next one fills. */
#include "node/node_internal.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

static int quorum(const pn_node *n)
{
	return n->cfg->replica_quorum > 1 ? n->cfg->replica_quorum : 1;
}

static int alive_children(const pn_node *n)
{
	int alive = 0;
	for (int c = 0; c < n->g; c++)
		alive += n->kids[c].alive;
	return alive;
}

/* A new candidate (or none: -1): every comparison starts again. */
static void take_candidate(pn_node *n, int c)
{
	n->primary = c;
	n->gen++;
	n->landed = 0; /* chunks of the candidate in */
	n->agree = n->differ = 0;
	for (int i = 0; i < n->g; i++) {
		n->kids[i].next_chunk = 0;
		n->kids[i].landed = 0;
		n->kids[i].differs = false;
	}
}

void pn_node_replica_begin(pn_node *n, int64_t round, float *sum)
{
	n->round = round;
	n->sum = sum;
	n->ready_seen = 0;
	n->checks_open = true;
	n->served = false;
	for (int c = 0; c < n->g; c++) {
		n->kids[c].ready = false;
		n->kids[c].rejected = false;
	}
	take_candidate(n, -1);
}

bool pn_node_replica_served(const pn_node *n)
{
	return n->served;
}

static bool candidate_in(const pn_node *n)
{
	return n->primary >= 0 && n->landed == n->nchunks;
}

/* The ready child not given up that said READY first, -1 when none. */
static int first_ready(const pn_node *n)
{
	int best = -1;
	for (int c = 0; c < n->g; c++) {
		const node_child *k = &n->kids[c];
		if (k->alive && k->ready && !k->rejected && (best < 0 || k->ready_seq < n->kids[best].ready_seq))
			best = c;
	}
	return best;
}

/* What the next free slot reads: the candidate's next chunk, or once it is in the lowest
 * chunk a ready replica still owes its comparison; -1 when nothing. */
static int next_child(const pn_node *n)
{
	if (!candidate_in(n))
		return n->kids[n->primary].next_chunk < n->nchunks ? n->primary : -1;
	int best = -1;
	for (int c = 0; c < n->g; c++) {
		const node_child *k = &n->kids[c];
		if (c != n->primary && k->alive && k->ready && k->next_chunk < n->nchunks &&
		    (best < 0 || k->next_chunk < n->kids[best].next_chunk))
			best = c;
	}
	return best;
}

/* Quorum reached: serve. Too many differ for the candidate ever to reach it: give it up
 * and try the next ready child. 0, or -errno when no replica can make the quorum. */
static int decide(pn_node *n)
{
	if (n->served || !candidate_in(n))
		return 0;
	if (n->agree + 1 >= quorum(n)) {
		n->served = true;
		return 0;
	}
	if (alive_children(n) - n->differ >= quorum(n))
		return 0; /* the replicas still to come may agree */
	n->kids[n->primary].rejected = true;
	n->kids[n->primary].rejected_rounds++;
	pn_node_log(n, "node %d: round %lld: child rank %d's replica differs from %d other(s): it cannot "
		    "make a quorum of %d\n", n->cfg->rank, (long long)n->round, n->cfg->first_rank + n->primary,
		    n->differ, quorum(n));
	int left = 0;
	for (int c = 0; c < n->g; c++)
		left += n->kids[c].alive && !n->kids[c].rejected;
	if (left < quorum(n))
		return pn_node_fail(n, -EPROTO, "round %lld: no %d of the group's replicas are identical (%d "
				    "children alive, every candidate differs from the others)", (long long)n->round,
				    quorum(n), alive_children(n));
	take_candidate(n, first_ready(n));
	return 0;
}

int pn_node_replica_post(pn_node *n)
{
	if (n->round < 0 || !n->checks_open)
		return 0;
	if (n->primary < 0 && first_ready(n) >= 0)
		take_candidate(n, first_ready(n));
	if (n->primary < 0)
		return 0;
	for (int s = 0; s < n->nslots; s++) {
		if (n->slots[s].busy)
			continue;
		int c = next_child(n);
		if (c < 0)
			return 0;
		node_child *k = &n->kids[c];
		int chunk = k->next_chunk;
		uint64_t roff = ((uint64_t)k->slot * n->d + (uint64_t)chunk * n->chunk) * sizeof(float);
		int rc = pn_tp_post_read(k->peer, n->pool_mr, (size_t)s * n->chunk * sizeof(float), &k->grad,
					 roff, pn_node_chunk_len(n, chunk) * sizeof(float), pn_node_cookie(n->round, s));
		if (rc == -EAGAIN)
			return 0; /* the queue is full: retry after the next poll */
		if (rc) {
			pn_tp_disconnect(k->peer);
			if ((rc = pn_node_replica_lose(n, c, "could not be read")))
				return rc;
			if (n->primary < 0)
				return 0;
			continue;
		}
		n->slots[s] = (node_slot){.busy = true, .child = c, .chunk = chunk, .gen = n->gen};
		k->next_chunk++;
	}
	return 0;
}

int pn_node_replica_landed(pn_node *n, int slot, int status, uint32_t len, bool this_round)
{
	node_slot *sl = &n->slots[slot];
	int c = sl->child;
	node_child *k = &n->kids[c];
	size_t want = pn_node_chunk_len(n, sl->chunk);
	sl->busy = false;
	if (!k->alive || !this_round || sl->gen != n->gen)
		return 0; /* a read of a replica lost, of an earlier round or candidate: the slot is free */
	if (status != 0 || len != want * sizeof(float)) {
		pn_node_log(n, "node: round %lld: a read from child rank %d %s\n", (long long)n->round,
			    n->cfg->first_rank + c, status ? strerror(-status) : "landed the wrong length");
		pn_tp_disconnect(k->peer);
		return pn_node_replica_lose(n, c, "could not be read");
	}
	const float *in = n->pool + (size_t)slot * n->chunk;
	float *out = n->sum + (size_t)sl->chunk * n->chunk;
	if (c == n->primary) {
		memcpy(out, in, want * sizeof(float));
		n->landed++;
	} else {
		k->differs |= memcmp(out, in, want * sizeof(float)) != 0;
	}
	n->bytes_pulled += len;
	if (++k->landed == n->nchunks && c != n->primary)
		*(k->differs ? &n->differ : &n->agree) += 1;
	return decide(n);
}

static bool checks_pending(const pn_node *n)
{
	for (int s = 0; s < n->nslots; s++)
		if (n->slots[s].busy)
			return true;
	for (int c = 0; c < n->g; c++) {
		const node_child *k = &n->kids[c];
		if (c != n->primary && k->alive && k->ready && k->landed < n->nchunks)
			return true;
	}
	return false;
}

int pn_node_replica_close(pn_node *n)
{
	if (!n->checks_open)
		return 0;
	/* The replicas that said READY are read to the end (their data is there; a READY
	 * arriving meanwhile is checked too); the others are late for this round. */
	double t0 = pn_now_s();
	int rc = 0;
	while (n->served && checks_pending(n) && pn_now_s() - t0 < n->silence_s) {
		if ((rc = pn_node_replica_post(n)) || (rc = pn_node_drive(n, 1)) < 0)
			break;
		rc = 0;
	}
	n->checks_open = false;
	if (rc || !n->served)
		return rc; /* the round was abandoned (STOP, or the node failed): nothing to count */
	for (int c = 0; c < n->g; c++) {
		node_child *k = &n->kids[c];
		if (c == n->primary)
			continue;
		bool checked = k->ready && k->alive && k->landed == n->nchunks;
		if (k->rejected || (checked && k->differs)) {
			k->disagreed++;
			pn_node_log(n, "node %d: round %lld: child rank %d's replica differs from the one served "
				    "(child rank %d's)\n", n->cfg->rank, (long long)n->round, n->cfg->first_rank + c,
				    n->cfg->first_rank + n->primary);
		} else if (checked) {
			k->agreed++;
		} else {
			k->unchecked++;
		}
	}
	return 0;
}

int pn_node_replica_lose(pn_node *n, int c, const char *how)
{
	node_child *k = &n->kids[c];
	k->alive = false;
	if (n->stopping)
		return 0;
	int alive = alive_children(n);
	if (alive < quorum(n))
		return pn_node_fail(n, -ECONNRESET, "child rank %d %s (round %lld): %d replica(s) of the group "
				    "left, fewer than the quorum of %d", n->cfg->first_rank + c, how,
				    (long long)n->round, alive, quorum(n));
	n->children_lost++;
	pn_node_log(n, "node %d: child rank %d %s (round %lld): %d replica(s) go on\n", n->cfg->rank,
		    n->cfg->first_rank + c, how, (long long)n->round, alive);
	if (c == n->primary && !n->served) /* the next ready replica fills the slot again */
		take_candidate(n, first_ready(n));
	else if (c != n->primary && k->ready && k->landed == n->nchunks)
		*(k->differs ? &n->differ : &n->agree) -= 1; /* its comparison no longer counts */
	return n->served ? 0 : decide(n);
}
