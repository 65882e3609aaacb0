/* --help of each role, built from the sections that role reads. */
#include "usage.h"

#include "mpi_boot.h"
#include "pennant/train.h"

static const char model_opts[] =
"model and data (identical on every process of a job):\n"
"  --workers N         workers (default 15; under mpirun/srun/PMIx: the job size - 1,\n"
"                      and a --workers given must agree)\n"
"  --model M           mlp (784-256-128-10, default), softmax, mlp:H1,H2,...\n"
"  --batch B           examples per partition per round (default 32)\n"
"  --data DIR          Fashion-MNIST IDX files (default " PN_FMNIST_DIR ")\n"
"  --seed N            (default 1)\n";

static const char job_opts[] =
"job:\n"
"  --rounds N          rounds (default 150)\n"
"  --lr X --momentum X --weight-decay X   SGD (defaults 0.05, 0.9, 1e-4)\n"
"  --eval-every N      test-set evaluation period in rounds (default 10, 0: only at the end)\n";

static const char agg_opts[] =
"aggregation:\n"
"  --rule R            flag (default), mean, median, trimmed-mean, meamed, phocas, krum,\n"
"                      multi-krum, bulyan, geomed; checked up front against the workers\n"
"                      a round may have (krum: p >= 2f+3, bulyan: p >= 4f+3)\n"
"  --f N               Byzantine workers the rule assumes (default: the injected\n"
"                      --byzantine count in a local run, else 0)\n"
"  --r N --lambda X --mode reference|converged   flag options (defaults 8, 0, reference)\n"
"  --m N --beta X      multi-krum / trimmed-mean options\n"
"  --code C            uncoded, fractional, cyclic, expander, bibd, gcdc, comm-efficient\n"
"                      (default fractional when (s+1) divides n, else uncoded)\n"
"  --s N               stragglers the code tolerates (default 2)\n"
"  --comm-dim M        comm-efficient only: each worker computes s+M partitions and\n"
"                      sends ceil(d/M) floats; any n-s decode exactly (default 2;\n"
"                      needs s+M <= n and rule mean)\n"
"  --wait W            all: every worker until --deadline-ms, then whatever the code\n"
"                      decodes (default for robust rules); code: the code's threshold\n"
"                      (default for mean); deadline: code threshold or deadline\n"
"  --deadline-ms X     straggler deadline (default 1000)\n"
"  --pull-policy P     round-robin (default), earliest-ready, layer-priority\n"
"  --window N --window-total N   reads in flight per worker / overall (8, 64)\n"
"  --pipelining on|off feed chunks to the engine as they land (default on)\n"
"  --serve S           model (default): the aggregator steps and serves the model;\n"
"                      gradient: it serves each round's aggregate and every worker steps\n"
"                      its own SGD (same --lr/--momentum/--weight-decay); --save-model and\n"
"                      the JSON's accuracy then use the aggregator's shadow model, stepped\n"
"                      with the same SGD from the same aggregates\n"
"  --grad-dtype T      f32 (default), bf16 or f16: workers expose their gradients in T\n"
"                      (converted from float32, round to nearest even) and the aggregator\n"
"                      pulls d*2 bytes per worker for the half types; the model and the\n"
"                      optimizer stay float32; an fp16 overflow (|g| > 65504) is Inf and\n"
"                      that worker is left out of the round as non-finite\n"
"  --shards K          K aggregator processes, each owning a contiguous range of the\n"
"                      model's coordinates and pulling only that range (default 1: one\n"
"                      aggregator); every round one decision for all. K > 1 needs --wait all\n"
"                      and --serve model; local (tcp) or launched by mpirun / srun --mpi=pmix\n"
"                      (ranks 0..K-1 are the shards); the test accuracy is the final model's\n"
"  --tree G            a local tree: the aggregator's peers are n/G pennant-node processes,\n"
"                      each summing G workers (--rule mean --code uncoded --byzantine 0;\n"
"                      --backend tcp, or dpdk: locally the memif tree, root and nodes <= 16 ports;\n"
"                      the JSON's final.bytes_pulled is what the root pulled); with\n"
"                      --role aggregator: the root alone, its n/G peers pennant-node\n"
"                      processes started by hand (pennant-node --help); under mpirun -np\n"
"                      1+n/G+n: rank 0 the root, 1..n/G the nodes, the rest the workers (one\n"
"                      shard; MPI tells each node the root's address, each worker its node's)\n"
"  --node-mode M       the nodes' mode: sum (default; streaming sum) or robust (each node\n"
"                      runs --rule with --f per group over its G workers, the root a mean\n"
"                      over the nodes; Byzantine workers allowed) or replica (each node's\n"
"                      G workers are one replica group, fractional repetition: each computes\n"
"                      the group's G partitions, the node serves the first complete one and\n"
"                      checks the others bit for bit; stragglers, dead and Byzantine\n"
"                      workers allowed: G - 1 per group may be late or gone, a differing\n"
"                      replica is counted)\n"
"  --replica-quorum Q  replica nodes serve once Q replicas are identical (default 1: the\n"
"                      first complete one; 2 outvotes one Byzantine worker per group, and\n"
"                      G - Q per group may then be late or gone)\n"
"  --fixed-point       sum nodes add in int32 block fixed point (one exponent per 256\n"
"                      coordinates, SwitchML-style) and report its error against float32\n"
"  --node-serve S      sum nodes: prefix (default) tells the root each completed prefix of\n"
"                      the sum, so it reads a chunk as soon as the group has contributed to\n"
"                      it; whole: the root reads a node's sum only once all of it is done\n";

