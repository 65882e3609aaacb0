#!/usr/bin/python3
"""Trains a small CNN on Fashion-MNIST with PyTorch workers and the Pennant aggregator.

The aggregator is the C program (pennant-train --role aggregator --serve gradient): it
pulls every worker's gradient, aggregates it with --rule (robust rules survive the
--byzantine workers) and serves the aggregated gradient; each worker steps its own torch
optimizer with it, through pennant.torch.DistributedOptimizer (--hook optimizer) or a DDP
communication hook (--hook ddp).

  torch_fashion_mnist.py --workers 4 --steps 100 --rule mean --json out.json
      starts the aggregator and 4 worker processes on loopback
  torch_fashion_mnist.py --reference --workers 4 --steps 100 --json ref.json
      one process, no Pennant: each partition's gradient of the step, then their mean
      with the aggregator's arithmetic (examples/torch_fmnist_reference.py), so the mean
      rule reproduces its losses and final model bit for bit (--code fractional --s 1
      too); --reference-mode concatenated: one loss over the concatenated batches
  mpirun -np 5 -x PENNANT_JOB_TOKEN torch_fashion_mnist.py --listen 127.0.0.1:0 ...
      MPI rank 0 runs only the aggregator, rank r >= 1 is worker r - 1; no address flag:
      the aggregator writes its bound address into the job's rendezvous file, which the
      workers wait for (--rendezvous FILE; default TMPDIR/pennant-JOBID.rendezvous, for a
      job on one host: across hosts give a path on a shared filesystem, or --connect
      HOST:PORT to every rank and the aggregator listens on its port). Without --listen
      the aggregator listens on every interface, told to the workers under this host's
      name. The job token comes from PENNANT_JOB_TOKEN (or --token-file); worker 0 writes
      --json. The aggregator (pennant-train --serve gradient --dim d) knows only the
      gradient's size; the model and its accuracy are the workers'.

--attack reverse (-10 times the worker's own gradient, applied to the registered buffer
before submit, as pennant-train's workers do) costs the robust rules accuracy by their
nature, not by a bug: measured per rule and explained in the README ("PyTorch"). In short:
flag with r >= workers is the mean of the normalised gradients, which keeps a reversed one
at full weight (--r 1 does not); the median is biased by the far outlier; krum loses as
much clean as attacked.

Data: step t, partition j gets examples perm[(t*P + j)*B : (t*P + j + 1)*B] of a seeded
permutation of the training set (P partitions, B --batch). Uncoded: worker i computes
partition i, so the mean over workers of their mean batch losses is the reference's loss.
"""
import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

# the script's folder is on sys.path: its data, model and faults
from torch_fmnist_parts import (Data, attack_fn, digest, evaluate, make_model,
                                make_optimizer)
from torch_fmnist_reference import run_reference

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.dirname(HERE)
DATA_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
ATTACKS = ("signflip", "scaled", "gaussian", "reverse", "nan", "uniform")


