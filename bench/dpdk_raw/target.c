/* Target role: expose a region, then serve until the reader says BYE. Control messages:
 * "RAW <frames> <payload>" starts a blast of RAW frames (no protocol); "BYE" ends. */
#include "bench_dpdk_raw.h"
#include "ctrl_text.h"
#include "transport/dpdk/dpdk_debug.h"

#include <stdio.h>
#include <string.h>

int bench_target(const struct bench_opts *o, pn_tp_ctx *ctx)
{
	int rc = 1;
	void *buf;
	pn_tp_mr *mr;
	pn_tp_peer *reader;
	if (pn_tp_alloc(ctx, o->size, PN_ACCESS_REMOTE_READ, &buf, &mr) || pn_tp_listen(ctx, o->addr) ||
	    pn_tp_accept(ctx, &reader, 60000)) {
		fprintf(stderr, "target: %s\n", pn_tp_errmsg(ctx));
		goto out;
	}
	memset(buf, 0xa5, o->size);
	uint8_t msg[PN_MR_DESC_WIRE_SIZE];
	pn_mr_desc d;
	pn_tp_mr_get_desc(mr, &d);
	pn_mr_desc_pack(&d, msg);
	pn_tp_send_ctrl(reader, msg, sizeof msg);
	for (double end = bench_now_s() + 600; bench_now_s() < end;) {
		pn_tp_completion c;
		if (pn_tp_poll(ctx, &c, 1, 100) != 1) {
			if (strstr(o->options, "net_memif") && !pn_dp_debug_wait_link_down(ctx, 0))
				break; /* the reader left without BYE */
			continue;
		}
		if (c.event == PN_TP_PEER_DOWN)
			break;
		if (c.event != PN_TP_CTRL_RECV)
			continue;
		char text[PN_TP_CTRL_MAX + 1];
		bench_ctrl_text(&c, text);
		unsigned long long frames;
		unsigned payload;
		if (sscanf(text, "RAW %llu %u", &frames, &payload) == 2) {
			pn_dp_debug_raw_blast(reader, mr, frames, payload);
		} else if (!strcmp(text, "BYE")) {
			pn_tp_send_ctrl(reader, "BYE-OK", 6);
			for (double t = bench_now_s() + 0.2; bench_now_s() < t;)
				pn_tp_poll(ctx, &c, 1, 20);
			/* a memif server (the reader) must stop polling before we go */
			if (strstr(o->options, "net_memif"))
				pn_dp_debug_wait_link_down(ctx, 10000);
			rc = 0;
			break;
		}
	}
	pn_tp_deregister(mr);
out:
	return rc;
}
