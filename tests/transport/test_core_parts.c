/* The pieces every backend takes from the transport core: the ring, the completion queue,
 * the deadlines and condition waits, the option tables, the IPv4 parser. */
#include "transport/backend.h"
#include "transport/clock.h"
#include "transport/cq.h"
#include "transport/ring.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

Test(ring, keeps_order_across_growth_and_wrap)
{
	struct pn_ring r;
	pn_ring_init(&r, sizeof(int), 4, 0);
	int next_in = 0, next_out = 0;
	/* push 3, pop 2 over and over: the head walks round while the ring grows */
	for (int round = 0; round < 200; round++) {
		for (int k = 0; k < 3; k++) {
			int *slot = pn_ring_push(&r);
			cr_assert_not_null(slot);
			*slot = next_in++;
		}
		for (int k = 0; k < 2; k++) {
			cr_assert_eq(*(int *)pn_ring_front(&r), next_out++);
			pn_ring_pop(&r);
		}
		for (uint32_t i = 0; i < pn_ring_count(&r); i++)
			cr_assert_eq(*(int *)pn_ring_at(&r, i), next_out + (int)i);
	}
	cr_assert_eq(pn_ring_count(&r), (uint32_t)(next_in - next_out));
	pn_ring_free(&r);
	cr_assert_eq(pn_ring_count(&r), 0);
}

Test(ring, stops_at_its_limit_and_unpush_takes_back)
{
	struct pn_ring r;
	pn_ring_init(&r, 8, 2, 5);
	for (int i = 0; i < 5; i++)
		cr_assert_not_null(pn_ring_push(&r));
	cr_assert(pn_ring_full(&r));
	cr_assert_null(pn_ring_push(&r));
	pn_ring_unpush(&r);
	cr_assert_not(pn_ring_full(&r));
	cr_assert_not_null(pn_ring_push(&r));
	pn_ring_clear(&r);
	cr_assert_eq(pn_ring_count(&r), 0);
	cr_assert_not_null(pn_ring_push(&r));
	pn_ring_free(&r);
}

static pn_tp_completion comp(enum pn_tp_event ev, uint64_t cookie, uint32_t len)
{
	return (pn_tp_completion){ .event = ev, .cookie = cookie, .len = len };
}

Test(cq, copies_payloads_and_keeps_them_until_the_next_pop)
{
	struct pn_cq q;
	pn_cq_init(&q);
	char msg[PN_TP_CTRL_MAX];
	for (int i = 0; i < 1000; i++) {
		pn_tp_completion c = comp(i % 2 ? PN_TP_CTRL_RECV : PN_TP_READ_DONE, (uint64_t)i, i % 2 ? 5 : 64);
		snprintf(msg, sizeof(msg), "m%03d", i);
		cr_assert_eq(pn_cq_push(&q, &c, msg), 0);
	}
	memset(msg, 0, sizeof(msg)); /* the queue owns its copies */
	cr_assert_eq(pn_cq_len(&q), 1000);
	pn_tp_completion out[300];
	int seen = 0;
	while (pn_cq_len(&q)) {
		int n = pn_cq_pop(&q, out, 300, NULL, NULL);
		cr_assert_gt(n, 0);
		for (int k = 0; k < n; k++, seen++) {
			cr_assert_eq(out[k].cookie, (uint64_t)seen);
			if (seen % 2) {
				char want[16];
				snprintf(want, sizeof(want), "m%03d", seen);
				cr_assert_eq(out[k].len, 5);
				cr_assert(memcmp(out[k].data, want, 5) == 0);
			} else {
				cr_assert_null(out[k].data);
				cr_assert_eq(out[k].len, 64);
			}
		}
	}
	cr_assert_eq(seen, 1000);
	cr_assert_eq(pn_cq_pop(&q, out, 300, NULL, NULL), 0);
	pn_cq_free(&q);
}

struct held {
	int calls, allow;
	uint32_t slots[8];
};

static bool take_ref(void *arg, void *ref, uint32_t slot)
{
	struct held *h = arg;
	cr_assert_eq(ref, (void *)h);
	if (h->calls >= h->allow)
		return false;
	h->slots[h->calls++] = slot;
	return true;
}

Test(cq, references_come_back_and_a_refusal_leaves_the_entry_queued)
{
	struct pn_cq q;
	pn_cq_init(&q);
	struct held h = { .allow = 1 };
	static const char buf[] = "in the backend's buffer";
	pn_tp_completion c = comp(PN_TP_CTRL_RECV, 1, sizeof(buf));
	c.data = buf;
	cr_assert_eq(pn_cq_push_ref(&q, &c, &h, 7), 0);
	c.cookie = 2;
	cr_assert_eq(pn_cq_push_ref(&q, &c, &h, 9), 0);
	pn_tp_completion out[4];
	cr_assert_eq(pn_cq_pop(&q, out, 4, take_ref, &h), 1);
	cr_assert_eq(out[0].data, (const void *)buf); /* not copied */
	cr_assert_eq(h.slots[0], 7);
	cr_assert_eq(pn_cq_len(&q), 1);
	h.allow = 2;
	cr_assert_eq(pn_cq_pop(&q, out, 4, take_ref, &h), 1);
	cr_assert_eq(out[0].cookie, 2);
	cr_assert_eq(h.slots[1], 9);
	pn_cq_free(&q);
}

