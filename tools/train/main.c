/* pennant-train: the Fashion-MNIST training job.
 *
 *   pennant-train                       aggregator + 15 local workers (3 attack), flag rule
 *   pennant-train --reference           the same model trained in one process
 *   pennant-train --role aggregator …   one role of a multi-host job; rank and size also
 *   pennant-train --role worker …       come from mpirun / srun / PMIx environments
 *   mpirun -np 9 pennant-train …        rank 0 aggregates, 8 workers find it (bootstrap.c)
 *
 * One binary; installed links pennant-aggregator and pennant-worker pick the role by name.
 * options.c parses and checks everything first (launch.c: roles from a launcher;
 * bootstrap.c: how workers learn the aggregator's address), topology.c says where each process
 * attaches, roles.c runs a role, report.c writes the lines and the JSON record. */
#include "bootstrap.h"
#include "options.h"
#include "roles.h"
#include "topology.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;

/* First SIGINT/SIGTERM: ask the job to stop cleanly (the aggregator abandons the round,
 * the model is saved and the JSON completed). A second one: die at once. */
static void on_stop_signal(int sig)
{
	if (stop_signal) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	stop_signal = sig;
	static const char msg[] = "\npennant: stopping: abandoning the round, saving, stopping the "
				  "workers (signal again to kill at once)\n";
	ssize_t ignored = write(2, msg, sizeof msg - 1);
	(void)ignored;
}

/* SA_RESTART: plain reads and writes (data files, pipes) resume; the job's poll loops
 * return on the signal anyway and look at the flag. */
static void install_stop_handlers(void)
{
	struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
	train_opts o;
	int rc = train_options(argc, argv, &o);
	if (rc >= 0) {
		train_options_free(&o);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	if (o.role != TRAIN_WORKER)
		install_stop_handlers();
	/* the address exchange before anything opens a transport (DPDK's EAL) */
	if ((rc = train_bootstrap_start(&o, &stop_signal)) >= 0) {
		train_options_free(&o);
		return rc;
	}
	if (o.role != TRAIN_REFERENCE && !o.check_only && (rc = topology_prepare(&o)) >= 0) {
		train_options_free(&o);
		return rc;
	}
	fmnist_job job = {0};
	char err[512];
	/* (with --dim the aggregator serves the gradients of a model it does not know: no data) */
	if (!o.dim && fmnist_job_init(&job, o.data, o.model, o.n, o.batch, o.seed, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", o.prog, err);
		topology_cleanup(&o);
		train_options_free(&o);
		return 2; /* a bad --model or --data: a configuration error, nothing forked */
	}
	if (o.check_only)
		fprintf(stderr, "%s: configuration ok: %s, %d workers, rule %s (f=%d), code %s (s=%d, m=%d), "
			"backend %s, secret %s\n", o.prog, train_role_name(o.role), o.n, o.rule, o.f, o.code, o.s,
			o.comm_dim, o.backend, o.secret.len ? o.secret.source : "none (loopback only)");
	if (o.check_only)
		rc = 0;
	else if (stop_signal)
		rc = 128 + stop_signal;
	else if (o.role == TRAIN_REFERENCE)
		rc = train_run_reference(&o, &job, &stop_signal);
	else if (o.node_index >= 0) /* a tree's node under mpirun (tree_mpi.c) */
		rc = train_run_node(&o, &job);
	else if (o.role == TRAIN_WORKER)
		rc = train_run_worker(&o, &job, -1);
	else
		rc = train_run_aggregator(&o, &job, &stop_signal);
	fmnist_job_free(&job);
	topology_cleanup(&o);
	train_options_free(&o);
	return rc;
}
