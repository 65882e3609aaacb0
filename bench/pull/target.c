/* pennant-bench-pull: the target side. Exposes one REMOTE_READ region as large as the
 * largest read and lets the backend serve it until the reader says quit. */
#include "bench_pull.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int bench_target(const struct bench_opts *o, const char *listen_tmpl, int addr_fd)
{
	char listen[256], addr[256];
	bench_expand_rank(listen, sizeof(listen), listen_tmpl, 1);
	pn_tp_ctx *ctx = bench_open(o, 1);
	if (!ctx)
		return 1;
	int rc = 1;
	void *buf;
	pn_tp_mr *mr = NULL;
	pn_tp_peer *peer;
	if (pn_tp_alloc(ctx, o->max_size, PN_ACCESS_REMOTE_READ, &buf, &mr) != 0 ||
	    pn_tp_listen(ctx, listen) != 0 || pn_tp_local_addr(ctx, addr, sizeof(addr)) != 0) {
		fprintf(stderr, "pennant-bench-pull target: %s\n", pn_tp_errmsg(ctx));
		goto out;
	}
	for (size_t i = 0; i < o->max_size; i++)
		((uint8_t *)buf)[i] = (uint8_t)(i * 131u);
	if (addr_fd >= 0) {
		dprintf(addr_fd, "%s\n", addr);
		close(addr_fd);
	} else {
		printf("pennant-bench-pull: serving %zu bytes at %s\n", o->max_size, addr);
		fflush(stdout);
	}
	if (pn_tp_accept(ctx, &peer, addr_fd >= 0 ? 30000 : -1) != 0) {
		fprintf(stderr, "pennant-bench-pull target: accept: %s\n", pn_tp_errmsg(ctx));
		goto out;
	}
	uint8_t msg[1 + PN_MR_DESC_WIRE_SIZE] = { 'D' };
	pn_mr_desc d;
	pn_tp_mr_get_desc(mr, &d);
	pn_mr_desc_pack(&d, msg + 1);
	if (pn_tp_send_ctrl(peer, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "pennant-bench-pull target: %s\n", pn_tp_errmsg(ctx));
		goto out;
	}
	for (;;) {
		pn_tp_completion c[8];
		int n = pn_tp_poll(ctx, c, 8, 1000);
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			if (c[i].event == PN_TP_PEER_DOWN) {
				fprintf(stderr, "pennant-bench-pull target: reader went away\n");
				goto out;
			}
			if (c[i].event == PN_TP_CTRL_RECV && c[i].len == 1 &&
			    ((const uint8_t *)c[i].data)[0] == 'Q') {
				rc = 0;
				goto out;
			}
		}
	}
out:
	if (mr)
		pn_tp_deregister(mr);
	pn_tp_close(ctx);
	return rc;
}
