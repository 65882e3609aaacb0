/* pn-impair: a tiny netem stand-in for kernels without sch_netem (like this CI host).
 * A learning switch among N interfaces (AF_PACKET sockets, N >= 2): the source MAC of a
 * frame teaches which port it lives behind; a frame for a known MAC goes out of that port
 * only, one for an unknown, broadcast or multicast MAC is flooded to every other port (as
 * the kernel bridge does). With two ports (--a/--b, as scripts/dpdk-test-env's afpacket
 * mode uses it) that is the plain relay between them. Per frame and egress port a seeded
 * PRNG drops it (loss), sends it twice (duplication) or holds it back until the next frame
 * toward that port has passed (reordering): the impairment netem on each bridge port would
 * give. Runs until SIGTERM/SIGINT, then prints per port what it did; with --stats FILE,
 * SIGUSR1 writes the same lines to FILE (atomically, by rename) while it runs, so a test
 * can check that its traffic really met loss. Used by scripts/dpdk-test-env inside a
 * middle network namespace. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FRAME_MAX 9216
#define PORTS_MAX 256
#define MACS_MAX 1024
#define BURST 32 /* frames taken from one port before the next is served: fairness */

static volatile sig_atomic_t stop, dump;
static void on_signal(int s) { (void)s; stop = 1; }
static void on_usr1(int s) { (void)s; dump = 1; }

static uint64_t rng_state;
static double uniform(void) /* xorshift64*, in [0, 1) */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

struct port {
	const char *name;
	int fd;
	uint8_t held[FRAME_MAX]; /* a frame held back for reordering, toward this port */
	ssize_t held_len;
	unsigned long fwd, lost, dup, reord;
};

/* The forwarding table: MAC -> port, learned from source addresses. A few dozen
 * entries in the tests, so a linear search; a moved MAC is re-learned. */
static struct {
	uint8_t mac[6];
	int port;
} macs[MACS_MAX];
static int nmacs;

static void learn(const uint8_t *src, int port)
{
	if (src[0] & 1) /* a multicast source is not an address */
		return;
	for (int i = 0; i < nmacs; i++)
		if (memcmp(macs[i].mac, src, 6) == 0) {
			macs[i].port = port;
			return;
		}
	if (nmacs < MACS_MAX) {
		memcpy(macs[nmacs].mac, src, 6);
		macs[nmacs++].port = port;
	}
}

static int lookup(const uint8_t *dst) /* -1: flood */
{
	if (dst[0] & 1)
		return -1;
	for (int i = 0; i < nmacs; i++)
		if (memcmp(macs[i].mac, dst, 6) == 0)
			return macs[i].port;
	return -1;
}

static int open_port(const char *ifname)
{
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0)
		return -1;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = (int)if_nametoindex(ifname)};
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof sll))
		return -1;
	int one = 1, big = 8 << 20;
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one); /* not our own sends */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	struct packet_mreq mr = {.mr_ifindex = sll.sll_ifindex, .mr_type = PACKET_MR_PROMISC};
	setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr);
	return fd;
}

static void out(struct port *to, const uint8_t *f, ssize_t len)
{
	while (send(to->fd, f, (size_t)len, 0) < 0 && errno == ENOBUFS)
		usleep(50); /* tx queue full: wait rather than add loss we did not ask for */
}

static double loss, dup_rate, reorder; /* probabilities, from the percentages given */

/* One frame toward one port, impaired there. */
static void egress(struct port *to, const uint8_t *f, ssize_t len)
{
	if (uniform() < loss) {
		to->lost++;
		return;
	}
	if (!to->held_len && uniform() < reorder) {
		memcpy(to->held, f, (size_t)len);
		to->held_len = len;
		to->reord++;
		return;
	}
	out(to, f, len);
	to->fwd++;
	if (uniform() < dup_rate) {
		out(to, f, len);
		to->dup++;
	}
	if (to->held_len) { /* the held frame goes after this one: reordered */
		out(to, to->held, to->held_len);
		to->held_len = 0;
		to->fwd++;
	}
}

