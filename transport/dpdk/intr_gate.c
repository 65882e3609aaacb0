/* Mutual exclusion between our bursts and the PMD's control path on the EAL interrupt
 * thread.
 *
 * Why: net_memif handles its control channel on the EAL interrupt thread. When the peer
 * process vanishes (kill -9), that thread runs memif_disconnect(): it clears the
 * CONNECTED flag, then munmaps the shared regions and rte_free()s their descriptors,
 * without any synchronisation with the data path. A burst that passed the flag check a
 * moment earlier then reads a ring or a buffer that is gone, and the process dies
 * (DPDK 22.11; seen as 1 crash in ~10 kills of a worker). Watching the link status
 * cannot help: the status flips in the same instant the teardown starts.
 *
 * How: the interrupt thread runs its callbacks one at a time, alarms included. We keep an
 * alarm of ours parked on that thread (blocked on a condition variable, no CPU used)
 * while the service thread bursts; the PMD's handlers cannot run meanwhile. When one of
 * the process's unix sockets (memif's control channels and listeners) has something to
 * read, at each idle nap while some memif port is not connected (a handshake may be
 * under way), and once a second regardless, it lets the alarm return: the interrupt
 * thread then handles the pending control events (connects, disconnects) while no burst
 * is in progress, and the re-armed alarm parks it again. A peer's death is thus handled
 * within about 0.2 ms plus a hand-over. Ports are also closed with the interrupt thread
 * parked (eal.c). Only used when a port's driver is net_memif. */
#include "dp.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <rte_alarm.h>

#define GATE_REARM_US 50          /* pending PMD events run before we park again */
#define GATE_SLICE_NS 1000000000ull /* hand the interrupt thread back at least this often */
#define GATE_POLL_NS 200000ull      /* look for PMD work this often */
#define GATE_RESCAN_NS 1000000000ull /* list the process's unix sockets again */

static void gate_alarm(void *arg)
{
	struct dp_gate *g = arg;
	pthread_mutex_lock(&g->mu);
	g->parked = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->release && !g->closing)
		pthread_cond_wait(&g->cv, &g->mu);
	g->parked = false;
	g->release = false;
	bool again = !g->closing;
	pthread_mutex_unlock(&g->mu);
	if (again && rte_eal_alarm_set(GATE_REARM_US, gate_alarm, g)) {
		pthread_mutex_lock(&g->mu);
		g->broken = true; /* the service thread stops polling memif ports (fail safe) */
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
	}
}

int dp_gate_init(struct dp_gate *g, bool enabled)
{
	g->enabled = enabled;
	if (!enabled)
		return 0;
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &ca);
	pthread_condattr_destroy(&ca);
	g->initialised = true;
	if (rte_eal_alarm_set(GATE_REARM_US, gate_alarm, g))
		return -ENODEV;
	g->armed = true;
	return 0;
}

bool dp_gate_acquire(struct dp_gate *g, uint64_t now)
{
	if (!g->enabled || g->held)
		return !g->broken;
	if (!g->initialised)
		return false;
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_nsec += 20000000; /* 20 ms, then the caller checks whether to stop */
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&g->mu);
	while (!(g->parked && !g->release) && !g->broken)
		if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT)
			break;
	g->held = g->parked && !g->release && !g->broken;
	pthread_mutex_unlock(&g->mu);
	g->held_since_ns = now;
	return g->held;
}

void dp_gate_release(struct dp_gate *g)
{
	if (!g->enabled || !g->held)
		return;
	pthread_mutex_lock(&g->mu);
	g->release = true;
	g->held = false;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* The PMD's control channels (and memif's listening sockets) are the unix-domain sockets
 * of this process: list them, so the service thread can see when the interrupt thread
 * has work. A socket of someone else's only costs an extra hand-over now and then. */
static void scan_unix_sockets(struct dp_gate *g)
{
	g->nwatch = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		g->nwatch = -1; /* cannot tell: hand over on the slice timer only */
		return;
	}
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end || fd < 0 || fd == dirfd(d))
			continue;
		struct stat st;
		int dom = 0;
		socklen_t len = sizeof dom;
		if (fstat((int)fd, &st) || !S_ISSOCK(st.st_mode) ||
		    getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) || dom != AF_UNIX)
			continue;
		if (g->nwatch == DP_GATE_MAX_FDS) {
			g->nwatch = -1;
			break;
		}
		g->watch[g->nwatch++] = (struct pollfd){.fd = (int)fd, .events = POLLIN};
	}
	closedir(d);
}

static bool pmd_has_work(struct dp_gate *g)
{
	if (g->nwatch <= 0)
		return false;
	return poll(g->watch, (nfds_t)g->nwatch, 0) > 0;
}

/* Hand the interrupt thread over when the PMD has something to handle (a control
 * message, a peer gone, a connection to accept), at most every GATE_POLL_NS; and
 * every GATE_SLICE_NS regardless. In steady state there is no hand-over at all: each one
 * waits for the interrupt thread to be scheduled, which on a busy shared CPU can stall
 * the data path for milliseconds. */
void dp_gate_maybe_release(struct dp_gate *g, uint64_t now)
{
	if (!g->held)
		return;
	if (g->rescan || now >= g->next_scan_ns) {
		scan_unix_sockets(g);
		g->rescan = false;
		g->next_scan_ns = now + GATE_RESCAN_NS;
	}
	if (now - g->held_since_ns >= GATE_SLICE_NS ||
	    (now - g->held_since_ns >= GATE_POLL_NS && pmd_has_work(g)))
		dp_gate_release(g);
}

void dp_gate_close(struct dp_gate *g)
{
	if (!g->initialised)
		return;
	dp_gate_release(g);
	pthread_mutex_lock(&g->mu);
	g->closing = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	/* waits while the callback is still executing on the interrupt thread */
	if (g->armed)
		rte_eal_alarm_cancel(gate_alarm, g);
	g->armed = false;
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	g->initialised = false;
}