Test(clock, deadlines_and_time_left)
{
	cr_assert_eq(pn_tp_deadline(-1), PN_TP_FOREVER);
	cr_assert_eq(pn_tp_left_ms(PN_TP_FOREVER), -1);
	cr_assert_eq(pn_tp_left_ms(pn_tp_now_ms() - 5), 0);
	int left = pn_tp_left_ms(pn_tp_deadline(60000));
	cr_assert(left > 0 && left <= 60000, "left %d", left);
	cr_assert_eq(pn_tp_left_ms(pn_tp_now_ms() + 5000000), 1000000);
	uint64_t a = pn_now_ns(), b = pn_now_ns();
	cr_assert_geq(b, a);
}

static bool never(void *arg) { (void)arg; return false; }
static bool flag_set(void *arg) { return *(bool *)arg; }

Test(clock, wait_until_returns_on_its_predicate_or_its_timeout)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv;
	cr_assert_eq(pn_tp_cond_init(&cv), 0);
	pthread_mutex_lock(&m);
	cr_assert_eq(pn_tp_wait_until(&cv, &m, 0, never, NULL), -ETIMEDOUT);
	cr_assert_eq(pn_tp_wait_until(&cv, &m, 20, never, NULL), -ETIMEDOUT);
	bool yes = true;
	cr_assert_eq(pn_tp_wait_until(&cv, &m, -1, flag_set, &yes), 0);
	pthread_mutex_unlock(&m);
	pthread_cond_destroy(&cv);
}

struct settings {
	uint8_t small;
	uint32_t mid;
	uint64_t big;
	int signed_field;
	char name[8];
	int custom;
};

static int parse_custom(const struct pn_tp_option *o, const char *val, void *s)
{
	(void)o;
	if (strcmp(val, "yes") && strcmp(val, "no"))
		return -EINVAL;
	((struct settings *)s)->custom = val[0] == 'y';
	return 0;
}

static const struct pn_tp_option table[] = {
	PN_OPT_NUM("small", struct settings, small, 1, 255),
	PN_OPT_NUM("mid", struct settings, mid, 0, 1u << 30),
	PN_OPT_NUM("big", struct settings, big, 0, UINT64_MAX),
	PN_OPT_NUM("signed", struct settings, signed_field, 0, 65535),
	PN_OPT_STR("name", struct settings, name),
	{ .key = "custom", .parse = parse_custom, .want = "yes or no" },
	{ .key = NULL },
};

Test(options, a_table_fills_each_field_by_its_width)
{
	struct settings s = { .signed_field = -1 };
	char err[256] = "";
	cr_assert_eq(pn_kv_apply("small=200; mid=64K;big=8M;signed=7;name=rxe0;custom=yes", table, &s,
				 "test", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.small, 200);
	cr_assert_eq(s.mid, 64u << 10);
	cr_assert_eq(s.big, 8u << 20);
	cr_assert_eq(s.signed_field, 7);
	cr_assert_str_eq(s.name, "rxe0");
	cr_assert_eq(s.custom, 1);
	cr_assert_eq(pn_kv_apply("", table, &s, "test", err, sizeof(err)), 0);
	cr_assert_eq(pn_kv_apply(NULL, table, &s, "test", err, sizeof(err)), 0);
}

Test(options, errors_name_the_backend_the_key_and_what_was_wanted)
{
	struct settings s = { 0 };
	char err[256];
	cr_assert_eq(pn_kv_apply("small=256", table, &s, "test", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "test") && strstr(err, "small") && strstr(err, "[1, 255]"), "%s", err);
	cr_assert_eq(s.small, 0);
	cr_assert_eq(pn_kv_apply("bogus=1", table, &s, "test", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "bogus") && strstr(err, "known: small, mid"), "%s", err);
	cr_assert_eq(pn_kv_apply("name=toolongname", table, &s, "test", err, sizeof(err)), -EINVAL);
	cr_assert_eq(pn_kv_apply("name=", table, &s, "test", err, sizeof(err)), -EINVAL);
	cr_assert_eq(pn_kv_apply("custom=maybe", table, &s, "test", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "yes or no"), "%s", err);
	cr_assert_eq(pn_kv_apply("mid=-1", table, &s, "test", err, sizeof(err)), -EINVAL);
	cr_assert_eq(pn_kv_apply("novalue", table, &s, "test", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "malformed"), "%s", err);
}

Test(options, ipv4_and_error_formatter)
{
	uint32_t ip = 0;
	cr_assert_eq(pn_parse_ipv4("10.88.0.1", &ip), 0);
	cr_assert_eq(ip, 0x0a580001u);
	cr_assert_eq(pn_parse_ipv4("256.0.0.1", &ip), -EINVAL);
	cr_assert_eq(pn_parse_ipv4("1.2.3", &ip), -EINVAL);
	cr_assert_eq(pn_parse_ipv4("1.2.3.4x", &ip), -EINVAL);
	char buf[32];
	cr_assert_eq(pn_fail(buf, sizeof(buf), EINVAL, "x=%d", 5), -EINVAL);
	cr_assert_str_eq(buf, "x=5");
	cr_assert_eq(pn_fail(NULL, 0, -ENOMEM, "ignored"), -ENOMEM);
	cr_assert_eq(pn_tp_fail(NULL, EIO, "no context"), -EIO);
}