def parse_args(argv=None):
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--workers", type=int, default=4)
    a.add_argument("--steps", type=int, default=100)
    a.add_argument("--batch", type=int, default=16, help="examples per worker per step")
    a.add_argument("--lr", type=float, default=0.05)
    a.add_argument("--momentum", type=float, default=0.9)
    a.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--rule", default="mean", help="the aggregator's rule (mean, flag, median, ...)")
    a.add_argument("--f", type=int, default=None, help="Byzantine workers the rule assumes "
                   "(default: --byzantine)")
    a.add_argument("--r", type=int, default=None, help="flag: the subspace dimension "
                   "(default pennant-train's, 8: with 8 or fewer workers flag is then the mean "
                   "of the normalised gradients; see the docstring on --attack reverse)")
    a.add_argument("--byzantine", type=int, default=0, help="the last N ranks attack")
    a.add_argument("--attack", choices=ATTACKS, default="signflip")
    a.add_argument("--hook", choices=("optimizer", "ddp"), default="optimizer")
    a.add_argument("--code", default="uncoded", help="the aggregator's gradient code "
                   "(uncoded, fractional, ...: workers compute the partitions of their code "
                   "row, one partition per worker's worth of data)")
    a.add_argument("--s", type=int, default=0, help="stragglers the code tolerates")
    a.add_argument("--bucket-cap-mb", type=float, default=0.01,
                   help="DDP bucket size (small: several buckets even for the tiny CNN)")
    a.add_argument("--reference", action="store_true", help="one process, no Pennant: "
                   "what data-parallel SGD with --workers, --code and the mean defines")
    a.add_argument("--reference-mode", choices=("data-parallel", "concatenated"),
                   default="data-parallel", help="data-parallel: each partition's gradient, "
                   "then the aggregator's mean with its arithmetic (bit for bit); "
                   "concatenated: one loss over the step's batches together (the same "
                   "mathematics, other roundings)")
    a.add_argument("--json", help="write the record here (steps[].loss, final.test_acc); "
                   "under mpirun worker 0 writes it")
    a.add_argument("--aggregator-json", help="the C aggregator's own JSON record")
    a.add_argument("--data", default=DATA_DIR)
    a.add_argument("--threads", type=int, default=1, help="torch threads per process")
    a.add_argument("--backend", default="tcp")
    a.add_argument("--aggregator", help="pennant-train binary (default: the build tree's, "
                   "else PATH)")
    a.add_argument("--timeout", type=float, default=600, help="seconds for the whole job")
    # one role (set by the local launcher, or derived from MPI's rank)
    a.add_argument("--role", choices=("local", "worker", "aggregator"), default=None)
    a.add_argument("--rank", type=int, default=None)
    a.add_argument("--connect", help="the aggregator's HOST:PORT (worker role)")
    a.add_argument("--listen", default=None, help="aggregator role: address to listen on")
    a.add_argument("--gloo", help="HOST:PORT for the DDP process group's rendezvous "
                   "(default: the aggregator's host, its port + 1)")
    a.add_argument("--rendezvous", help="under mpirun without --connect: the file where "
                   "the aggregator tells the workers its address (default: one per job in "
                   "the temporary directory, for a job on one host)")
    a.add_argument("--token-file", help="job secret file (else PENNANT_JOB_TOKEN)")
    a.add_argument("--out", help=argparse.SUPPRESS)  # worker: its own record
    args = a.parse_args(argv)
    if args.f is None:
        args.f = args.byzantine
    if not 0 <= args.byzantine < args.workers:
        a.error("--byzantine must be in [0, --workers)")
    return args


# --- one worker ----------------------------------------------------------------------
def run_worker(args):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    sys.path.insert(0, os.path.join(SRC_ROOT, "python"))  # source-tree use; installed: no-op
    import pennant
    import pennant.torch as ptorch

    rank = args.rank
    data = Data(args)  # everything slow happens before joining (the heartbeat starts then)
    model = make_model(args.seed)
    d = sum(p.numel() for p in model.parameters())
    byzantine = rank >= args.workers - args.byzantine
    transform = attack_fn(args.attack, args.seed * 1000 + rank) if byzantine else None
    opt = make_optimizer(args, model.parameters())
    ddp = None
    if args.hook == "ddp":
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel
        # A gloo group over the workers only, just to construct DDP: Pennant reduces.
        dist.init_process_group("gloo", init_method="tcp://" + args.gloo, rank=rank,
                                world_size=args.workers)
        # DDP's first bucket is 1 MB whatever bucket_cap_mb says (the whole tiny CNN):
        # the documented knob makes it small too, so the hook sees several buckets.
        dist._DEFAULT_FIRST_BUCKET_BYTES = int(args.bucket_cap_mb * 1024 * 1024)
        ddp = DistributedDataParallel(model, bucket_cap_mb=args.bucket_cap_mb)
    session = pennant.Session(rank, args.connect, d, backend=args.backend,
                              token_file=args.token_file, connect_timeout_ms=60000)
    if ddp is not None:
        driver = ptorch.HookState(session, transform=transform)
        ddp.register_comm_hook(driver, ptorch.comm_hook)
        net = ddp
    else:
        driver = ptorch.DistributedOptimizer(opt, model.named_parameters(), session,
                                             transform=transform)
        net = model
    steps, skipped = [], 0
    while True:
        r = driver.begin()
        if r is None:
            break
        opt.zero_grad()

        def loss_fn(batch):
            x, y = batch
            return F.cross_entropy(net(x), y)
        if ddp is not None:
            # the hook submits (and waits) inside the last backward
            loss = ptorch.coded_backward(r, lambda p: data.partition(r.number, p), loss_fn,
                                         ddp=ddp, state=driver)
            if not driver.skipped:
                opt.step()
        else:
            loss = ptorch.coded_backward(r, lambda p: data.partition(r.number, p), loss_fn)
            driver.step(loss)
        skipped += driver.skipped
        steps.append({"step": r.number, "loss": loss, "skipped": driver.skipped,
                      "parts": r.parts})
    session.leave()
    rec = {"rank": rank, "byzantine": byzantine, "steps": steps, "skipped": skipped,
           "digest": digest(model), "hook": args.hook}
    if ddp is not None:
        rec["bucket_remaps"] = driver.remaps
        rec["buckets"] = len(driver.buckets)
    if rank == 0:
        rec["test_loss"], rec["test_acc"] = evaluate(model, data)
    if ddp is not None:
        import torch.distributed as dist
        dist.destroy_process_group()
    return rec


