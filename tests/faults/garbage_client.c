/* pn-fm-garbage: a hostile client for the fault matrix (tests/faults/fault_matrix.py).
 *
 *   pn-fm-garbage dpdk ADDR SECONDS OPTIONS   frames at ADDR (ip:udp) from a dpdk port
 *                                             opened with OPTIONS (a spare memif port)
 *   pn-fm-garbage verbs ADDR SECONDS          rdma_cm connections to ADDR (host:port)
 *
 * dpdk: random bytes, truncated frames, frames with our magic and random fields (every
 * type, random lengths, keys and offsets), HELLOs with random ids and nonces.
 * verbs: connection requests with random private data of random length, and random SENDs
 * on any connection the listener accepts.
 * It knows no job secret. Prints one summary line; exits 0 when it could send at all. */
#include "pennant_config.h"
#include "pennant/transport.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if PN_HAVE_DPDK
#include "transport/dpdk/dpdk_debug.h"
#include "transport/dpdk/frame.h"
#endif
#if PN_HAVE_VERBS
#include <infiniband/verbs.h>
#include <fcntl.h>
#include <netdb.h>
#include <rdma/rdma_cma.h>
#endif

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

#if PN_HAVE_DPDK
static int parse_ipv4(const char *s, uint32_t *ip, uint16_t *port)
{
	unsigned a, b, c, d, p;
	if (sscanf(s, "%u.%u.%u.%u:%u", &a, &b, &c, &d, &p) != 5 || a > 255 || b > 255 || c > 255 ||
	    d > 255 || p > 65535)
		return -1;
	*ip = a << 24 | b << 16 | c << 8 | d;
	*port = (uint16_t)p;
	return 0;
}

static int dpdk_garbage(const char *addr, double seconds, const char *options)
{
	uint32_t dst_ip;
	uint16_t dst_port;
	if (parse_ipv4(addr, &dst_ip, &dst_port)) {
		fprintf(stderr, "pn-fm-garbage: bad address '%s' (want ip:port)\n", addr);
		return 2;
	}
	static const char secret[] = "the garbage client knows no secret";
	pn_tp_config cfg = {.backend = "dpdk", .node_id = 4000, .secret = secret,
			    .secret_len = sizeof secret - 1, .options = options};
	char err[512];
	pn_tp_ctx *ctx = pn_tp_open(&cfg, err, sizeof err);
	if (!ctx) {
		fprintf(stderr, "pn-fm-garbage: %s\n", err);
		return 1;
	}
	struct pn_dp_addr a;
	if (pn_dp_debug_self_addr(ctx, &a)) {
		fprintf(stderr, "pn-fm-garbage: not a dpdk context\n");
		pn_tp_close(ctx);
		return 1;
	}
	memset(a.dst_mac, 0xff, sizeof a.dst_mac);
	a.dst_ip = dst_ip;
	a.dst_port = dst_port;
	uint8_t frame[2048];
	unsigned long sent = 0, kinds[4] = {0};
	double t_end = now_s() + seconds;
	while (now_s() < t_end) {
		unsigned kind = (unsigned)(rnd() % 4);
		size_t len;
		if (kind == 0) { /* random bytes */
			len = 14 + rnd() % 1400;
			fill_random(frame, len);
		} else { /* our headers with random fields; kind 1 truncated, 3 a HELLO */
			struct pn_dp_hdr h;
			fill_random((uint8_t *)&h, sizeof h);
			h.magic = PN_DP_MAGIC;
			h.version = PN_DP_VERSION;
			h.type = kind == 3 ? PN_DP_HELLO : (uint8_t)(1 + rnd() % 8);
			uint32_t pay = (uint32_t)(rnd() % 512);
			pn_dp_build(frame, &a, &h, pay);
			fill_random(frame + PN_DP_ALL_HDRS, pay);
			len = PN_DP_ALL_HDRS + pay;
			if (kind == 1)
				len = 14 + rnd() % (PN_DP_ALL_HDRS - 14);
		}
		if (pn_dp_debug_inject(ctx, frame, len) == 0) {
			sent++;
			kinds[kind]++;
		}
		usleep(500);
	}
	usleep(100000); /* let the service thread transmit what is queued */
	pn_tp_close(ctx);
	printf("%lu garbage frames (%lu random, %lu truncated, %lu random-field, %lu hello)\n", sent,
	       kinds[0], kinds[1], kinds[2], kinds[3]);
	return sent ? 0 : 1;
}
#endif

