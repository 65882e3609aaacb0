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
 * while the service thread bursts; the PMD's handlers cannot run meanwhile. Every 50 ms,
 * and at every nap while some memif port is not connected (a handshake may be under
 * way), it lets the alarm return: the interrupt thread then handles whatever control
 * events are pending (connects, disconnects) while no burst is in progress, and the
 * re-armed alarm parks it again. Hand-overs are rare because each one waits for the
 * interrupt thread to be scheduled, which on a busy shared CPU can take milliseconds.
 * A peer's death is thus handled at most one slice later. Ports are also closed with the
 * interrupt thread parked (eal.c). Only used when a port's driver is net_memif. */
#include "dp.h"

#include <errno.h>
#include <time.h>

#include <rte_alarm.h>

#define GATE_REARM_US 50          /* pending PMD events run before we park again */
#define GATE_SLICE_NS 50000000ull /* hand the interrupt thread back at least this often */

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

void dp_gate_maybe_release(struct dp_gate *g, uint64_t now)
{
	if (g->held && now - g->held_since_ns >= GATE_SLICE_NS)
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

/* Retiring the interrupt thread before rte_eal_cleanup().
 *
 * Why: net_memif's server leaves its listening socket registered with the interrupt
 * thread when the port is closed (memif_socket_remove_device frees the handle but never
 * unregisters the callback), and EAL's copy of that handle lives in DPDK memory.
 * rte_eal_cleanup() unmaps DPDK memory while the interrupt thread keeps running; the
 * next time it wakes (EAL's own alarm cleanup wakes it to rebuild its epoll set, or any
 * socket event) it reads the dangling handle and the process dies with SIGSEGV in
 * rte_intr_fd_get() on "eal-intr-thread" (DPDK 22.11; seen in 2 of 20 kill trials, at
 * the end of the job).
 *
 * How: EAL cannot be used again in this process after cleanup, so the interrupt thread
 * has nothing left to do: we make it enter a callback of ours (an eventfd source whose
 * handle is in ordinary memory) that never returns, and wait until it is there. */
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_interrupts.h>

static pthread_mutex_t retire_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t retire_cv = PTHREAD_COND_INITIALIZER;
static bool retired;

static void retire_cb(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&retire_mu);
	retired = true;
	pthread_cond_broadcast(&retire_cv);
	for (;;) /* until the process exits */
		pthread_cond_wait(&retire_cv, &retire_mu);
}

bool dp_intr_thread_retire(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct rte_intr_handle *h = fd >= 0 ? rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE) : NULL;
	if (!h || rte_intr_fd_set(h, fd) || rte_intr_type_set(h, RTE_INTR_HANDLE_EXT) ||
	    rte_intr_callback_register(h, retire_cb, NULL)) {
		rte_intr_instance_free(h);
		if (fd >= 0)
			close(fd);
		return false;
	}
	uint64_t one = 1;
	if (write(fd, &one, sizeof one) != sizeof one)
		return false;
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	pthread_mutex_lock(&retire_mu);
	while (!retired)
		if (pthread_cond_timedwait(&retire_cv, &retire_mu, &dl) == ETIMEDOUT)
			break;
	bool ok = retired;
	pthread_mutex_unlock(&retire_mu);
	/* h and fd stay: the thread sits in their callback for the rest of the process */
	return ok;
}
