/* Comm-efficient codes in the job (tcp on loopback, workers forked by pn_run_local): with
 * m = 2 and 3 the messages are ceil(d/m) floats, the decode from any n - s finished
 * workers is exact, so 20 rounds give the uncoded mean's model; rank 0 drives the session
 * API itself (a join set up for another m refused, parts, the refused coefficients,
 * pn_session_encode), the others run pn_worker_run. */
#include "pennant/codes.h"
#include "pennant/job.h"
#include "pennant/session.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#define D 61 /* not a multiple of 2 or 3: the last block is short */
#define N 5
#define ROUNDS 20

typedef struct cfg_ctx {
	int comm_dim;
	int64_t exit_at_round; /* worker 4 exits abruptly there (-1: never) */
} cfg_ctx;

/* Partition j's gradient differs per partition, so a wrong mix shows. */
static int compute(void *ctx, uint64_t round, const float *model, const int *parts, const double *coefs,
		   int nparts, float *out, double *loss)
{
	(void)ctx;
	*loss = 0;
	for (int k = 0; k < D; k++) {
		double v = 0;
		for (int p = 0; p < nparts; p++)
			v += coefs[p] * (model[k] - (float)((parts[p] + 1) * ((k % 7) - 3)) * 0.1f -
					 (float)(round % 3) * 0.01f);
		out[k] = (float)v;
	}
	return 0;
}

static pn_tp_config tp(int rank)
{
	return (pn_tp_config){.backend = "tcp", .node_id = (uint32_t)rank + 1, .secret = "test-secret",
			      .secret_len = 11};
}

/* Rank 0 as a session caller: one gradient per partition, then pn_session_encode. */
static int session_worker(const cfg_ctx *c, const char *addr)
{
	pn_session_config sc = {.tp = tp(0), .connect = addr, .rank = 0, .d = D, .connect_timeout_ms = 20000};
	pn_session *s;
	char err[256];
	if (c->comm_dim > 1) { /* set up for another m: refused at join, saying why */
		sc.comm_dim = c->comm_dim + 1;
		int rc = pn_session_join(&sc, &s, err, sizeof err);
		if (rc != -EINVAL || !strstr(err, "set up for"))
			return 9;
		sc.comm_dim = 0; /* then: learn m from WELCOME */
	}
	if (pn_session_join(&sc, &s, err, sizeof err))
		return 10;
	int m = c->comm_dim, bad = 0;
	if (pn_session_comm_dim(s) != m || pn_session_message_len(s) != (size_t)(D + m - 1) / (size_t)m)
		bad = 11;
	float grads[PN_JOB_MAX_PARTS][D];
	const float *gp[PN_JOB_MAX_PARTS];
	pn_session_round r;
	while (!bad && pn_session_begin(s, &r, NULL, -1) == 0) {
		int parts[PN_JOB_MAX_PARTS];
		double coefs[PN_JOB_MAX_PARTS];
		int np = pn_session_round_parts(s, parts, NULL, PN_JOB_MAX_PARTS);
		/* no coefficient per partition: refused, NaN in the round */
		if (np != r.nparts || r.comm_dim != m ||
		    (m > 1 && (pn_session_round_parts(s, parts, coefs, PN_JOB_MAX_PARTS) != -ENOTSUP ||
			       !isnan(coefs[0]) || !isnan(r.coefs[0])))) {
			bad = 12;
			break;
		}
		const double one = 1.0;
		double loss;
		for (int k = 0; k < np; k++) {
			compute(NULL, (uint64_t)r.round, pn_session_model(s), &parts[k], &one, 1, grads[k], &loss);
			gp[k] = grads[k];
		}
		if (pn_session_encode(s, gp, pn_session_gradient(s)) || pn_session_submit(s, loss, 0))
			bad = 13;
	}
	pn_session_leave(s);
	return bad;
}

static int worker_main(void *ctx, int rank, const char *addr)
{
	const cfg_ctx *c = ctx;
	if (rank == 0)
		return session_worker(c, addr);
	pn_grad_source src = {.d = D, .compute = compute};
	pn_worker_config wc = {.tp = tp(rank), .connect = addr, .rank = rank, .connect_timeout_ms = 20000,
			       .comm_dim = c->comm_dim};
	wc.faults.exit_at_round = rank == N - 1 ? c->exit_at_round : -1;
	return pn_worker_run(&wc, &src) == 0 ? 0 : 1;
}

