/* Conformance, no peer needed: registration and argument rules, timeouts.
 * Runs against PN_CONF_BACKEND (README.md). */
#include "harness.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

Test(local, registration_rules)
{
	pn_tp_ctx *ctx = conf_open(0, CONF_SECRET);
	cr_assert_not_null(ctx);
	cr_assert_str_eq(pn_tp_backend_name(ctx), conf_backend());
	static uint8_t buf[4096];
	pn_tp_mr *mr = NULL;
	void *p = NULL;
	cr_assert_eq(pn_tp_register(ctx, NULL, 10, PN_ACCESS_REMOTE_READ, &mr), -EINVAL);
	cr_assert(strlen(pn_tp_errmsg(ctx)) > 0);
	cr_assert_eq(pn_tp_register(ctx, buf, 0, PN_ACCESS_REMOTE_READ, &mr), -EINVAL);
	cr_assert_eq(pn_tp_register(ctx, buf, sizeof(buf), PN_ACCESS_REMOTE_READ, NULL), -EINVAL);
	cr_assert_eq(pn_tp_register(ctx, buf, sizeof(buf), 1u << 9, &mr), -EINVAL);
	cr_assert_eq(pn_tp_alloc(ctx, 0, PN_ACCESS_LOCAL_WRITE, &p, &mr), -EINVAL);
	cr_assert_eq(pn_tp_alloc(ctx, 64, PN_ACCESS_LOCAL_WRITE, NULL, &mr), -EINVAL);
	cr_assert_eq(pn_tp_register(NULL, buf, sizeof(buf), 0, &mr), -EINVAL);
	cr_assert_eq(pn_tp_deregister(NULL), -EINVAL);

	cr_assert_eq(pn_tp_register(ctx, buf, sizeof(buf), PN_ACCESS_REMOTE_READ, &mr), 0, "%s",
		     pn_tp_errmsg(ctx));
	pn_mr_desc d;
	pn_tp_mr_get_desc(mr, &d);
	cr_assert_eq(d.len, sizeof(buf));
	cr_assert_eq(d.owner, 0);
	cr_assert_eq(d.access, PN_ACCESS_REMOTE_READ);
	cr_assert_eq(pn_tp_mr_addr(mr), buf);
	cr_assert_eq(pn_tp_mr_len(mr), sizeof(buf));

	pn_tp_mr *mr2;
	cr_assert_eq(pn_tp_alloc(ctx, 100000, PN_ACCESS_LOCAL_WRITE | PN_ACCESS_REMOTE_READ, &p, &mr2), 0);
	cr_assert_not_null(p);
	cr_assert_eq(pn_tp_mr_addr(mr2), p);
	memset(p, 0x5a, 100000); /* usable memory of the asked size */
	pn_mr_desc d2;
	pn_tp_mr_get_desc(mr2, &d2);
	cr_assert_neq(d2.key, d.key, "two live regions share a key");
	cr_assert_eq(pn_tp_deregister(mr2), 0);
	cr_assert_eq(pn_tp_deregister(mr), 0);
	pn_tp_close(ctx);
}

Test(local, argument_errors_without_peers)
{
	pn_tp_ctx *ctx = conf_open(0, CONF_SECRET);
	cr_assert_not_null(ctx);
	pn_tp_completion c[4];
	cr_assert_eq(pn_tp_poll(ctx, NULL, 4, 0), -EINVAL);
	cr_assert_eq(pn_tp_poll(ctx, c, 0, 0), -EINVAL);
	cr_assert_eq(pn_tp_poll(NULL, c, 4, 0), -EINVAL);
	cr_assert_eq(pn_tp_post_read(NULL, NULL, 0, NULL, 0, 1, 0), -EINVAL);
	cr_assert_eq(pn_tp_send_ctrl(NULL, "x", 1), -EINVAL);
	cr_assert_eq(pn_tp_disconnect(NULL), -EINVAL);
	pn_tp_peer *peer;
	cr_assert_eq(pn_tp_accept(ctx, NULL, 0), -EINVAL);
	cr_assert_eq(pn_tp_connect(ctx, NULL, &peer, 0), -EINVAL);
	cr_assert_eq(pn_tp_listen(ctx, NULL), -EINVAL);
	char a[64];
	cr_assert_eq(pn_tp_local_addr(ctx, NULL, 0), -EINVAL);
	(void)a;
	pn_tp_stats st;
	pn_tp_get_stats(ctx, &st);
	cr_assert_eq(st.reads_posted, 0);
	pn_tp_close(ctx);
}

/* The core owns the listen state for every backend: one listen, and accept/local_addr
 * only after it. */
Test(local, listen_state_is_checked_by_the_core)
{
	pn_tp_ctx *ctx = conf_open(0, CONF_SECRET);
	cr_assert_not_null(ctx);
	pn_tp_peer *peer = NULL;
	char addr[128];
	cr_assert_eq(pn_tp_accept(ctx, &peer, 0), -EINVAL);
	cr_assert(strstr(pn_tp_errmsg(ctx), "before listen"), "%s", pn_tp_errmsg(ctx));
	cr_assert_eq(pn_tp_local_addr(ctx, addr, sizeof(addr)), -ENOTCONN);
	char listen[256];
	conf_listen_addr(listen, sizeof(listen), 0);
	cr_assert_eq(pn_tp_listen(ctx, listen), 0, "%s", pn_tp_errmsg(ctx));
	cr_assert_eq(pn_tp_listen(ctx, listen), -EALREADY);
	cr_assert(strstr(pn_tp_errmsg(ctx), "already listening"), "%s", pn_tp_errmsg(ctx));
	cr_assert_eq(pn_tp_local_addr(ctx, addr, sizeof(addr)), 0, "%s", pn_tp_errmsg(ctx));
	cr_assert_null(peer);
	pn_tp_close(ctx);
}

Test(local, poll_and_accept_honour_timeouts)
{
	pn_tp_ctx *ctx = conf_open(0, CONF_SECRET);
	cr_assert_not_null(ctx);
	pn_tp_completion c[4];
	/* Nothing can arrive: each call must come back (with 0), not block. */
	cr_assert_eq(pn_tp_poll(ctx, c, 4, 0), 0);
	cr_assert_eq(pn_tp_poll(ctx, c, 4, 50), 0);
	char listen[256];
	conf_listen_addr(listen, sizeof(listen), 0);
	cr_assert_eq(pn_tp_listen(ctx, listen), 0, "%s", pn_tp_errmsg(ctx));
	char addr[128];
	cr_assert_eq(pn_tp_local_addr(ctx, addr, sizeof(addr)), 0);
	cr_assert(addr[0] != '\0');
	pn_tp_peer *peer = NULL;
	cr_assert_lt(pn_tp_accept(ctx, &peer, 50), 0);
	cr_assert_null(peer);
	pn_tp_close(ctx);
}
