/* Conformance: control messages are delivered intact and in order, both ways at once. */
#include "harness.h"

#include <criterion/criterion.h>

#include <string.h>

Test(ctrl, both_ways_in_order, .timeout = 60)
{
	enum { N = 400 };
	struct conf_target_spec spec = { .len = 4096 };
	struct conf_job job;
	conf_start_targets(&job, 1, &spec);
	pn_tp_peer *peer = job.peer[1];
	uint8_t gen[5] = { MSG_GEN };
	uint32_t count = N;
	memcpy(gen + 1, &count, 4);
	conf_send(peer, gen, sizeof(gen));
	/* Echo lengths cycle through every size from 5 to PN_TP_CTRL_MAX. */
	for (uint32_t s = 0; s < N; s++) {
		uint8_t m[PN_TP_CTRL_MAX];
		size_t len = 5 + (s * 37u) % (PN_TP_CTRL_MAX - 4);
		m[0] = MSG_ECHO;
		memcpy(m + 1, &s, 4);
		pattern_fill(m + 5, len - 5, s + 1000, 0);
		conf_send(peer, m, len);
	}
	uint32_t next_echo = 0, next_seq = 0;
	while (next_echo < N || next_seq < N) {
		pn_tp_completion c;
		conf_poll_one(job.ctx, &c);
		cr_assert_eq(c.event, PN_TP_CTRL_RECV, "event %d status %d", c.event, c.status);
		cr_assert_eq(c.peer_id, 1);
		const uint8_t *m = c.data;
		cr_assert_geq(c.len, 5);
		uint32_t s;
		memcpy(&s, m + 1, 4);
		if (m[0] == MSG_ECHO) {
			cr_assert_eq(s, next_echo, "echo %u arrived when %u was due", s, next_echo);
			cr_assert_eq(c.len, 5 + (s * 37u) % (PN_TP_CTRL_MAX - 4));
			cr_assert_eq(pattern_check(m + 5, c.len - 5, s + 1000, 0), SIZE_MAX, "echo %u corrupted", s);
			next_echo++;
		} else {
			cr_assert_eq(m[0], MSG_SEQ, "unexpected message type %d", m[0]);
			cr_assert_eq(s, next_seq, "message %u arrived when %u was due", s, next_seq);
			cr_assert_eq(c.len, 5 + s % (PN_TP_CTRL_MAX - 4));
			cr_assert_eq(pattern_check(m + 5, c.len - 5, s, 0), SIZE_MAX, "message %u corrupted", s);
			next_seq++;
		}
	}
	conf_finish(&job);
}
