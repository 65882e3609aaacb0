/* Transport core pieces that need no backend choice: option parsing, descriptor wire
 * form, backend registry, and the tcp backend's own options. */
#include "pennant/transport.h"
#include "transport/backend.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

Test(core, kv_parses_entries_with_commas_and_blanks)
{
	pn_kv_iter it = { " vdev=net_memif0,role=server,socket=/tmp/a.sock ; mem = in-memory;;x=" };
	char k[32], v[128];
	cr_assert_eq(pn_kv_next(&it, k, sizeof(k), v, sizeof(v)), 1);
	cr_assert_str_eq(k, "vdev");
	cr_assert_str_eq(v, "net_memif0,role=server,socket=/tmp/a.sock");
	cr_assert_eq(pn_kv_next(&it, k, sizeof(k), v, sizeof(v)), 1);
	cr_assert_str_eq(k, "mem");
	cr_assert_str_eq(v, "in-memory");
	cr_assert_eq(pn_kv_next(&it, k, sizeof(k), v, sizeof(v)), 1);
	cr_assert_str_eq(k, "x");
	cr_assert_str_eq(v, "");
	cr_assert_eq(pn_kv_next(&it, k, sizeof(k), v, sizeof(v)), 0);
	cr_assert_eq(pn_kv_next(&it, k, sizeof(k), v, sizeof(v)), 0);
}

Test(core, kv_rejects_malformed_entries)
{
	char k[8], v[8];
	pn_kv_iter a = { "novalue" };
	cr_assert_eq(pn_kv_next(&a, k, sizeof(k), v, sizeof(v)), -EINVAL);
	pn_kv_iter b = { "=v" };
	cr_assert_eq(pn_kv_next(&b, k, sizeof(k), v, sizeof(v)), -EINVAL);
	pn_kv_iter c = { "averylongkey=1" };
	cr_assert_eq(pn_kv_next(&c, k, sizeof(k), v, sizeof(v)), -EINVAL);
	pn_kv_iter d = { "k=averylongvalue" };
	cr_assert_eq(pn_kv_next(&d, k, sizeof(k), v, sizeof(v)), -EINVAL);
	pn_kv_iter e = { "" };
	cr_assert_eq(pn_kv_next(&e, k, sizeof(k), v, sizeof(v)), 0);
}

Test(core, desc_wire_form_is_32_bytes_little_endian)
{
	pn_mr_desc d = { .addr = 0x0102030405060708ull, .len = 0x1122334455667788ull,
			 .key = 0xa1b2c3d4u, .owner = 7, .access = PN_ACCESS_REMOTE_READ, .reserved = 0 };
	uint8_t w[PN_MR_DESC_WIRE_SIZE];
	memset(w, 0xee, sizeof(w));
	pn_mr_desc_pack(&d, w);
	cr_assert_eq(w[0], 0x08);
	cr_assert_eq(w[7], 0x01);
	cr_assert_eq(w[8], 0x88);
	cr_assert_eq(w[16], 0xd4);
	cr_assert_eq(w[19], 0xa1);
	cr_assert_eq(w[20], 7);
	cr_assert_eq(w[24], PN_ACCESS_REMOTE_READ);
	cr_assert_eq(w[31], 0);
	pn_mr_desc back;
	pn_mr_desc_unpack(w, &back);
	cr_assert(memcmp(&back, &d, sizeof(d)) == 0);
}

Test(core, registry_lists_tcp_and_rejects_unknown_backend)
{
	cr_assert(strstr(pn_tp_backends_available(), "tcp") != NULL);
	char err[256] = "";
	pn_tp_config cfg = { .backend = "carrier-pigeon" };
	cr_assert_null(pn_tp_open(&cfg, err, sizeof(err)));
	cr_assert(strstr(err, "carrier-pigeon") != NULL, "error message: %s", err);
	/* the error lists what this build has, never falls back to one of them */
	cr_assert(strstr(err, pn_tp_backends_available()) != NULL, "error message: %s", err);
	cr_assert_null(pn_tp_open(NULL, err, sizeof(err)));
}

