/* Control messages between aggregator and workers (each fits PN_TP_CTRL_MAX bytes).
 * Little-endian fixed layouts, packed and parsed field by field; anything that does not
 * parse is dropped and counted by the caller. */
#ifndef PENNANT_RUNTIME_JOB_PROTO_H
#define PENNANT_RUNTIME_JOB_PROTO_H

#include "pennant/job.h"
#include "pennant/transport.h"

#include <stddef.h>
#include <stdint.h>

#define PN_JOB_PROTO_VERSION 1

enum pn_job_msg_type {
	PN_MSG_HELLO = 1,   /* worker → aggregator: rank, gradient region */
	PN_MSG_WELCOME = 2, /* aggregator → worker: n, d, model region */
	PN_MSG_ROUND = 3,   /* aggregator → worker: round, model slot, code row */
	PN_MSG_READY = 4,   /* worker → aggregator: round, gradient slot, loss */
	PN_MSG_STOP = 5,    /* aggregator → worker */
};

typedef struct pn_job_msg {
	uint8_t type;
	uint32_t rank, n, slot;
	int64_t round;
	uint64_t d;
	pn_mr_desc region;          /* HELLO: gradient region; WELCOME: model region */
	int status;                 /* READY: 0, or a negative errno from compute */
	double loss, compute_s;     /* READY */
	int nparts;                 /* ROUND */
	int parts[PN_JOB_MAX_PARTS];
	double coefs[PN_JOB_MAX_PARTS];
} pn_job_msg;

/* Returns the encoded length (<= PN_TP_CTRL_MAX). */
size_t pn_job_msg_pack(const pn_job_msg *m, uint8_t *buf);
/* 0, or -EBADMSG for anything malformed (wrong length, version, type, counts). */
int pn_job_msg_unpack(const void *buf, size_t len, pn_job_msg *m);

#endif
