/* The address exchange of a split job (see bootstrap.h). */
#include "bootstrap.h"

#include "mpi_boot.h"
#include "pennant/rendezvous.h"

#include <stdlib.h>
#include <string.h>

static const char *const source_names[] = {
	[TRAIN_ADDR_NONE] = "none", [TRAIN_ADDR_FLAG] = "the command line",
	[TRAIN_ADDR_ENV] = PN_RENDEZVOUS_ENV, [TRAIN_ADDR_FILE] = "the rendezvous file",
	[TRAIN_ADDR_MPI] = "MPI",
};

const char *train_addr_source_name(train_addr_source s)
{
	return source_names[s];
}

int train_bootstrap_choose(train_opts *o)
{
	if (o->role != TRAIN_AGGREGATOR && o->role != TRAIN_WORKER) {
		if (o->rendezvous)
			return train_refuse(o, "--rendezvous is for a split job (launched by mpirun/srun, or "
					 "--role aggregator / worker); a %s run has no workers to tell",
				      train_role_name(o->role));
		o->addr_source = TRAIN_ADDR_NONE;
		return -1;
	}
	char err[512];
	int env = pn_rendezvous_from_env(o->addr_buf, sizeof o->addr_buf, err, sizeof err);
	if (env < 0)
		return train_refuse(o, "%s", err);
	o->job_id_from = pn_rendezvous_job_id(o->job_id, sizeof o->job_id);
	/* The same choice on every process of the job: it reads only what they all share. */
	/* (srun: a file or the environment, as its tasks need no MPI; but a sharded job's K
	 * addresses travel only by MPI, which srun --mpi=pmix starts) */
	bool mpi_launch = o->launcher && (strcmp(o->launcher, "srun") != 0 || o->shards > 1);
	if (o->connect)
		o->addr_source = TRAIN_ADDR_FLAG;
	else if (env)
		o->addr_source = TRAIN_ADDR_ENV;
	else if (o->rendezvous)
		o->addr_source = TRAIN_ADDR_FILE;
	else if (mpi_launch && train_mpi_built())
		o->addr_source = TRAIN_ADDR_MPI;
	else
		o->addr_source = TRAIN_ADDR_FLAG;

	if (o->role == TRAIN_WORKER) {
		if (o->addr_source == TRAIN_ADDR_ENV)
			o->connect = o->addr_buf;
		if (o->addr_source == TRAIN_ADDR_FLAG && !o->connect)
			return train_refuse(o, "worker %d needs --connect ADDR to find its aggregator (or %s=ADDR on "
					 "every process, or --rendezvous FILE on a shared filesystem)%s",
				      o->rank, PN_RENDEZVOUS_ENV,
				      !mpi_launch ? ""
				      : train_mpi_built() ? ""
							  : " (under mpirun, a pennant-train built with MPI "
							    "finds it by itself; this one has no MPI)");
		return -1;
	}
	/* The aggregator's default address. With a rendezvous carrying the bound address, every
	 * interface and a port the system picks, advertised under this host's name (the
	 * workers resolve it); --listen HOST:PORT pins an interface (e.g. a fast network's). */
	if (!o->listen)
		o->listen = o->addr_source == TRAIN_ADDR_ENV ? o->addr_buf
			    : o->addr_source == TRAIN_ADDR_FILE || o->addr_source == TRAIN_ADDR_MPI ? "0.0.0.0:0"
			    : "0.0.0.0:7470";
	return -1;
}

/* MPI, K shards: shard k's address comes from launcher rank k once it listens, in order
 * k = 0, 1, ... (each a collective every rank joins). Shard k > 0 takes shards 0..k-1's
 * before it starts (it joins shard 0; the later ones it hears in train_bootstrap_listening),
 * a worker takes all K ("a0,a1,..."). o->bcasts counts the broadcasts this rank joined. */
static int mpi_shard_addresses(train_opts *o)
{
	int upto = o->role == TRAIN_WORKER ? o->shards : o->shard_index;
	if (o->role == TRAIN_WORKER && !(o->shard_addrs = calloc((size_t)o->shards, 256)))
		return train_refuse(o, "out of memory");
	for (; o->bcasts < upto; o->bcasts++) {
		char buf[256] = {0}, err[512];
		if (train_mpi_bcast_from(o->bcasts, buf, (int)sizeof buf, err, sizeof err)) {
			fprintf(stderr, "%s: %s\n", o->prog, err);
			return 1;
		}
		buf[sizeof buf - 1] = 0;
		if (!buf[0]) {
			fprintf(stderr, "%s: aggregator shard %d (MPI rank %d) stopped before it listened: see "
					"its messages\n", o->prog, o->bcasts, o->bcasts);
			return 1;
		}
		if (o->bcasts == 0)
			snprintf(o->shard0, sizeof o->shard0, "%s", buf);
		if (o->shard_addrs)
			snprintf(o->shard_addrs + strlen(o->shard_addrs), 256 * (size_t)o->shards - strlen(o->shard_addrs),
				 "%s%s", o->bcasts ? "," : "", buf);
	}
	if (o->role == TRAIN_WORKER)
		o->connect = o->shard_addrs;
	return -1;
}

/* The broadcasts from roots o->bcasts .. o->shards-1 this rank still owes the others: its
 * own (`mine`, "" when it never listened) and the later shards' (heard, unused). */