Test(core, tcp_rejects_unknown_option)
{
	char err[256] = "";
	pn_tp_config cfg = { .backend = "tcp", .options = "piece=64K;bogus=1", .secret = "s", .secret_len = 1 };
	cr_assert_null(pn_tp_open(&cfg, err, sizeof(err)));
	cr_assert(strstr(err, "bogus") != NULL, "error message: %s", err);
	cfg.options = "piece=64K;window=1M";
	pn_tp_ctx *ctx = pn_tp_open(&cfg, err, sizeof(err));
	cr_assert_not_null(ctx, "%s", err);
	cr_assert_eq(pn_tp_preferred_chunk(ctx), 64 * 1024);
	pn_tp_close(ctx);
}

/* The job secret is required, bounded, any bytes; the context keeps no pointer to it. */
Test(core, open_requires_a_bounded_secret_and_keeps_no_pointer_to_it)
{
	char err[256] = "";
	pn_tp_config cfg = { .backend = "tcp" };
	cr_assert_null(pn_tp_open(&cfg, err, sizeof(err)));
	cr_assert(strstr(err, "secret") != NULL, "error message: %s", err);
	cfg.secret = "";
	cr_assert_null(pn_tp_open(&cfg, err, sizeof(err)), "an empty secret was taken");
	static char big[4097];
	memset(big, 'x', sizeof(big));
	cfg.secret = big;
	cfg.secret_len = sizeof(big);
	cr_assert_null(pn_tp_open(&cfg, err, sizeof(err)), "a 4097-byte secret was taken");
	cr_assert(strstr(err, "4096") != NULL, "error message: %s", err);
	cfg.secret_len = 4096;
	pn_tp_ctx *ctx = pn_tp_open(&cfg, err, sizeof(err));
	cr_assert_not_null(ctx, "%s", err);
	memset(big, 0, sizeof(big)); /* the caller may reuse its buffer at once */
	pn_tp_close(ctx);
	/* any bytes, NUL included */
	cfg.secret = "a\0b";
	cfg.secret_len = 3;
	ctx = pn_tp_open(&cfg, err, sizeof(err));
	cr_assert_not_null(ctx, "%s", err);
	pn_tp_close(ctx);
}

Test(core, sizes_and_addresses_parse_strictly)
{
	uint64_t v = 0;
	cr_expect_eq(pn_kv_parse_size("4096", &v), 0);
	cr_expect_eq(v, 4096u);
	cr_expect_eq(pn_kv_parse_size("64K", &v), 0);
	cr_expect_eq(v, 65536u);
	cr_expect_eq(pn_kv_parse_size("8m", &v), 0);
	cr_expect_eq(v, 8u << 20);
	cr_expect_eq(pn_kv_parse_size("-1", &v), -EINVAL);
	cr_expect_eq(pn_kv_parse_size("12G", &v), -EINVAL);
	cr_expect_eq(pn_kv_parse_size("", &v), -EINVAL);
	cr_expect_eq(pn_kv_parse_size("99999999999999999999M", &v), -EINVAL);
	cr_expect_eq(pn_kv_parse_size("17592186044416M", &v), -EINVAL, "overflow on the shift");
	char host[16], port[8];
	cr_expect_eq(pn_addr_split("10.0.0.1:7000", host, sizeof host, port, sizeof port), 0);
	cr_expect_str_eq(host, "10.0.0.1");
	cr_expect_str_eq(port, "7000");
	cr_expect_eq(pn_addr_split("[::1]:0", host, sizeof host, port, sizeof port), 0);
	cr_expect_str_eq(host, "::1");
	cr_expect_eq(pn_addr_split("nohost", host, sizeof host, port, sizeof port), -EINVAL);
	cr_expect_eq(pn_addr_split(":80", host, sizeof host, port, sizeof port), -EINVAL);
	cr_expect_eq(pn_addr_split("h:", host, sizeof host, port, sizeof port), -EINVAL);
	cr_expect_eq(pn_addr_split("[]:80", host, sizeof host, port, sizeof port), -EINVAL);
	cr_expect_eq(pn_addr_split("a-very-long-host-name:1", host, sizeof host, port, sizeof port),
		     -ENAMETOOLONG);
}
