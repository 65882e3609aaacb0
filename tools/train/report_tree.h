/* report_tree.c: a tree's additions to pennant-train's record (robust nodes' reports). */
#ifndef PENNANT_TOOLS_TRAIN_REPORT_TREE_H
#define PENNANT_TOOLS_TRAIN_REPORT_TREE_H

#include "json.h"
#include "options.h"

#include <stdio.h>

/* Inside a round's JSON object: "leaf_status" and "leaf_score" when nodes reported. */
void report_tree_round(pn_json *j, const train_opts *o, const pn_round_record *rec);
/* The distrusted workers' lines to out (may be NULL) and, with j, the "leaves" array. */
void report_tree_final(pn_json *j, FILE *out, const train_opts *o, const pn_agg_job_result *res);

#endif
