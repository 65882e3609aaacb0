/* Options of the tcp backend ("key=value;..."):
 *   piece=SIZE          largest piece a read is split into (default 1M; 4K..16M)
 *   window=SIZE         piece bytes in flight per peer (default 8M)
 *   window_pieces=N     pieces in flight per peer (default 256)
 *   peer_timeout=MS     declare a peer down when its host stops acknowledging for this
 *                       long (TCP_USER_TIMEOUT + keepalive; default 30000, 0 = never).
 *                       A dead process is seen at once (its kernel resets the socket);
 *                       this bounds the wait when a whole host or link disappears.
 * SIZE accepts K/M suffixes (powers of 1024). Unknown keys are an error. */
#include "transport/tcp/tcp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tcp_parse_options(struct tcp_ctx *c, const pn_tp_config *cfg, char *err, size_t errlen)
{
	c->piece = TCP_PIECE_DEFAULT;
	c->window_bytes = TCP_WINDOW_BYTES_DEFAULT;
	c->window_pieces = TCP_WINDOW_PIECES_DEFAULT;
	c->peer_timeout_ms = TCP_PEER_TIMEOUT_DEFAULT;
	c->reads_in_flight = cfg->max_reads_in_flight ? cfg->max_reads_in_flight
						      : TCP_READS_IN_FLIGHT_DEFAULT;
	pn_kv_iter it = { cfg->options };
	char key[64], val[256];
	int rc;
	while ((rc = pn_kv_next(&it, key, sizeof(key), val, sizeof(val))) > 0) {
		uint64_t v;
		if (pn_kv_parse_size(val, &v) != 0) {
			snprintf(err, errlen, "tcp: option %s: '%s' is not a number", key, val);
			return -EINVAL;
		}
		if (strcmp(key, "piece") == 0 && v >= 4096 && v <= (16u << 20))
			c->piece = (uint32_t)v;
		else if (strcmp(key, "window") == 0 && v >= 4096 && v <= (1u << 30))
			c->window_bytes = (uint32_t)v;
		else if (strcmp(key, "window_pieces") == 0 && v >= 1 && v <= 4096)
			c->window_pieces = (uint32_t)v;
		else if (strcmp(key, "peer_timeout") == 0 && v <= 3600u * 1000u)
			c->peer_timeout_ms = (uint32_t)v;
		else {
			snprintf(err, errlen, "tcp: unknown option or value out of range: %s=%s", key, val);
			return -EINVAL;
		}
	}
	if (rc < 0) {
		snprintf(err, errlen, "tcp: malformed options '%s' (want key=value;...)", cfg->options);
		return -EINVAL;
	}
	return 0;
}
