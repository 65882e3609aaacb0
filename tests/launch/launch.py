#!/usr/bin/env python3
"""Launching pennant-train as a launcher does: mpirun, srun (simulated: the environment
srun gives each task), PMIx; the workers find the aggregator with no address flag.

usage: launch.py BUILD_DIR SCENARIO
  mpirun          mpirun -np 5 on loopback, no address flags: rank 0 broadcasts its address
                  over MPI, 4 workers join, krum trains (f defaults to 0: no round skipped)
  mpirun-tree     mpirun -np 1+2+8 --tree 4 --workers 8: rank 0 the root, ranks 1-2 the sum
                  nodes, 3-10 the workers; the model after 20 rounds is the flat local job's
                  (8 workers) within 1e-5 relative, every rank exits 0; and a job size that
                  is not 1 + n/G + n is refused
  mpirun-pmix     the same with the OMPI_COMM_WORLD_* variables removed: only PMIX_RANK is
                  left (Open MPI 4.1 exports no PMIX_SIZE), the size comes from MPI
  mpirun-file     mpirun with --rendezvous FILE: the file names the job (PMIx namespace)
                  and is removed at the end
  mpirun-refusal  rank 0 refuses its configuration: the job ends (no worker hangs)
  mpirun-default-listen   no --listen either: the aggregator listens on every interface
                  and tells the workers this host's name; run in a private network
                  namespace holding only loopback (root)
  srun-file       5 processes with srun's variables and --rendezvous FILE, where a stale
                  file of another job waits: no worker takes it; the job trains
  srun-env        the same through PENNANT_AGGREGATOR (no file, no MPI)
  plain-slurm     SLURM_PROCID=0 in a shell (no job step) never becomes an aggregator
  env-checks      PMIX_RANK without a size, --workers against the job size, a worker with
                  no way to find its aggregator, a rendezvous that times out, f defaults
  workers-64      a local job of 64 workers over tcp trains
Exit 0 on success; failures print what was expected and what happened.
"""
import json
import math
import struct
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import FAILS, check  # noqa: E402
from launcher_env import MPIRUN as MPIRUN_LOOPBACK, without_launcher  # noqa: E402

BUILD = sys.argv[1]
TRAIN = os.path.join(BUILD, "tools", "pennant-train")
SECRET = "launch-test-secret"
MPIRUN = MPIRUN_LOOPBACK + ["-x", "PENNANT_JOB_TOKEN"]
JOB = ["--backend", "tcp", "--listen", "127.0.0.1:0", "--model", "softmax", "--rounds", "5",
       "--quiet", "--eval-every", "0"]


def clean_env(**extra):
    """No launcher's variables, root allowed for mpirun, the job secret."""
    return without_launcher(PENNANT_JOB_TOKEN=SECRET, **extra)


def run(cmd, env, timeout=240):
    print("$", " ".join(cmd), flush=True)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        print(out[-3000:], flush=True)
        return None, out
    print(p.stdout[-3000:], flush=True)
    return p.returncode, p.stdout


def need_mpirun():
    if not shutil.which("mpirun"):
        check(False, "mpirun is installed (Debian: openmpi-bin)")
        return False
    rc, out = run([TRAIN, "--help"], clean_env())
    return check("--rendezvous" in out and "built with MPI" in out,
                 "pennant-train is built with MPI (Debian: libopenmpi-dev)")


def trained(rc, out, what, rounds=5):
    check(rc == 0, f"{what}: exit 0 (got {rc})")
    check(f"final: {rounds} rounds (0 skipped)" in out, f"{what}: {rounds} rounds trained, none skipped")


def scenario_mpirun():
    if not need_mpirun():
        return
    rc, out = run(MPIRUN + ["-np", "5", TRAIN] + JOB + ["--rule", "krum", "--s", "0"], clean_env())
    trained(rc, out, "mpirun -np 5, no address flag")
    check("workers told to join 127.0.0.1:" in out and "through MPI" in out,
          "rank 0 told the workers its bound address through MPI")
    check("4 workers over tcp, rule krum (f=0)" in out, "4 workers, krum with f = 0 (not the local --byzantine 3)")
    check("all 4 workers joined" in out, "every worker joined")