static const char fault_opts[] =
"faults (injected by a local run's workers; --byzantine-ranks/--attack/--straggle also\n"
"apply to a pennant-worker of that rank):\n"
"  --byzantine N       N random workers attack (default 3 in a local run)\n"
"  --byzantine-ranks L explicit comma-separated ranks instead\n"
"  --attack A          uniform (default), reverse, scaled, signflip, labelflip, nan,\n"
"                      gaussian, alie, ipm, mimic (the last three collude: each attacker\n"
"                      computes the honest gradients of every partition itself)\n"
"  --straggle L:SPEC   ranks L are slow: SPEC fixed:MS, exp:MEAN_MS, markov:MS,P_SLOW,P_FAST\n"
"  --kill-rank R --kill-round N   worker R exits abruptly at round N\n"
"  --kill-node K --kill-round N   with --tree: node K exits abruptly at round N; its workers\n"
"                      join the root, which pulls them directly (that round is lost)\n"
"  --node-stall-ms MS  with --kill-node: the node first hangs MS ms without a word (a stall:\n"
"                      both sides judge it by the silence limit), then exits\n"
"  --no-bypass         with --tree: a dead node ends the job instead (the only behaviour\n"
"                      over memif, under mpirun and with robust nodes)\n";

static const char tp_opts[] =
"transport:\n"
"  --backend B         auto (default: dpdk over memif for a local run when usable, else\n"
"                      tcp), tcp, dpdk (local: memif topology built for you), verbs\n"
"  --tp-options S      backend options; {rank} is replaced by the process's node id\n"
"                      (0 the aggregator, r + 1 worker r; with --tree G over n workers\n"
"                      n + 1 + j node j: one af_packet veth each, 1 + n + n/G in all)\n";

static const char launch_opts[] =
"launched jobs (mpirun, srun inside a job step, PMIx): rank 0 aggregates, rank k is\n"
"worker k-1; the workers find the aggregator by the first of:\n"
"  --connect ADDR      given on the command line\n"
"  PENNANT_AGGREGATOR=HOST:PORT   in every process's environment (the aggregator\n"
"                      listens there: a fixed port)\n"
"  --rendezvous FILE   a file on a filesystem every host shares: the aggregator writes\n"
"                      its bound address there once it listens (atomically, under the\n"
"                      launcher's job id: PENNANT_JOB_ID, PMIX_NAMESPACE, or\n"
"                      SLURM_JOB_ID.SLURM_STEP_ID; a file of another job is never taken)\n"
"                      and removes it at exit; workers poll it\n"
"  --rendezvous-timeout S   how long a worker waits for the file (default 120)\n"
"  MPI                 under mpirun, when built with MPI: rank 0 broadcasts its address\n"
"                      once it listens (MPI carries nothing else)\n"
"  The aggregator then listens on every interface, on a port the system picks, and\n"
"  tells the workers this host's name (--listen HOST:0 pins an interface). Only the\n"
"  address travels: give every process the secret (mpirun -x PENNANT_JOB_TOKEN).\n"
"  SLURM_PROCID outside an srun job step (an sbatch script, an salloc shell) is\n"
"  ignored: the run stays local and says so.\n";

static const char secret_opts[] =
"job secret (every peer proves it knows it; it never crosses the wire):\n"
"  --token-file FILE   the secret is FILE's content (one trailing newline stripped;\n"
"                      the file must be non-empty and chmod 600)\n"
"  PENNANT_JOB_TOKEN   environment variable: the secret as any string\n"
"                      (a local run draws a random secret when neither is given;\n"
"                      --token on the command line is refused: ps shows it to everyone)\n";

