/* --help text of each role: pennant-train, pennant-aggregator, pennant-worker. */
#ifndef PENNANT_TOOLS_TRAIN_USAGE_H
#define PENNANT_TOOLS_TRAIN_USAGE_H

#include "options.h"

#include <stdio.h>

void train_usage(FILE *f, const char *prog, train_role role);

#endif
