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

static const struct pn_tp_option options[] = {
	PN_OPT_NUM("piece", struct tcp_ctx, piece, 4096, 16u << 20),
	PN_OPT_NUM("window", struct tcp_ctx, window_bytes, 4096, 1u << 30),
	PN_OPT_NUM("window_pieces", struct tcp_ctx, window_pieces, 1, 4096),
	PN_OPT_NUM("peer_timeout", struct tcp_ctx, peer_timeout_ms, 0, 3600u * 1000u),
	{ .key = NULL },
};

int tcp_parse_options(struct tcp_ctx *c, const pn_tp_config *cfg, char *err, size_t errlen)
{
	c->piece = TCP_PIECE_DEFAULT;
	c->window_bytes = TCP_WINDOW_BYTES_DEFAULT;
	c->window_pieces = TCP_WINDOW_PIECES_DEFAULT;
	c->peer_timeout_ms = TCP_PEER_TIMEOUT_DEFAULT;
	c->reads_in_flight = cfg->max_reads_in_flight ? cfg->max_reads_in_flight
						      : TCP_READS_IN_FLIGHT_DEFAULT;
	return pn_kv_apply(cfg->options, options, c, "tcp", err, errlen);
}