static const char out_opts[] =
"output:\n"
"  --json FILE         full record as JSON ('-': stdout, human lines then go to stderr)\n"
"  --save-model FILE   final parameters as a float32 .npy (checked writable up front)\n"
"  --save-worker-model FILE   the worker's own final model (a local run: rank 0's)\n"
"  --quiet             no per-round lines\n"
"  --check             check the whole configuration (options, data, paths, secret)\n"
"                      and exit 0 without running anything\n"
"  --version           print the version and commit\n"
"  -h, --help\n";

static void build_note(FILE *f)
{
	fprintf(f, "This pennant-train is built %s MPI.\n", train_mpi_built() ? "with" : "without");
}

void train_usage(FILE *f, const char *prog, train_role role)
{
	switch (role) {
	case TRAIN_WORKER:
		fprintf(f, "usage: %s --connect HOST:PORT --rank R [options]\n"
			   "One worker of a Pennant training job: reads each round's model from the\n"
			   "aggregator, computes its coded gradient and serves it to be pulled.\n"
			   "Exits 0 when the aggregator says STOP.\n\n", prog);
		fputs(model_opts, f);
		fputs("  --connect ADDR      the aggregator's address\n"
		      "  --rank N            this worker's rank (or OMPI_COMM_WORLD_RANK, SLURM_PROCID,\n"
		      "                      PMIX_RANK, minus 1)\n", f);
		fputs("  --lr X --momentum X --weight-decay X   the worker's own SGD when the aggregator\n"
		      "                      serves gradients (use the aggregator's values)\n", f);
		fputs(fault_opts, f), fputs(tp_opts, f), fputs(launch_opts, f), fputs(secret_opts, f);
		fputs("output:\n  --save-worker-model FILE   this worker's final model (.npy)\n  --check             check the configuration, run nothing\n"
		      "  --version\n  -h, --help\n", f);
		build_note(f);
		return;
	case TRAIN_AGGREGATOR:
		fprintf(f, "usage: %s [--listen ADDR] --workers N [options]\n"
			   "The aggregator of a multi-host Pennant training job: waits for N workers,\n"
			   "then runs the rounds (pull, robust aggregation, SGD step, publish).\n"
			   "Listening beyond loopback needs the job secret (below).\n\n", prog);
		fputs(model_opts, f), fputs(job_opts, f), fputs(agg_opts, f);
		fputs("  --byzantine-ranks L ranks known to attack (only reported, never trusted less)\n", f);
		fputs("  --dim D             with --serve gradient: aggregate the gradients of the workers'\n"
		      "                      own model of D floats (e.g. PyTorch through python/pennant);\n"
		      "                      no built-in model, no data, no test accuracy here\n", f);
		fputs(tp_opts, f);
		fputs("  --listen ADDR       address to listen on (default 0.0.0.0:7470; with a\n"
		      "                      rendezvous 0.0.0.0:0; PENNANT_AGGREGATOR when set)\n", f);
		fputs(launch_opts, f), fputs(secret_opts, f), fputs(out_opts, f);
		fputs("SIGINT/SIGTERM: the round is abandoned, the model saved, the JSON completed,\n"
		      "the workers stopped; exit 130/143.\n", f);
		build_note(f);
		return;
	case TRAIN_LOCAL:
	case TRAIN_REFERENCE:
		break;
	}
	fprintf(f, "usage: %s [options]\n"
		   "Trains a model on Fashion-MNIST with one aggregator and n workers that pull/serve\n"
		   "gradients over a transport, with robust aggregation and gradient coding.\n"
		   "  --role R            local (default: aggregator + n forked workers), aggregator,\n"
		   "                      worker, reference (single process, no distribution); also\n"
		   "                      chosen by the program name pennant-aggregator/pennant-worker\n"
		   "  --reference         same as --role reference\n\n", prog);
	fputs(model_opts, f), fputs(job_opts, f), fputs(agg_opts, f), fputs(fault_opts, f);
	fputs(tp_opts, f);
	fputs("  --listen ADDR       aggregator address (default 127.0.0.1:0 for local)\n"
	      "  --connect ADDR      worker: aggregator address\n"
	      "  --rank N            worker rank\n", f);
	fputs(launch_opts, f), fputs(secret_opts, f), fputs(out_opts, f);
	fputs("SIGINT/SIGTERM to the aggregator: the round is abandoned, the model saved, the\n"
	      "JSON completed, the workers stopped; exit 130/143 (a second signal kills at once).\n", f);
	build_note(f);
}