def npy_floats(path):
    with open(path, "rb") as f:
        data = f.read()
    hlen = struct.unpack("<H", data[8:10])[0]
    return struct.unpack("<%df" % ((len(data) - 10 - hlen) // 4), data[10 + hlen:])


def scenario_mpirun_shards():
    """mpirun -np 10 --shards 2: ranks 0 and 1 are the aggregator shards, 8 workers join
    both; the model after 20 rounds is the unsharded local job's (8 workers, no attacker)."""
    if not need_mpirun():
        return
    job = JOB + ["--rounds", "20", "--rule", "krum", "--f", "1", "--s", "0", "--code", "uncoded",
                 "--wait", "all"]
    with tempfile.TemporaryDirectory() as tmp:
        sharded, local = os.path.join(tmp, "sharded.npy"), os.path.join(tmp, "local.npy")
        js = os.path.join(tmp, "sharded.json")
        rc, out = run(MPIRUN + ["-np", "10", TRAIN] + job + ["--shards", "2", "--save-model", sharded,
                                                             "--json", js], clean_env())
        trained(rc, out, "mpirun -np 10 --shards 2", rounds=20)
        check("8 workers and every shard joined" in out and "aggregator shard 1: coordinates [" in out,
              "8 workers joined both shards, shard 1 served its range")
        rc2, out2 = run([TRAIN] + job + ["--workers", "8", "--byzantine", "0", "--save-model", local],
                        clean_env())
        if not check(rc == 0 and rc2 == 0 and os.path.exists(sharded) and os.path.exists(local),
                     "both jobs saved their model"):
            return
        a, b = npy_floats(local), npy_floats(sharded)
        num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
        rel = num / math.sqrt(sum(x * x for x in a)) if len(a) == len(b) else 1.0
        check(rel <= 1e-5, f"the sharded model equals the unsharded one (relative difference {rel:.2e})")
        with open(js) as f:
            rec = json.load(f)
        check(rec.get("shards") == 2 and len(rec.get("shard", [])) == 2, "the JSON names the 2 shards")


def model_difference(a, b):
    """The relative L2 difference of model b from model a (1.0 when their sizes differ)."""
    if len(a) != len(b):
        return 1.0
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b))) / math.sqrt(sum(x * x for x in a))


def scenario_mpirun_tree():
    if not need_mpirun():
        return
    job = JOB + ["--rounds", "20", "--rule", "mean", "--code", "uncoded", "--byzantine", "0"]
    with tempfile.TemporaryDirectory() as tmp:
        tree, flat = os.path.join(tmp, "tree.npy"), os.path.join(tmp, "flat.npy")
        js = os.path.join(tmp, "tree.json")
        loud = [a for a in job if a != "--quiet"]  # the nodes' own lines
        rc, out = run(MPIRUN + ["-np", "11", TRAIN] + loud + ["--tree", "4", "--workers", "8",
                                                             "--save-model", tree, "--json", js], clean_env())
        trained(rc, out, "mpirun -np 11 --tree 4 --workers 8", rounds=20)  # mpirun: 0 only if every rank is
        check("a tree of 2 sum nodes of 4 workers each" in out and "all 2 workers joined" in out,
              "the root saw its 2 nodes join")
        for j in range(2):
            check(f"node {j}: its 4 workers told to join 127.0.0.1:" in out and f"node {j}: 20 rounds" in out,
                  f"node {j} told its workers its address through MPI and summed 20 rounds")
        rc2, out2 = run([TRAIN] + job + ["--workers", "8", "--save-model", flat], clean_env())
        if not check(rc == 0 and rc2 == 0 and os.path.exists(tree) and os.path.exists(flat),
                     "both jobs saved their model"):
            return
        rel = model_difference(npy_floats(flat), npy_floats(tree))
        check(rel <= 1e-5, f"the mpirun tree's model equals the flat one (relative difference {rel:.2e})")
        with open(js) as f:
            rec = json.load(f)
        d = len(npy_floats(flat))
        check(rec["final"]["bytes_pulled"] == 20 * 2 * d * 4,
              f"the root pulled 20 rounds x 2 node sums ({rec['final']['bytes_pulled']} bytes)")
    rc, out = run(MPIRUN + ["-np", "10", TRAIN] + job + ["--tree", "4"], clean_env(), timeout=120)
    check(rc is not None and rc != 0 and "needs 1 + n/4 + n processes" in out,
          "mpirun -np 10 --tree 4 (not 1 + n/4 + n): refused with the layout")


