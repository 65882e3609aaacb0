/* A tree leaf's way around a dead node (pn_session_config.fallback): when the aggregator
 * it joined (its node) goes away without STOP, by its link dropping, a failed send or
 * silence, the session joins the fallback address (the tree's root) with HELLO(fallback
 * rank) and goes on there, its model and round kept: what was in flight with the node
 * (a READY, a model read) is lost; the root announces its current round to it (taken again
 * even if it is ours: we recompute it) or the next one. Once only: a
 * root that goes away ends the session as any aggregator does. */
#include "job/session_worker.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pn_sess_can_fail_over(const pn_session *s)
{
	return s->fallback && !s->failed_over && !s->stopped && s->nshards == 1 && s->welcomed;
}

int pn_sess_fail_over(pn_session *s, const char *why)
{
	pn_sess_shard *sh = &s->sh[0];
	char *root = strdup(s->fallback);
	if (!root)
		return pn_sess_fail(s, -ENOMEM, "out of memory");
	s->failed_over = true;
	fprintf(stderr, "pennant-worker %d: %s (%s): joining the root %s as peer %d\n", s->rank, sh->addr,
		why, root, s->fallback_rank);
	if (sh->peer)
		pn_tp_disconnect(sh->peer); /* its reads complete cancelled; their cookies are stale */
	free(sh->addr);
	*sh = (pn_sess_shard){.addr = root};
	s->welcomed = false;
	s->gone = false;
	/* the node's announcements name its model region: none of them can be read now */
	for (int k = s->qn - 1; k >= 0; k--)
		if (s->q[k].type == PN_MSG_ROUND || s->q[k].type == PN_MSG_RESULT)
			pn_sess_queue_remove(s, k);
	s->prefetched = false;
	if (s->reads_left > 0) { /* a read batch from the node: it fails (-EIO), said by its caller */
		s->read_status = -EIO;
		s->reads_left = 0;
	}
	s->read_seq += (uint64_t)s->reads_posted;
	s->reads_posted = 0;
	s->hello_rank = s->fallback_rank;
	s->retake = true; /* the root may still be in our round: its ROUND of it is taken again */
	int rc = pn_sess_connect_shard(s, 0, pn_now_s());
	if (rc == 0)
		sh->last_heard = pn_now_s();
	return rc;
}
