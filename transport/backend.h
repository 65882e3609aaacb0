/* Internal: what a transport backend provides. transport/core.c dispatches every public
 * pn_tp_* call through the context's ops table; it never branches on the backend.
 *
 * A backend allocates its own context/mr/peer structs that embed the common headers
 * below as their FIRST member, so the core can reach ops and error buffers. */
#ifndef PENNANT_TRANSPORT_BACKEND_H
#define PENNANT_TRANSPORT_BACKEND_H

#include "pennant/transport.h"
#include "transport/auth.h"
#include "util/util.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct addrinfo;
struct pn_tp_ops;

struct pn_tp_ctx {
	const struct pn_tp_ops *ops;
	pn_tp_config cfg;        /* copy; cfg.options points at options_buf; cfg.secret is NULL */
	char options_buf[16384]; /* an aggregator lists one vdev per worker */
	char err[512];
	bool listening;          /* set by the core once ops->listen succeeded */
	pn_tp_stats stats;       /* backends update these counters */
	/* Derived from the job secret by pn_tp_open (the secret itself is not kept). Only
	 * transport/auth.c reads it; backends call the pn_auth_* helpers. */
	uint8_t auth_key[PN_AUTH_KEY_LEN];
};

struct pn_tp_mr {
	pn_tp_ctx *ctx;
	void *addr;
	size_t len;
	unsigned access;
	int owned;               /* allocated by pn_tp_alloc: freed on deregister */
	pn_mr_desc desc;
};

struct pn_tp_peer {
	pn_tp_ctx *ctx;
	uint32_t id;             /* peer's node id */
	int failed;              /* set once the peer is down */
};

struct pn_tp_ops {
	const char *name;
	/* Allocate and initialise the backend context (embedding struct pn_tp_ctx first).
	 * On failure return NULL and write a message into err. */
	pn_tp_ctx *(*open)(const pn_tp_config *cfg, char *err, size_t errlen);
	void (*close)(pn_tp_ctx *ctx);
	size_t (*preferred_chunk)(const pn_tp_ctx *ctx);
	int (*alloc)(pn_tp_ctx *ctx, size_t len, unsigned access, void **buf, pn_tp_mr **mr);
	int (*reg)(pn_tp_ctx *ctx, void *buf, size_t len, unsigned access, pn_tp_mr **mr);
	int (*dereg)(pn_tp_mr *mr);
	int (*listen)(pn_tp_ctx *ctx, const char *addr);
	int (*local_addr)(pn_tp_ctx *ctx, char *buf, size_t len);
	int (*accept)(pn_tp_ctx *ctx, pn_tp_peer **peer, int timeout_ms);
	int (*connect)(pn_tp_ctx *ctx, const char *addr, pn_tp_peer **peer, int timeout_ms);
	int (*disconnect)(pn_tp_peer *peer);
	int (*post_read)(pn_tp_peer *peer, pn_tp_mr *local, size_t local_off,
			 const pn_mr_desc *remote, uint64_t remote_off, size_t len, uint64_t cookie);
	int (*send_ctrl)(pn_tp_peer *peer, const void *msg, size_t len);
	int (*poll)(pn_tp_ctx *ctx, pn_tp_completion *out, int max, int timeout_ms);
	/* Optional: backends that keep counters elsewhere refresh ctx->stats here. */
	void (*refresh_stats)(const pn_tp_ctx *ctx);
};

/* Backends compiled in (each defined in its backend's context file), listed in the
 * NULL-terminated table of transport/core.c. */
extern const struct pn_tp_ops pn_tp_tcp_ops;
#if PN_HAVE_DPDK
extern const struct pn_tp_ops pn_tp_dpdk_ops;
#endif
#if PN_HAVE_VERBS
extern const struct pn_tp_ops pn_tp_verbs_ops;
#endif