def scenario_mpirun_pmix():
    if not need_mpirun():
        return
    rc, out = run(MPIRUN + ["-np", "5", "env", "-u", "OMPI_COMM_WORLD_RANK", "-u", "OMPI_COMM_WORLD_SIZE",
                            "-u", "PMIX_SIZE", TRAIN] + JOB + ["--rule", "mean"], clean_env())
    trained(rc, out, "mpirun with only PMIX_RANK")
    check("4 workers over tcp" in out and "through MPI" in out, "the job size came from MPI: 4 workers")


def scenario_mpirun_file():
    if not need_mpirun():
        return
    with tempfile.TemporaryDirectory() as tmp:
        rdv = os.path.join(tmp, "aggregator")
        rc, out = run(MPIRUN + ["-np", "4", TRAIN] + JOB + ["--rule", "median", "--rendezvous", rdv], clean_env())
        trained(rc, out, "mpirun --rendezvous FILE")
        check("through the rendezvous file " + rdv in out and "job -" not in out,
              "the workers were told through the file, under the launcher's job id")
        check(not os.path.exists(rdv), "the aggregator removed the file at exit")
        check(os.listdir(tmp) == [], f"no temporary file left ({os.listdir(tmp)})")


def scenario_mpirun_refusal():
    if not need_mpirun():
        return
    t0 = time.monotonic()
    # only the aggregator checks the rule against the workers: rank 0 alone refuses
    rc, out = run(MPIRUN + ["-np", "4", TRAIN] + JOB + ["--f", "3"], clean_env(), timeout=120)
    check(rc is not None and rc != 0, f"the job ended with a failure status ({rc}) "
                                      f"in {time.monotonic() - t0:.0f} s, no worker left waiting")
    check("--f 3 must be below the 3 workers" in out, "rank 0 said why")


