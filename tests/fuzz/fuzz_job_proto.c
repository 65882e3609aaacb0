/* libFuzzer target for the job protocol's parser (untrusted bytes from any peer).
 * Built and run by tests/fuzz/run-fuzz (clang -fsanitize=fuzzer,address,undefined).
 *
 * The first input byte picks a mode: even, the rest is a raw message; odd, the rest gets
 * a valid header (type from the byte, current version) so the fuzzer reaches the field
 * checks. Invariants on every accepted message: the fields are in range, and packing it
 * again gives the very bytes that were parsed (nothing is ignored or reinterpreted). */
#include "job/proto.h"
#include "pennant/shard.h"
#include "tests/fuzz/fuzz_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > PN_TP_CTRL_MAX + 1)
		return 0;
	uint8_t mode = data[0];
	size--;
	uint8_t *buf = fuzz_exact_copy(data + 1, size);
	if ((mode & 1) && size >= 2) {
		buf[0] = (uint8_t)(1 + (mode >> 1) % PN_MSG_LAST); /* HELLO .. PROGRESS */
		buf[1] = PN_JOB_PROTO_VERSION;
	}
	pn_job_msg m;
	if (pn_job_msg_unpack(buf, size, &m) == 0) {
		fuzz_require(m.slot <= 1 && m.nparts >= 0 && m.nparts <= PN_JOB_MAX_PARTS && m.round >= 0 &&
			     m.status <= 0);
		/* ROUND's code coefficients are finite; NODE_REPORT's scores are a number or
		 * +inf (an excluded child), never NaN or -inf */
		for (int k = 0; k < m.nparts; k++)
			fuzz_require(m.parts[k] >= 0 &&
				     (m.type == PN_MSG_NODE_REPORT ? !isnan(m.coefs[k]) && m.coefs[k] != -INFINITY
								  : isfinite(m.coefs[k])));
		fuzz_require(m.serve <= PN_SERVE_GRADIENT && (m.type != PN_MSG_RESULT || m.slot == (m.round & 1)));
		fuzz_require(m.shard < PN_SHARD_MAX && m.shards <= PN_SHARD_MAX && m.lo <= m.hi && m.hi <= m.d);
		uint8_t again[PN_TP_CTRL_MAX];
		fuzz_require_same(again, pn_job_msg_pack(&m, again), buf, size);
	}
	free(buf);
	return 0;
}