#if PN_HAVE_VERBS
/* Wait for one event of the expected kinds on the channel, with a timeout. */
static int cm_wait(struct rdma_event_channel *ch, int ms, enum rdma_cm_event_type *type)
{
	double t_end = now_s() + ms / 1e3;
	while (now_s() < t_end) {
		struct rdma_cm_event *ev;
		if (rdma_get_cm_event(ch, &ev) == 0) {
			*type = ev->event;
			rdma_ack_cm_event(ev);
			return 0;
		}
		usleep(1000);
	}
	return -1;
}

static int verbs_one(const char *host, const char *port, unsigned long *accepted, unsigned long *sends)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_cm_id *id = NULL;
	struct addrinfo *ai = NULL;
	int rc = -1;
	if (!ch)
		return -1;
	int flags = fcntl(ch->fd, F_GETFL);
	if (flags < 0 || fcntl(ch->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		goto out;
	if (rdma_create_id(ch, &id, NULL, RDMA_PS_TCP) || getaddrinfo(host, port, NULL, &ai))
		goto out;
	enum rdma_cm_event_type t;
	if (rdma_resolve_addr(id, NULL, ai->ai_addr, 2000) || cm_wait(ch, 3000, &t) ||
	    t != RDMA_CM_EVENT_ADDR_RESOLVED)
		goto out;
	if (rdma_resolve_route(id, 2000) || cm_wait(ch, 3000, &t) || t != RDMA_CM_EVENT_ROUTE_RESOLVED)
		goto out;
	struct ibv_qp_init_attr qa = {.cap = {.max_send_wr = 8, .max_recv_wr = 8, .max_send_sge = 1,
					      .max_recv_sge = 1},
				      .qp_type = IBV_QPT_RC, .sq_sig_all = 1};
	if (rdma_create_qp(id, NULL, &qa))
		goto out;
	uint8_t pd_bytes[56];
	fill_random(pd_bytes, sizeof pd_bytes);
	struct rdma_conn_param cp = {.private_data = pd_bytes,
				     .private_data_len = (uint8_t)(rnd() % (sizeof pd_bytes + 1)),
				     .responder_resources = 1, .initiator_depth = 1, .retry_count = 3,
				     .rnr_retry_count = 3};
	if (rdma_connect(id, &cp))
		goto out;
	rc = 0;
	if (cm_wait(ch, 3000, &t) == 0 && t == RDMA_CM_EVENT_ESTABLISHED) {
		(*accepted)++;
		static uint8_t junk[256];
		struct ibv_mr *mr = ibv_reg_mr(id->pd, junk, sizeof junk, IBV_ACCESS_LOCAL_WRITE);
		for (int i = 0; mr && i < 4; i++) {
			fill_random(junk, sizeof junk);
			struct ibv_sge sge = {.addr = (uintptr_t)junk, .length = (uint32_t)(1 + rnd() % sizeof junk),
					      .lkey = mr->lkey};
			struct ibv_send_wr wr = {.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
						 .send_flags = IBV_SEND_SIGNALED}, *bad;
			if (ibv_post_send(id->qp, &wr, &bad) == 0)
				(*sends)++;
		}
		usleep(200000);
		rdma_disconnect(id);
		cm_wait(ch, 1000, &t);
		if (mr)
			ibv_dereg_mr(mr);
	}
	rdma_destroy_qp(id);
out:
	if (ai)
		freeaddrinfo(ai);
	if (id)
		rdma_destroy_id(id);
	rdma_destroy_event_channel(ch);
	return rc;
}

static int verbs_garbage(const char *addr, double seconds)
{
	char host[256], port[32];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof host || strlen(colon + 1) >= sizeof port) {
		fprintf(stderr, "pn-fm-garbage: bad address '%s' (want host:port)\n", addr);
		return 2;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	snprintf(port, sizeof port, "%s", colon + 1);
	unsigned long tries = 0, ok = 0, accepted = 0, sends = 0;
	double t_end = now_s() + seconds;
	while (now_s() < t_end) {
		tries++;
		ok += verbs_one(host, port, &accepted, &sends) == 0;
		usleep(20000);
	}
	printf("%lu garbage connection requests (%lu sent, %lu established, %lu random sends)\n", tries, ok,
	       accepted, sends);
	return ok ? 0 : 1;
}
#endif

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "dpdk") == 0 && argc == 5) {
#if PN_HAVE_DPDK
		return dpdk_garbage(argv[2], atof(argv[3]), argv[4]);
#endif
	} else if (argc == 4 && strcmp(argv[1], "verbs") == 0) {
#if PN_HAVE_VERBS
		return verbs_garbage(argv[2], atof(argv[3]));
#endif
	}
	fprintf(stderr, "usage: pn-fm-garbage dpdk ADDR SECONDS OPTIONS | verbs ADDR SECONDS\n"
			"(this build has: %s)\n", pn_tp_backends_available());
	return 2;
}
