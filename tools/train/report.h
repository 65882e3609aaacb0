/* What pennant-train tells: one human line per round and the final summary (to o->out),
 * and the JSON record (through the tools' one JSON writer):
 *   {"pennant":{tool,version,commit,host}, "config":{...}, "rounds":[...],
 *    "final":{rounds, skipped, trained, time_s, test_loss, test_acc, error, stopped_by,
 *             bytes_pulled (gradient bytes the root aggregator pulled); a tree:
 *             rounds_lost, nodes_bypassed, reads_before_ready},
 *    "workers":[...], a tree of robust nodes: "leaves":[...] (report_tree.c)}
 * Values not measured (a round not evaluated, a run that never trained) are null. */
#ifndef PENNANT_TOOLS_TRAIN_REPORT_H
#define PENNANT_TOOLS_TRAIN_REPORT_H

#include "fmnist_job.h"
#include "json.h"
#include "options.h"

typedef struct train_report {
	const train_opts *o;
	fmnist_job *job;
	pn_json json;
	bool json_on;
	pn_model_ws *eval_ws;
} train_report;

/* Opens the JSON output (if asked) and writes its head. 0, or -1 after a message. */
int report_open(train_report *r, const train_opts *o, fmnist_job *job);
/* pn_agg_job_config.on_round: evaluation every --eval-every rounds, the lines, the record. */
void report_round(void *ctx, const float *model, pn_round_record *rec);
void report_eval(train_report *r, const float *model, double *loss, double *acc);

typedef struct train_outcome {
	int64_t rounds_done, rounds_skipped;
	double time_s;
	const float *model;       /* final model, NULL if none */
	const char *error;        /* NULL when the run succeeded */
	int stop_signal;          /* SIGINT/SIGTERM that ended the run, 0 if none */
	const pn_agg_job_result *res; /* per-worker table and transport counters, may be NULL */
	const bool *byz;          /* known Byzantine ranks (reporting), may be NULL */
	int peers;                /* entries of res's per-worker arrays (a tree: its nodes) */
} train_outcome;

/* Summary and the JSON's tail; closes the JSON. Returns 0, or -1 if the JSON could not be
 * completed. */
int report_final(train_report *r, const train_outcome *out);
void report_free(train_report *r);

#endif