# --- the aggregator (the C program) --------------------------------------------------
def aggregator_binary(args):
    if args.aggregator:
        return args.aggregator
    build = os.environ.get("PENNANT_BUILD_DIR") or os.path.join(SRC_ROOT, "build")
    cand = os.path.join(build, "tools", "pennant-train")
    if os.access(cand, os.X_OK):
        return cand
    found = shutil.which("pennant-train")
    if not found:
        raise SystemExit("pennant-train not found (build the tree or give --aggregator)")
    return found


def aggregator_cmd(args, d, listen, json_path=None):
    # --dim: the aggregator serves gradients of a model it does not know (this CNN)
    cmd = [aggregator_binary(args), "--role", "aggregator", "--serve", "gradient",
           "--dim", str(d), "--workers", str(args.workers), "--rounds", str(args.steps),
           "--rule", args.rule, "--f", str(args.f), "--code", args.code, "--s", str(args.s),
           "--wait", "all", "--deadline-ms", "60000", "--backend", args.backend, "--quiet"]
    if listen:  # else pennant-train's default (with a rendezvous: every interface, port 0)
        cmd += ["--listen", listen]
    if args.rendezvous:
        cmd += ["--rendezvous", args.rendezvous]
    if args.r is not None:
        cmd += ["--r", str(args.r)]
    if args.byzantine:
        cmd += ["--byzantine-ranks",
                ",".join(str(r) for r in range(args.workers - args.byzantine, args.workers))]
    if args.token_file:
        cmd += ["--token-file", args.token_file]
    if json_path:
        cmd += ["--json", json_path]
    return cmd


def model_dim(args):
    return sum(p.numel() for p in make_model(args.seed).parameters())


def run_local(args):
    """Starts the aggregator and the workers on loopback and merges their records."""
    env = dict(os.environ)
    if not args.token_file:
        if not env.get("PENNANT_JOB_TOKEN"):
            env["PENNANT_JOB_TOKEN"] = secrets.token_hex(32)  # never on a command line
    tmp = tempfile.mkdtemp(prefix="pn-torch-")
    agg_json = args.aggregator_json
    sys.path.insert(0, os.path.join(SRC_ROOT, "python"))  # source-tree use; installed: no-op
    from pennant.launch import Aggregator
    agg = Aggregator(aggregator_cmd(args, model_dim(args), "127.0.0.1:0", agg_json), env)
    agg_log = agg.log
    workers = []
    try:
        host, port = agg.start().rsplit(":", 1)
        gloo = args.gloo or f"127.0.0.1:{free_port()}"
        for rank in range(args.workers):
            out = os.path.join(tmp, f"worker{rank}.json")
            cmd = [sys.executable, os.path.abspath(__file__), "--role", "worker",
                   "--rank", str(rank), "--connect", f"{host}:{port}", "--gloo", gloo,
                   "--out", out] + passthrough(args)
            workers.append((subprocess.Popen(cmd, env=env), out))
        deadline = time.monotonic() + args.timeout
        rcs = [p.wait(timeout=max(1, deadline - time.monotonic())) for p, _ in workers]
        agg_rc = agg.proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        for p, _ in workers:
            if p.poll() is None:
                p.kill()
        agg.stop()
    if any(rcs) or agg_rc:
        sys.stderr.write("".join(agg_log[-30:]))
        raise SystemExit(f"job failed: workers exited {rcs}, aggregator {agg_rc}")
    recs = []
    for _, out in workers:
        with open(out) as f:
            recs.append(json.load(f))
    shutil.rmtree(tmp, ignore_errors=True)
    return merge(args, recs)


