/* pennant-bench-stragglers: the report, a table on stdout or one JSON document
 * (--json) written as the models run. */
#include "stragglers.h"

#include <stdio.h>

void report_begin(pn_json *js, const struct options *o, int nchunks, double base)
{
	if (o->json) {
		pn_json_begin_object(js);
		pn_json_provenance(js, "pennant-bench-stragglers");
		pn_json_kint(js, "n", o->n);
		pn_json_kint(js, "s", o->s);
		pn_json_kint(js, "rounds", o->rounds);
		pn_json_kuint(js, "seed", o->seed);
		pn_json_kint(js, "chunks", nchunks);
		pn_json_knumber(js, "comm", o->comm);
		pn_json_kstring(js, "policy", o->policy->name);
		pn_json_kint(js, "comm_dim", o->comm_dim);
		pn_json_kint(js, "window_worker", o->window_worker);
		pn_json_kint(js, "window_total", o->window_total);
		pn_json_knumber(js, "baseline_time", base);
		pn_json_key(js, "models");
		pn_json_begin_array(js);
	}
	else
		printf("pennant-bench-stragglers: n=%d s=%d rounds=%d seed=%llu chunks=%d comm=%g comm-dim=%d policy=%s "
		       "windows=%d/%d\nbaseline: straggler-free uncoded round = %.4f time units (1 unit = one "
		       "partition's gradient); all times below are ratios to it\n",
		       o->n, o->s, o->rounds, (unsigned long long)o->seed, nchunks, o->comm, o->comm_dim,
		       o->policy->name, o->window_worker, o->window_total, base);
}

void report_model(pn_json *js, const struct options *o, model_kind mk, struct scheme *sc, int nsc)
{
	if (o->json) {
		pn_json_begin_object(js);
		pn_json_kstring(js, "model", model_name(mk));
		pn_json_key(js, "schemes");
		pn_json_begin_array(js);
	} else {
		printf("\nmodel %s", model_name(mk));
		if (mk == MODEL_EXP)
			printf(" (i.i.d. exponential delay, mean %g)\n", o->mp.exp_mean);
		else if (mk == MODEL_MARKOV)
			printf(" (two-state: P(fast->slow)=%g P(slow->fast)=%g, slow delay %g, jitter %g)\n",
			       o->mp.p_slow, o->mp.p_recover, o->mp.slow_delay, o->mp.jitter);
		else
			printf(" (s=%d contiguous workers delayed by %g, moved every %d rounds)\n", o->s,
			       o->mp.slow_delay, o->mp.adv_period);
		printf("%-15s %4s %7s %7s %7s %8s %8s %6s %9s %9s\n", "scheme", "load", "p50", "p99", "mean",
		       "resid", "bias", "exact", "cond", "cancelled");
	}
	for (int k = 0; k < nsc; k++) {
		struct scheme *s = &sc[k];
		if (s->skip[0]) {
			if (o->json) {
				pn_json_begin_object(js);
				pn_json_kstring(js, "scheme", s->def->name);
				pn_json_kstring(js, "skipped", s->skip);
				pn_json_end_object(js);
			} else {
				printf("%-15s (not applicable: %s)\n", s->def->name, s->skip);
			}
			continue;
		}
		struct summary su;
		summarize(s, o, &su);
		if (o->json) {
			pn_json_begin_object(js);
			pn_json_kstring(js, "scheme", s->def->name);
			pn_json_kstring(js, "code", pn_code_describe(s->code));
			pn_json_kstring(js, "wait", pn_wait_mode_name(s->wait.mode));
			pn_json_knumber(js, "load", su.load);
			pn_json_knumber(js, "p50", su.p50);
			pn_json_knumber(js, "p99", su.p99);
			pn_json_knumber(js, "mean", su.mean);
			pn_json_knumber(js, "resid", su.resid);
			pn_json_knumber(js, "bias", su.bias);
			pn_json_knumber(js, "exact_frac", su.exact_frac);
			pn_json_knumber(js, "max_cond", su.max_cond);
			pn_json_kint(js, "ill_conditioned", s->ill);
			pn_json_kint(js, "cancelled", su.cancelled);
			pn_json_kint(js, "gcdc_moves", su.moves);
			pn_json_end_object(js);
		}
		else
			printf("%-15s %4g %7.3f %7.3f %7.3f %8.4f %8.4f %5.1f%% %9.3g %9ld\n", s->def->name,
			       su.load, su.p50, su.p99, su.mean, su.resid, su.bias, 100 * su.exact_frac,
			       su.max_cond, su.cancelled);
	}
	if (o->json) {
		pn_json_end_array(js);
		pn_json_end_object(js);
	}
}

void report_sizing(pn_json *js, const struct options *o, int R, const double p50[2], const double p99[2], unsigned long long replans)
{
	if (o->json) {
		pn_json_key(js, "sizing");
		pn_json_begin_object(js);
		for (int on = 0; on < 2; on++) {
			pn_json_key(js, on ? "on" : "off");
			pn_json_begin_object(js);
			pn_json_knumber(js, "p50", p50[on]);
			pn_json_knumber(js, "p99", p99[on]);
			pn_json_end_object(js);
		}
		pn_json_kuint(js, "replans", replans);
		pn_json_knumber(js, "speedup_p50", p50[0] / p50[1]);
		pn_json_end_object(js);
	} else {
		printf("\nsizing (uncoded wait-for-all; speeds GPU 4x / CPU 1x / slow 0.5x, two CPUs 3x slower "
		       "from round %d; jitter only)\n", R / 2);
		printf("%-15s %7s %7s\n", "sizing", "p50", "p99");
		printf("%-15s %7.3f %7.3f\n", "off (equal)", p50[0], p99[0]);
		printf("%-15s %7.3f %7.3f   (re-plans: %llu, p50 speed-up %.2fx)\n", "on (throughput)", p50[1],
		       p99[1], replans, p50[0] / p50[1]);
	}
}