static void mpi_owed_broadcasts(train_opts *o, const char *mine)
{
	int K = o->shards > 1 ? o->shards : 1;
	for (; o->bcasts < K; o->bcasts++) {
		char buf[sizeof o->addr_buf] = {0}, err[512];
		if (o->bcasts == o->shard_index)
			snprintf(buf, sizeof buf, "%s", mine);
		if (train_mpi_bcast_from(o->bcasts, buf, (int)sizeof buf, err, sizeof err)) {
			fprintf(stderr, "%s: %s\n", o->prog, err);
			o->bcasts = K;
			return;
		}
	}
}

int train_bootstrap_start(train_opts *o, const volatile sig_atomic_t *stop)
{
	char err[1024];
	if (o->check_only || (o->addr_source != TRAIN_ADDR_MPI && o->addr_source != TRAIN_ADDR_FILE))
		return -1;
	if (o->addr_source == TRAIN_ADDR_MPI) {
		if (train_mpi_init(err, sizeof err))
			return train_refuse(o, "%s", err);
		if (train_mpi_size() != o->launch_size || train_mpi_rank() != o->launch_rank)
			return train_refuse(o, "MPI says rank %d of %d, %s said %d of %d", train_mpi_rank(),
				      train_mpi_size(), o->launcher, o->launch_rank, o->launch_size);
	}
	if (o->addr_source == TRAIN_ADDR_MPI && o->shards > 1)
		return mpi_shard_addresses(o);
	if (o->tree && o->launcher)
		return o->addr_source == TRAIN_ADDR_MPI
			       ? train_tree_mpi_start(o)
			       : train_refuse(o, "--tree under %s needs MPI for its addresses (a pennant-train "
					      "built with MPI, no --connect/--rendezvous/%s)", o->launcher,
					      PN_RENDEZVOUS_ENV);
	if (o->role != TRAIN_WORKER)
		return -1;
	if (o->addr_source == TRAIN_ADDR_FILE) {
		int rc = pn_rendezvous_file_lookup(o->rendezvous, o->job_id, o->t_start,
						   o->rendezvous_timeout_s * 1000, stop, o->addr_buf,
						   sizeof o->addr_buf, err, sizeof err);
		if (rc) {
			fprintf(stderr, "%s: worker %d: %s%s%s\n", o->prog, o->rank, err,
				o->job_id_from ? "; job id from " : "", o->job_id_from ? o->job_id_from : "");
			return 1;
		}
	} else {
		/* blocks until rank 0 listens (or tells that it never will) */
		memset(o->addr_buf, 0, sizeof o->addr_buf);
		if (train_mpi_bcast(o->addr_buf, (int)sizeof o->addr_buf, err, sizeof err)) {
			fprintf(stderr, "%s: worker %d: %s\n", o->prog, o->rank, err);
			return 1;
		}
		o->addr_buf[sizeof o->addr_buf - 1] = 0;
		if (!o->addr_buf[0]) {
			fprintf(stderr, "%s: worker %d: the aggregator (MPI rank 0) stopped before it "
					"listened: see its messages\n", o->prog, o->rank);
			return 1;
		}
	}
	o->connect = o->addr_buf;
	return -1;
}

void train_bootstrap_listening(void *ctx, const char *bound)
{
	train_opts *o = ctx;
	if (o->addr_source != TRAIN_ADDR_FILE && o->addr_source != TRAIN_ADDR_MPI)
		return;
	char addr[PN_RENDEZVOUS_ADDR_MAX] = "", err[1024];
	if (pn_rendezvous_advertised(bound, addr, sizeof addr, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", o->prog, err);
		addr[0] = 0;
	}
	if (o->addr_source == TRAIN_ADDR_FILE && addr[0]) {
		if (pn_rendezvous_file_publish(o->rendezvous, o->job_id, addr, err, sizeof err))
			fprintf(stderr, "%s: %s\n", o->prog, err);
		else
			snprintf(o->published, sizeof o->published, "%s", addr);
	}
	if (o->addr_source == TRAIN_ADDR_MPI) {
		mpi_owed_broadcasts(o, addr); /* ours, then the later shards' */
		snprintf(o->published, sizeof o->published, "%s", addr);
		o->told = true;
	}
	if (o->published[0])
		fprintf(stderr, "%s: workers told to join %s (through %s%s%s%s%s)\n", o->prog, o->published,
			train_addr_source_name(o->addr_source), o->addr_source == TRAIN_ADDR_FILE ? " " : "",
			o->addr_source == TRAIN_ADDR_FILE ? o->rendezvous : "",
			o->addr_source == TRAIN_ADDR_FILE ? ", job " : "",
			o->addr_source != TRAIN_ADDR_FILE ? "" : o->job_id[0] ? o->job_id : "- (none in the environment)");
}

void train_bootstrap_end(train_opts *o)
{
	if (o->role == TRAIN_AGGREGATOR && o->addr_source == TRAIN_ADDR_MPI && !o->told &&
	    train_mpi_started() && !o->check_only) {
		o->told = true;
		mpi_owed_broadcasts(o, ""); /* "never listened", so no rank waits for us */
	}
	train_tree_mpi_end(o);
	free(o->shard_addrs);
	o->shard_addrs = NULL;
	if (o->addr_source == TRAIN_ADDR_FILE && o->role == TRAIN_AGGREGATOR && o->published[0]) {
		pn_rendezvous_file_remove(o->rendezvous, o->job_id, o->published);
		o->published[0] = 0;
	}
	train_mpi_finalize();
}
