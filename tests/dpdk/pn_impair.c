/* pn-impair: a tiny netem stand-in for kernels without sch_netem (like this CI host).
 * Relays Ethernet frames between two interfaces with AF_PACKET sockets and, per frame and
 * direction, drops (loss), sends twice (duplication) or holds it back until the next frame
 * has passed (reordering), decided by a seeded PRNG. Runs until SIGTERM/SIGINT, then prints
 * what it did. Used by scripts/dpdk-test-env inside a middle network namespace. */
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

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static uint64_t rng_state;
static double uniform(void) /* xorshift64*, in [0, 1) */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

struct side {
	const char *name;
	int fd;
	uint8_t held[FRAME_MAX]; /* a frame held back for reordering, toward this side */
	ssize_t held_len;
	unsigned long fwd, lost, dup, reord;
};

static int open_side(const char *ifname)
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

static void out(struct side *to, const uint8_t *f, ssize_t len)
{
	while (send(to->fd, f, (size_t)len, 0) < 0 && errno == ENOBUFS)
		usleep(50); /* tx queue full: wait rather than add loss we did not ask for */
}

int main(int argc, char **argv)
{
	const char *a = NULL, *b = NULL;
	double loss = 0, dup = 0, reorder = 0;
	rng_state = 0x9e3779b97f4a7c15ull;
	static const struct option lo[] = {{"a", 1, 0, 'a'}, {"b", 1, 0, 'b'}, {"loss", 1, 0, 'l'},
					   {"dup", 1, 0, 'd'}, {"reorder", 1, 0, 'r'}, {"seed", 1, 0, 's'}, {0, 0, 0, 0}};
	for (int ch; (ch = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
		switch (ch) {
		case 'a': a = optarg; break;
		case 'b': b = optarg; break;
		case 'l': loss = atof(optarg) / 100; break;
		case 'd': dup = atof(optarg) / 100; break;
		case 'r': reorder = atof(optarg) / 100; break;
		case 's': rng_state = strtoull(optarg, NULL, 0) | 1; break;
		default:
			fprintf(stderr, "usage: pn-impair --a IF --b IF [--loss %%] [--dup %%] [--reorder %%] [--seed N]\n");
			return 2;
		}
	}
	if (!a || !b) {
		fprintf(stderr, "pn-impair: --a and --b are required\n");
		return 2;
	}
	struct side s[2] = {{.name = a}, {.name = b}};
	for (int i = 0; i < 2; i++)
		if ((s[i].fd = open_side(s[i].name)) < 0) {
			fprintf(stderr, "pn-impair: cannot open %s: %s\n", s[i].name, strerror(errno));
			return 1;
		}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	struct pollfd pf[2] = {{.fd = s[0].fd, .events = POLLIN}, {.fd = s[1].fd, .events = POLLIN}};
	static uint8_t f[FRAME_MAX];
	while (!stop) {
		int n = poll(pf, 2, 2);
		if (n <= 0) { /* idle: release held frames so nothing waits forever */
			for (int i = 0; i < 2; i++)
				if (s[i].held_len) {
					out(&s[i], s[i].held, s[i].held_len);
					s[i].held_len = 0;
				}
			continue;
		}
		for (int i = 0; i < 2; i++) {
			if (!(pf[i].revents & POLLIN))
				continue;
			struct side *to = &s[1 - i];
			ssize_t len = recv(s[i].fd, f, sizeof f, MSG_DONTWAIT);
			if (len <= 0)
				continue;
			if (uniform() < loss) {
				to->lost++;
				continue;
			}
			if (!to->held_len && uniform() < reorder) {
				memcpy(to->held, f, (size_t)len);
				to->held_len = len;
				to->reord++;
				continue;
			}
			out(to, f, len);
			to->fwd++;
			if (uniform() < dup) {
				out(to, f, len);
				to->dup++;
			}
			if (to->held_len) { /* the held frame goes after this one: reordered */
				out(to, to->held, to->held_len);
				to->held_len = 0;
				to->fwd++;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		fprintf(stderr, "pn-impair: toward %s: forwarded %lu, lost %lu, duplicated %lu, reordered %lu\n",
			s[i].name, s[i].fwd, s[i].lost, s[i].dup, s[i].reord);
	return 0;
}
