/* Addresses for listen/connect, shared by the backends: "host:port" or "[v6]:port"
 * split, dotted-quad IPv4, and resolution into a socket address list. */
#include "transport/backend.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int pn_addr_split(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon = addr ? strrchr(addr, ':') : NULL;
	if (!colon || colon == addr || !colon[1])
		return -EINVAL;
	size_t hl = (size_t)(colon - addr);
	const char *h = addr;
	if (addr[0] == '[' && colon[-1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0)
		return -EINVAL;
	if (hl >= hostlen || strlen(colon + 1) >= portlen)
		return -ENAMETOOLONG;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return 0;
}

int pn_parse_ipv4(const char *s, uint32_t *ip)
{
	unsigned a, b, c, d;
	char tail;
	if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 ||
	    c > 255 || d > 255)
		return -EINVAL;
	*ip = a << 24 | b << 16 | c << 8 | d;
	return 0;
}

int pn_tp_resolve(pn_tp_ctx *ctx, const char *addr, bool passive, struct addrinfo **res)
{
	const char *who = ctx->ops->name;
	char host[256], port[32];
	int sr = pn_addr_split(addr, host, sizeof host, port, sizeof port);
	if (sr == -ENAMETOOLONG)
		return pn_tp_fail(ctx, EINVAL, "%s: host name too long in '%s'", who, addr);
	if (sr)
		return pn_tp_fail(ctx, EINVAL, "%s: address '%s' is not host:port", who, addr);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) };
	int rc = getaddrinfo(host, port, &hints, res);
	if (rc != 0)
		return pn_tp_fail(ctx, EINVAL, "%s: cannot resolve '%s': %s", who, addr, gai_strerror(rc));
	return 0;
}