def merge(args, recs):
    n = len(recs[0]["steps"])
    if any(len(r["steps"]) != n for r in recs):
        raise SystemExit("workers ran different numbers of steps")
    steps = [{"step": recs[0]["steps"][k]["step"],
              "loss": sum(r["steps"][k]["loss"] for r in recs) / len(recs),
              "skipped": recs[0]["steps"][k]["skipped"]} for k in range(n)]
    r0 = recs[0]
    final = {"test_acc": r0["test_acc"], "test_loss": r0["test_loss"], "digest": r0["digest"],
             "models_identical": len({r["digest"] for r in recs}) == 1,
             "skipped": r0["skipped"],
             # every (partition, coef) any worker computed, per worker: the code rows
             "code_rows": [sorted({tuple(p) for s in r["steps"] for p in s["parts"]})
                           for r in recs]}
    if "bucket_remaps" in r0:
        final["ddp_buckets"], final["ddp_bucket_remaps"] = r0["buckets"], r0["bucket_remaps"]
    return {"mode": "pennant", "config": vars(args), "steps": steps, "final": final}


def passthrough(args):
    out = []
    for k in ("workers", "steps", "batch", "lr", "momentum", "optimizer", "seed", "byzantine",
              "attack", "hook", "bucket_cap_mb", "data", "threads", "backend", "token_file"):
        v = getattr(args, k)
        if v is not None:
            out += ["--" + k.replace("_", "-"), str(v)]
    return out


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mpi_role(args):
    """Under mpirun: rank 0 is the aggregator, rank r >= 1 worker r - 1. Without --connect
    the workers find the aggregator through a rendezvous file (--rendezvous, default one
    per job in the temporary directory: on several hosts, give a shared path)."""
    rank = os.environ.get("OMPI_COMM_WORLD_RANK")
    if rank is None or args.role is not None:
        return
    args.workers = int(os.environ["OMPI_COMM_WORLD_SIZE"]) - 1
    if not args.connect and not args.rendezvous:
        sys.path.insert(0, os.path.join(SRC_ROOT, "python"))  # source tree; installed: no-op
        import pennant.rendezvous
        args.rendezvous = pennant.rendezvous.default_path()
    if int(rank) == 0:
        args.role = "aggregator"
        if args.connect and not args.listen:
            args.listen = "0.0.0.0:" + args.connect.rsplit(":", 1)[1]
    else:
        args.role, args.rank = "worker", int(rank) - 1


def find_aggregator(args):
    """A worker's --connect, else the address in the rendezvous file; the DDP group's
    rendezvous defaults to the aggregator's host, its port + 1."""
    if not args.connect:
        if not args.rendezvous:
            raise SystemExit("a worker needs --connect HOST:PORT or --rendezvous FILE")
        sys.path.insert(0, os.path.join(SRC_ROOT, "python"))  # source tree; installed: no-op
        import pennant.rendezvous
        args.connect = pennant.rendezvous.lookup(args.rendezvous, args.timeout)
    if not args.gloo:
        host, port = args.connect.rsplit(":", 1)
        args.gloo = f"{host}:{int(port) + 1}"


def write(args, rec, path):
    if path:
        with open(path, "w") as f:
            json.dump(rec, f, indent=1)
    if rec.get("final"):
        print(f"final test accuracy {rec['final']['test_acc']:.2f}% "
              f"(last loss {rec['steps'][-1]['loss']:.4f})", file=sys.stderr)


def main():
    args = parse_args()
    if args.reference:
        write(args, run_reference(args), args.json)
        return 0
    mpi_role(args)
    if args.role == "aggregator":  # mpirun rank 0: nothing but the C aggregator
        cmd = aggregator_cmd(args, model_dim(args), args.listen, args.aggregator_json)
        env = dict(os.environ)
        if not args.rendezvous:
            # --connect: the workers know the address. Seeing mpirun's rank, pennant-train
            # would broadcast it over MPI, which these Python workers never join (a hang).
            for k in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
                env.pop(k, None)
        os.execve(cmd[0], cmd, env)
    if args.role == "worker":
        find_aggregator(args)
        rec = run_worker(args)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(rec, f)
        elif args.json and rec.get("test_acc") is not None:  # mpirun: worker 0's own view
            write(args, {"mode": "pennant-mpi", "config": vars(args), "steps": rec["steps"],
                         "final": {"test_acc": rec["test_acc"], "test_loss": rec["test_loss"]}},
                  args.json)
        return 0
    write(args, run_local(args), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
