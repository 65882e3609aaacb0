/* A received control message as a C string: the benchmark and test peers talk to each
 * other in short text commands ("STATS", "RAW 1000 8192", ...). */
#ifndef PENNANT_BENCH_CTRL_TEXT_H
#define PENNANT_BENCH_CTRL_TEXT_H

#include "pennant/transport.h"

/* The payload of a PN_TP_CTRL_RECV completion, terminated, into text. */
void bench_ctrl_text(const pn_tp_completion *c, char text[PN_TP_CTRL_MAX + 1]);

#endif
