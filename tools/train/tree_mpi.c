/* A tree under mpirun (launch.c's layout: rank 0 the root, 1..n/G the nodes, the rest the
 * workers). MPI carries addresses only: the root's to every rank (the world broadcast of
 * an unsharded job), then each node's to its own G workers (a broadcast in its group,
 * an MPI_Comm_split of the world by node, the root in none). */
#include "bootstrap.h"
#include "mpi_boot.h"
#include "roles.h"
#include "pennant/rendezvous.h"

#include <string.h>

/* ranks: the root in no group; node j is its group's rank 0; worker r is in group r / G */
int train_tree_mpi_start(train_opts *o)
{
	char err[512];
	bool root = o->role == TRAIN_AGGREGATOR, node = o->node_index >= 0;
	int color = root ? -1 : node ? o->node_index : o->rank / o->tree;
	int key = root || node ? 0 : 1 + o->rank % o->tree;
	if (train_mpi_group_split(color, key, err, sizeof err))
		return train_refuse(o, "%s", err);
	if (root)
		return -1; /* broadcasts its address once it listens (train_bootstrap_listening) */
	const char *who = node ? "node" : "worker";
	int me = node ? o->node_index : o->rank;
	memset(o->addr_buf, 0, sizeof o->addr_buf);
	if (train_mpi_bcast(o->addr_buf, (int)sizeof o->addr_buf, err, sizeof err)) {
		fprintf(stderr, "%s: %s %d: %s\n", o->prog, who, me, err);
		return 1;
	}
	o->addr_buf[sizeof o->addr_buf - 1] = 0;
	if (!o->addr_buf[0]) {
		fprintf(stderr, "%s: %s %d: the root aggregator (MPI rank 0) stopped before it listened: "
				"see its messages\n", o->prog, who, me);
		return 1;
	}
	if (!node) { /* the root's address is not ours: wait for our node's */
		memset(o->addr_buf, 0, sizeof o->addr_buf);
		if (train_mpi_group_bcast(o->addr_buf, (int)sizeof o->addr_buf, err, sizeof err)) {
			fprintf(stderr, "%s: worker %d: %s\n", o->prog, me, err);
			return 1;
		}
		o->addr_buf[sizeof o->addr_buf - 1] = 0;
		if (!o->addr_buf[0]) {
			fprintf(stderr, "%s: worker %d: its node %d (MPI rank %d) stopped before it listened: "
					"see its messages\n", o->prog, me, color, 1 + color);
			return 1;
		}
	}
	o->connect = o->addr_buf;
	return -1;
}

/* A node that never listened says so (an empty address), so its workers do not wait. */
void train_tree_mpi_end(train_opts *o)
{
	if (o->node_index < 0 || o->told || !train_mpi_started() || o->check_only)
		return;
	char buf[sizeof o->addr_buf] = {0}, err[512];
	o->told = true;
	if (train_mpi_group_bcast(buf, (int)sizeof buf, err, sizeof err))
		fprintf(stderr, "%s: %s\n", o->prog, err);
}

static void node_listening(void *ctx, const char *bound)
{
	train_opts *o = ctx;
	char addr[sizeof o->addr_buf] = "", err[1024];
	if (pn_rendezvous_advertised(bound, addr, sizeof addr, err, sizeof err)) {
		fprintf(stderr, "%s: node %d: %s\n", o->prog, o->node_index, err);
		addr[0] = 0;
	}
	o->told = true;
	if (train_mpi_group_bcast(addr, (int)sizeof addr, err, sizeof err))
		fprintf(stderr, "%s: node %d: %s\n", o->prog, o->node_index, err);
	else if (!o->quiet)
		fprintf(stderr, "%s: node %d: its %d workers told to join %s (through MPI)\n", o->prog,
			o->node_index, o->tree, addr);
}

int train_run_node(train_opts *o, fmnist_job *job)
{
	char optbuf[4096], err[512] = "";
	size_t d = o->dim ? (size_t)o->dim : job->model.nparams;
	pn_agg_config rule;
	/* dpdk: the node's own ip and udp port come from its options ({rank} = its node id);
	 * --listen is the root's address, and a dpdk listen address overrides the options'
	 * (two processes with the root's IP) */
	const char *listen = strcmp(o->backend, "dpdk") ? o->listen : "*:0";
	pn_node_config nc = train_node_config(o, o->node_index, o->connect, listen, d, &rule, optbuf,
					      sizeof optbuf);
	nc.on_listen = node_listening;
	nc.on_listen_ctx = o;
	pn_node_result res = {0};
	int rc = pn_node_run(&nc, &res, err, sizeof err);
	return train_node_report(o, &nc, rc, &res, err);
}