/* Record an error message on the context and return -err (negative errno; err may be
 * given either sign): pn_fail (util/util.h) aimed at ctx->err. Before a context exists
 * (open, option parsing) the paths call pn_fail on the caller's buffer directly. */
int pn_tp_fail(pn_tp_ctx *ctx, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Option parsing helper shared by backends: iterate "k=v;k=v" entries (values may contain commas).
 * Returns 1 with key/value filled, 0 at the end, -EINVAL on a malformed entry. */
typedef struct pn_kv_iter {
	const char *p;
} pn_kv_iter;
int pn_kv_next(pn_kv_iter *it, char *key, size_t keylen, char *val, size_t vallen);
/* A byte count with an optional K/M suffix (powers of 1024): "4096", "64K", "8M".
 * 0, or -EINVAL for anything else (signs, junk, overflow). */
int pn_kv_parse_size(const char *s, uint64_t *out);

/* A backend's options are a table: one row per key, with the parser that stores its
 * value into the backend's settings (a struct, at offset off, of width bytes).
 * pn_opt_num takes a pn_kv_parse_size number in [lo, hi] into an unsigned or int field
 * of 1, 2, 4 or 8 bytes; pn_opt_str copies a non-empty string that fits the char array.
 * A backend's own parser returns 0 or -EINVAL and may use want for its message. */
struct pn_tp_option;
typedef int (*pn_opt_parser)(const struct pn_tp_option *o, const char *val, void *settings);
struct pn_tp_option {
	const char *key;
	pn_opt_parser parse;
	uint64_t lo, hi;
	size_t off, width;
	const char *want; /* what a good value looks like, for the error message */
};
int pn_opt_num(const struct pn_tp_option *o, const char *val, void *settings);
int pn_opt_str(const struct pn_tp_option *o, const char *val, void *settings);
#define PN_OPT_NUM(k, type, field, lo_, hi_)                                                  \
	{ .key = (k), .parse = pn_opt_num, .lo = (lo_), .hi = (hi_), .off = offsetof(type, field), \
	  .width = sizeof(((type *)0)->field) }
#define PN_OPT_STR(k, type, field)                                                            \
	{ .key = (k), .parse = pn_opt_str, .off = offsetof(type, field),                         \
	  .width = sizeof(((type *)0)->field), .want = "a name that fits" }
/* Parse "k=v;..." against a table ending with a row whose key is NULL. 0, or -EINVAL
 * with a message naming the backend, the key and what was wanted (an unknown key lists
 * the known ones). */
int pn_kv_apply(const char *options, const struct pn_tp_option *table, void *settings,
		const char *backend, char *err, size_t errlen);

/* Zeroed, page-aligned memory of at least len bytes (rounded up to whole pages), for
 * backends whose pn_tp_alloc needs no special allocator. free() it. NULL if impossible. */
void *pn_tp_page_alloc(size_t len);

/* The context every backend's open starts with: a zeroed struct of size bytes (its own
 * context, embedding struct pn_tp_ctx first) with base.cfg set, or NULL and
 * "BACKEND: out of memory" in err. */
void *pn_tp_ctx_new(size_t size, const pn_tp_config *cfg, char *err, size_t errlen);

/* Splits "host:port" or "[v6]:port". 0, -EINVAL (no port / empty host), or
 * -ENAMETOOLONG (host or port does not fit its buffer). */
int pn_addr_split(const char *addr, char *host, size_t hostlen, char *port, size_t portlen);
/* Dotted-quad IPv4 "a.b.c.d" into host byte order. 0 or -EINVAL. */
int pn_parse_ipv4(const char *s, uint32_t *ip);
/* "host:port" (numeric port) into a stream-socket address list for a listen (passive) or
 * a connect; freeaddrinfo() it. 0, or -EINVAL with "BACKEND: ..." on the context. */
int pn_tp_resolve(pn_tp_ctx *ctx, const char *addr, bool passive, struct addrinfo **res);

#endif