typedef struct run_out {
	float model[D];
	uint64_t bytes;
	int fewest; /* fewest workers a round decoded from */
	int bad_exits; /* workers that did not exit 0 */
	int64_t gone4;
} run_out;

static void on_round(void *ctx, const float *model, pn_round_record *rec)
{
	(void)model;
	run_out *o = ctx;
	if (rec->finished < o->fewest)
		o->fewest = rec->finished;
	cr_expect(!rec->skipped, "round %lld skipped: %s", (long long)rec->round,
		  rec->skip_reason ? rec->skip_reason : "");
}

static void run(const char *code, int s, int m, const char *wait, int64_t exit_at, run_out *o)
{
	float init[D] = {0};
	cfg_ctx c = {.comm_dim = m, .exit_at_round = exit_at};
	memset(o, 0, sizeof *o);
	o->fewest = N;
	pn_agg_job_config jc = {.tp = tp(-1), .listen = "127.0.0.1:0", .n = N, .rounds = ROUNDS, .seed = 3,
				.wait = wait, .deadline_ms = 2000, .pipelining = true, .lr = 0.1,
				.momentum = 0.9, .accept_timeout_ms = 20000, .on_round = on_round,
				.on_round_ctx = o, .init_model = init, .d = D, .s = s, .comm_dim = m,
				.code_kind = pn_code_kind_from_name(code)};
	pn_agg_config_init(&jc.rule, N, D, PN_RULE_MEAN);
	jc.rule.threads = 1;
	pn_agg_job_result res;
	char err[512] = "";
	int rc = pn_run_local(&jc, worker_main, &c, &res, &o->bad_exits, err, sizeof err);
	cr_assert_eq(rc, 0, "%s m=%d: %s", code, m, err);
	cr_assert_eq(res.rounds_done, ROUNDS);
	memcpy(o->model, res.model, sizeof o->model);
	o->bytes = res.tp_stats.bytes_read;
	o->gone4 = res.gone_at[N - 1];
	pn_agg_job_result_free(&res);
}

static double rel_diff(const float *a, const float *b)
{
	double num = 0, den = 0;
	for (int k = 0; k < D; k++) {
		num += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
		den += (double)b[k] * b[k];
	}
	return sqrt(num / den);
}

Test(job_comm_dim, the_decode_is_exact_and_each_worker_sends_a_1_over_m_message)
{
	run_out ref, ce;
	run("uncoded", 0, 1, "all", -1, &ref);
	cr_assert_eq(ref.bytes, (uint64_t)ROUNDS * N * D * 4);
	for (int m = 2; m <= 3; m++) {
		run("comm-efficient", 1, m, "all", -1, &ce);
		double rel = rel_diff(ce.model, ref.model);
		cr_expect(rel <= 1e-5, "m=%d: relative difference %.3g from the uncoded mean", m, rel);
		uint64_t L = (D + (uint64_t)m - 1) / (uint64_t)m;
		cr_expect_eq(ce.bytes, (uint64_t)ROUNDS * N * L * 4, "m=%d: %llu bytes pulled", m,
			     (unsigned long long)ce.bytes);
		cr_expect_eq(ce.bad_exits, 0, "m=%d: %d workers exited with an error", m, ce.bad_exits);
	}
}

Test(job_comm_dim, a_killed_worker_is_decoded_around)
{
	run_out ref, ce;
	run("uncoded", 0, 1, "all", -1, &ref);
	run("comm-efficient", 1, 2, "all", 4, &ce);
	double rel = rel_diff(ce.model, ref.model);
	cr_expect(rel <= 1e-5, "relative difference %.3g from the uncoded mean", rel);
	cr_expect_eq(ce.gone4, 4, "worker 4 left at round 4 (%lld)", (long long)ce.gone4);
	cr_expect_eq(ce.bad_exits, 1, "only the killed worker exits non-zero (%d)", ce.bad_exits);
	cr_expect_eq(ce.fewest, N - 1, "rounds decoded from n - s workers (fewest %d)", ce.fewest);
}
