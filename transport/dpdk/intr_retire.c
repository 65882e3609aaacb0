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

#include "dp.h"

#include <errno.h>
#include <time.h>
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