def scenario_mpirun_default_listen():
    if not need_mpirun():
        return
    if os.geteuid() != 0:
        print("cannot run: a private network namespace needs root", flush=True)
        if os.environ.get("PN_ALLOW_SKIP") == "1":
            sys.exit(77)
        check(False, "running as root (for the network namespace)")
        return
    ns = f"pnlaunch{os.getpid()}"
    if not check(subprocess.run(["ip", "netns", "add", ns]).returncode == 0, f"network namespace {ns} created"):
        return
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        job = [a for a in JOB if a not in ("--listen", "127.0.0.1:0")]
        rc, out = run(["ip", "netns", "exec", ns] + MPIRUN + ["-np", "3", TRAIN] + job + ["--rule", "mean"],
                      clean_env())
        trained(rc, out, "mpirun with no address flag at all")
        check("aggregator listening on 0.0.0.0:" in out, "the aggregator listened on every interface")
        check(f"workers told to join {socket.gethostname()}:" in out, "and told the workers this host's name")
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def srun_job(extra, env_of, n=5, timeout=240, base=None):
    """n processes with the variables srun gives task k; returns the statuses and outputs."""
    procs = []
    for k in range(n):
        env = clean_env(SLURM_PROCID=str(k), SLURM_NTASKS=str(n), SLURM_STEP_ID="0", SLURM_JOB_ID="777",
                        **env_of(k))
        cmd = [TRAIN] + (JOB if base is None else base) + extra
        if k == 0:
            print("$ SLURM_PROCID=0..%d" % (n - 1), " ".join(cmd), flush=True)
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
    outs, rcs = [], []
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            o, _ = p.communicate(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            o, _ = p.communicate()
        outs.append(o)
        rcs.append(p.returncode)
    print(outs[0][-2000:], flush=True)
    for k in range(1, n):
        if rcs[k] != 0:
            print(f"worker {k - 1}:", outs[k][-1000:], flush=True)
    return rcs, outs


def scenario_srun_file():
    with tempfile.TemporaryDirectory() as tmp:
        rdv = os.path.join(tmp, "aggregator")
        with open(rdv, "w") as f:  # an earlier job's file: its aggregator is long gone
            f.write("pennant-rendezvous 1\njob 666.0\naddr 127.0.0.1:9\n")
        rcs, outs = srun_job(["--rule", "mean", "--rendezvous", rdv], lambda k: {})
        check(rcs == [0] * 5, f"every task exits 0 ({rcs})")
        check("final: 5 rounds (0 skipped)" in outs[0], "the aggregator (task 0) trained 5 rounds")
        check("through the rendezvous file %s, job 777.0" % rdv in outs[0],
              "the file names the job by SLURM_JOB_ID.SLURM_STEP_ID")
        check(all("127.0.0.1:9" not in o for o in outs[1:]), "no worker took the stale address")
        check(not os.path.exists(rdv), "the aggregator removed the file at exit")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scenario_srun_env():
    addr = f"127.0.0.1:{free_port()}"
    job = [a for a in JOB if a not in ("--listen", "127.0.0.1:0")]  # the aggregator listens on the variable
    rcs, outs = srun_job(["--rule", "trimmed-mean"], lambda k: {"PENNANT_AGGREGATOR": addr}, base=job)
    check(rcs == [0] * 5, f"every task exits 0 ({rcs})")
    check("final: 5 rounds (0 skipped)" in outs[0], "the aggregator (task 0) trained 5 rounds")
    check(f"aggregator listening on {addr}" in outs[0], f"it listened on PENNANT_AGGREGATOR={addr}")


def scenario_plain_slurm():
    for step in (None, "4294967294"):  # an salloc shell; an sbatch script (the batch step)
        extra = {"SLURM_PROCID": "0", "SLURM_NTASKS": "5", "SLURM_JOB_ID": "55"}
        if step:
            extra["SLURM_STEP_ID"] = step
        env = clean_env(**extra)
        del env["PENNANT_JOB_TOKEN"]
        rc, out = run([TRAIN, "--check", "--model", "softmax"], env)
        what = "SLURM_STEP_ID=" + step if step else "no SLURM_STEP_ID"
        check(rc == 0 and "configuration ok: local" in out, f"{what}: a local job, not an aggregator")
        check("not an srun job step" in out and "running a local job" in out, f"{what}: it says so")
        # an explicit role stays the user's: no launcher layout, its own flags
        rc, out = run([TRAIN, "--check", "--role", "aggregator", "--workers", "2", "--rule", "mean"],
                      clean_env(**extra))
        check(rc == 0 and "aggregator, 2 workers" in out, f"{what}: --role aggregator keeps its --workers")


def scenario_env_checks():
    def train(args, **extra):
        return run([TRAIN, "--check", "--model", "softmax"] + args, clean_env(**extra))

    rc, out = train(["--rule", "mean"], PMIX_RANK="0")
    check(rc == 2 and "--workers" in out, "PMIX_RANK alone (no size anywhere): refused, asks for --workers")
    rc, out = train(["--rule", "mean", "--workers", "4"], PMIX_RANK="0")
    check(rc == 0 and "aggregator, 4 workers" in out, "PMIX_RANK=0 with --workers 4: the aggregator of 4")
    rc, out = train([], PMIX_RANK="3", OMPI_COMM_WORLD_SIZE="5")
    check(rc == 0 and "worker, 4 workers" in out, "PMIX_RANK=3 sized by OMPI_COMM_WORLD_SIZE: a worker of 4")
    rc, out = train(["--workers", "3"], OMPI_COMM_WORLD_RANK="1", OMPI_COMM_WORLD_SIZE="5")
    check(rc == 2 and "--workers 3 disagrees" in out, "--workers against the mpirun job size: refused")
    rc, out = train(["--rank", "2"], OMPI_COMM_WORLD_RANK="1", OMPI_COMM_WORLD_SIZE="5")
    check(rc == 2 and "--rank 2 disagrees" in out, "--rank against the launcher's rank: refused")
    rc, out = train(["--role", "worker"], OMPI_COMM_WORLD_RANK="0", OMPI_COMM_WORLD_SIZE="5")
    check(rc == 2 and "is aggregator in this job's layout" in out, "--role against the layout: refused")
    rc, out = train([], SLURM_PROCID="2", SLURM_NTASKS="5", SLURM_STEP_ID="0")
    check(rc == 2 and "needs --connect" in out and "--rendezvous" in out,
          "an srun worker with no rendezvous: refused, naming the ways")
    rc, out = train([], SLURM_PROCID="2", SLURM_NTASKS="5", SLURM_STEP_ID="0", PENNANT_AGGREGATOR="node7")
    check(rc == 2 and "PENNANT_AGGREGATOR='node7' is not HOST:PORT" in out, "a malformed PENNANT_AGGREGATOR")
    with tempfile.TemporaryDirectory() as tmp:
        rdv = os.path.join(tmp, "none")
        rc, out = run([TRAIN, "--model", "softmax", "--rendezvous", rdv, "--rendezvous-timeout", "1"],
                      clean_env(SLURM_PROCID="2", SLURM_NTASKS="5", SLURM_STEP_ID="0", SLURM_JOB_ID="9"))
        check(rc == 1 and rdv in out and "wanted job 9.0" in out and "does not exist" in out,
              "a worker whose rendezvous file never appears: exit 1 naming the file and the job")
    # f: 0 outside local runs whatever --byzantine says, the injected count in local ones
    rc, out = train(["--rule", "krum", "--s", "0", "--byzantine", "3"], OMPI_COMM_WORLD_RANK="0",
                    OMPI_COMM_WORLD_SIZE="5")
    check(rc == 0 and "rule krum (f=0)" in out, "mpirun aggregator: f = 0 by default")
    rc, out = train(["--rule", "krum", "--s", "0", "--role", "aggregator", "--workers", "4"])
    check(rc == 0 and "rule krum (f=0)" in out, "--role aggregator: f = 0 by default")
    rc, out = train(["--rule", "krum", "--workers", "9", "--byzantine", "2"])
    check(rc == 0 and "local" in out and "rule krum (f=2)" in out, "local run: f = --byzantine (2)")
    rc, out = train(["--rule", "krum", "--s", "0", "--f", "1"], OMPI_COMM_WORLD_RANK="0",
                    OMPI_COMM_WORLD_SIZE="6")
    check(rc == 0 and "rule krum (f=1)" in out, "an explicit --f is kept")
    rc, out = train(["--rendezvous", "/tmp/x"])
    check(rc == 2 and "--rendezvous is for a split job" in out, "--rendezvous in a local run: refused")


def scenario_workers_64():
    rc, out = run([TRAIN, "--backend", "tcp", "--workers", "64", "--model", "softmax", "--rounds", "5",
                   "--rule", "median", "--quiet", "--eval-every", "0"], clean_env(), timeout=300)
    trained(rc, out, "64 local workers over tcp")
    check("all 64 workers joined" in out, "all 64 workers joined")


SCENARIOS = {"mpirun": scenario_mpirun, "mpirun-shards": scenario_mpirun_shards,
             "mpirun-tree": scenario_mpirun_tree, "mpirun-pmix": scenario_mpirun_pmix,
             "mpirun-file": scenario_mpirun_file, "mpirun-default-listen": scenario_mpirun_default_listen, "mpirun-refusal": scenario_mpirun_refusal,
             "srun-file": scenario_srun_file, "srun-env": scenario_srun_env,
             "plain-slurm": scenario_plain_slurm, "env-checks": scenario_env_checks,
             "workers-64": scenario_workers_64}


def main():
    SCENARIOS[sys.argv[2]]()
    if FAILS:
        print(f"{len(FAILS)} check(s) failed:", *FAILS, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
