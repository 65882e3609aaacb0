/* Verbs options and memory registration: device selection by name or address and the
 * errors for bad options, the preferred chunk capped by the split size, and the exact
 * access flag mapping with page-aligned allocations (the backend-independent tests
 * are tests/transport's conformance suite). */
#include "verbs_test.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

Test(verbs_options, device_by_name_or_address_and_errors, .timeout = 60)
{
	char err[512], opts[256];
	snprintf(opts, sizeof(opts), "dev=%s;port=1", dev());
	pn_tp_ctx *ctx = open_ctx(0, opts, 0, err, sizeof(err));
	cr_assert(ctx, "dev=%s: %s", dev(), err);
	cr_assert_str_eq(pn_tp_backend_name(ctx), "verbs");
	cr_assert_str_eq(verbs_device_name((struct verbs_ctx *)ctx), dev());
	pn_tp_close(ctx);

	snprintf(opts, sizeof(opts), "addr=%s", addr());
	ctx = open_ctx(0, opts, 0, err, sizeof(err));
	cr_assert(ctx, "addr=%s: %s", addr(), err);
	cr_assert_str_eq(verbs_device_name((struct verbs_ctx *)ctx), dev(), "addr= chose another device");
	pn_tp_close(ctx);

	static const struct {
		const char *opts, *says;
	} bad[] = {
		{ "dev=no_such_dev0", "no RDMA device named" },
		{ "bogus=1", "unknown option" },
		{ "port=0", "port" },
		{ "ctrl_depth=1", "ctrl_depth" },
		{ "poll=sometimes", "poll" },
		{ "addr=not-an-ip", "not a numeric IP" },
		{ "addr=198.51.100.77", "cannot bind" }, /* TEST-NET-2: not ours, never contacted */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_null(open_ctx(0, bad[i].opts, 0, err, sizeof(err)), "'%s' was accepted", bad[i].opts);
		cr_assert(strstr(err, bad[i].says), "'%s': message '%s' lacks '%s'", bad[i].opts, err, bad[i].says);
	}
	snprintf(opts, sizeof(opts), "dev=%s;gid_index=60000", dev());
	cr_assert_null(open_ctx(0, opts, 0, err, sizeof(err)));
	cr_assert(strstr(err, "GID index"), "%s", err);
}

Test(verbs_options, preferred_chunk_is_capped_by_the_split_size, .timeout = 30)
{
	char err[512], opts[256];
	snprintf(opts, sizeof(opts), "dev=%s", dev());
	pn_tp_ctx *ctx = open_ctx(0, opts, 0, err, sizeof(err));
	cr_assert(ctx, "%s", err);
	cr_assert_eq(pn_tp_preferred_chunk(ctx), VERBS_CHUNK_DEFAULT);
	pn_tp_close(ctx);
	snprintf(opts, sizeof(opts), "dev=%s;max_msg=64K;chunk=4M", dev());
	ctx = open_ctx(0, opts, 0, err, sizeof(err));
	cr_assert(ctx, "%s", err);
	cr_assert_eq(pn_tp_preferred_chunk(ctx), 65536u);
	pn_tp_close(ctx);
}

Test(verbs_mr, access_flags_map_exactly_and_alloc_is_page_aligned, .timeout = 30)
{
	cr_assert_eq(verbs_access_flags(0), 0);
	cr_assert_eq(verbs_access_flags(PN_ACCESS_LOCAL_WRITE), IBV_ACCESS_LOCAL_WRITE);
	cr_assert_eq(verbs_access_flags(PN_ACCESS_REMOTE_READ), IBV_ACCESS_REMOTE_READ,
		     "a gradient buffer must be remote-READ only");
	cr_assert_eq(verbs_access_flags(PN_ACCESS_REMOTE_READ | PN_ACCESS_LOCAL_WRITE),
		     IBV_ACCESS_REMOTE_READ | IBV_ACCESS_LOCAL_WRITE);
	cr_assert_eq(verbs_access_flags(PN_ACCESS_REMOTE_WRITE), IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_LOCAL_WRITE);

	char err[512], opts[256];
	snprintf(opts, sizeof(opts), "dev=%s", dev());
	pn_tp_ctx *ctx = open_ctx(0, opts, 0, err, sizeof(err));
	cr_assert(ctx, "%s", err);
	long page = sysconf(_SC_PAGESIZE);
	size_t sizes[] = { 1, 100, 4097, 1 << 20 };
	for (size_t i = 0; i < 4; i++) {
		void *p;
		pn_tp_mr *mr;
		cr_assert_eq(pn_tp_alloc(ctx, sizes[i], PN_ACCESS_REMOTE_READ, &p, &mr), 0, "%s", pn_tp_errmsg(ctx));
		cr_assert_eq((uintptr_t)p % (uintptr_t)page, 0, "alloc(%zu) not page-aligned", sizes[i]);
		pn_mr_desc d;
		pn_tp_mr_get_desc(mr, &d);
		cr_assert_eq(d.addr, (uint64_t)(uintptr_t)p, "verbs descriptors carry the virtual address");
		cr_assert_eq(d.key, ((struct verbs_mr *)mr)->mr->rkey);
		cr_assert_eq(pn_tp_deregister(mr), 0);
	}
	pn_tp_close(ctx);
}
