/* Where each process of the training job attaches: the transport configuration of a node
 * id, and the DPDK net_memif topology a local run builds on one host. */
#ifndef PENNANT_TOOLS_TRAIN_TOPOLOGY_H
#define PENNANT_TOOLS_TRAIN_TOPOLOGY_H

#include "options.h"

#include <stdbool.h>
#include <stddef.h>

/* Resolves --backend auto and, for a local dpdk run without --tp-options, creates the
 * memif socket folder (o->memif_dir) and the aggregator's address. Returns -1 to go on,
 * or an exit status after a message. */
int topology_prepare(train_opts *o);
/* Removes what topology_prepare created. */
void topology_cleanup(train_opts *o);
/* The transport configuration of node `node_id` (0 = aggregator, rank + 1 = worker);
 * options are written into optbuf. Carries the job secret. */
pn_tp_config topology_tp_config(const train_opts *o, uint32_t node_id, char *optbuf, size_t optlen);

#endif