static void report(FILE *to, const struct port *p, int np)
{
	for (int i = 0; i < np; i++)
		fprintf(to, "pn-impair: toward %s: forwarded %lu, lost %lu, duplicated %lu, reordered %lu\n",
			p[i].name, p[i].fwd, p[i].lost, p[i].dup, p[i].reord);
}

static void dump_stats(const char *path, const struct port *p, int np)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "pn-impair: cannot write %s: %s\n", tmp, strerror(errno));
		return;
	}
	report(f, p, np);
	if (fclose(f) || rename(tmp, path))
		fprintf(stderr, "pn-impair: cannot write %s: %s\n", path, strerror(errno));
}

static void usage(void)
{
	fprintf(stderr, "usage: pn-impair (--a IF --b IF | --port IF --port IF [--port IF ...]) [--loss %%] "
			"[--dup %%] [--reorder %%] [--seed N] [--stats FILE]\n");
}

int main(int argc, char **argv)
{
	static struct port p[PORTS_MAX];
	int np = 0;
	const char *a = NULL, *b = NULL, *stats = NULL;
	rng_state = 0x9e3779b97f4a7c15ull;
	static const struct option lo[] = {{"a", 1, 0, 'a'}, {"b", 1, 0, 'b'}, {"port", 1, 0, 'p'},
					   {"loss", 1, 0, 'l'}, {"dup", 1, 0, 'd'}, {"reorder", 1, 0, 'r'},
					   {"seed", 1, 0, 's'}, {"stats", 1, 0, 'S'}, {0, 0, 0, 0}};
	for (int ch; (ch = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
		switch (ch) {
		case 'a': a = optarg; break;
		case 'b': b = optarg; break;
		case 'p':
			if (np == PORTS_MAX) {
				fprintf(stderr, "pn-impair: at most %d ports\n", PORTS_MAX);
				return 2;
			}
			p[np++].name = optarg;
			break;
		case 'l': loss = atof(optarg) / 100; break;
		case 'd': dup_rate = atof(optarg) / 100; break;
		case 'r': reorder = atof(optarg) / 100; break;
		case 's': rng_state = strtoull(optarg, NULL, 0) | 1; break;
		case 'S': stats = optarg; break;
		default: usage(); return 2;
		}
	}
	if ((a || b) && (!a || !b || np)) {
		fprintf(stderr, "pn-impair: --a and --b go together, without --port\n");
		return 2;
	}
	if (a) {
		p[np++].name = a;
		p[np++].name = b;
	}
	if (np < 2) {
		usage();
		return 2;
	}
	static struct pollfd pf[PORTS_MAX];
	for (int i = 0; i < np; i++) {
		if ((p[i].fd = open_port(p[i].name)) < 0) {
			fprintf(stderr, "pn-impair: cannot open %s: %s\n", p[i].name, strerror(errno));
			return 1;
		}
		pf[i] = (struct pollfd){.fd = p[i].fd, .events = POLLIN};
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGUSR1, on_usr1);
	static uint8_t f[FRAME_MAX];
	while (!stop) {
		if (dump) {
			dump = 0;
			if (stats)
				dump_stats(stats, p, np);
		}
		int n = poll(pf, (nfds_t)np, 2);
		if (n <= 0) { /* idle: release held frames so nothing waits forever */
			for (int i = 0; i < np; i++)
				if (p[i].held_len) {
					out(&p[i], p[i].held, p[i].held_len);
					p[i].held_len = 0;
				}
			continue;
		}
		for (int i = 0; i < np; i++) {
			if (!(pf[i].revents & POLLIN))
				continue;
			for (int k = 0; k < BURST; k++) {
				ssize_t len = recv(p[i].fd, f, sizeof f, MSG_DONTWAIT);
				if (len < ETH_HLEN)
					break;
				learn(f + 6, i);
				int to = lookup(f);
				if (to == i) /* both ends behind the same port: a switch filters it */
					continue;
				if (to >= 0) {
					egress(&p[to], f, len);
					continue;
				}
				for (int j = 0; j < np; j++)
					if (j != i)
						egress(&p[j], f, len);
			}
		}
	}
	report(stderr, p, np);
	return 0;
}
