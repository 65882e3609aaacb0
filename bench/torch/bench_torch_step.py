#!/usr/bin/python3
"""Step time of PyTorch workers through Pennant against torch.distributed's gloo
all-reduce of the same model, in the same run and the same processes.

Every worker process holds one model and alternates: a step through Pennant
(pennant.torch.DistributedOptimizer: flatten into the registered buffer, submit, the C
aggregator pulls and averages, wait, unflatten, SGD step), then a step with gloo
(flatten, all_reduce, divide, unflatten, SGD step) on the same kind of batch. Both
include the forward and backward pass. Worker 0 prints the median and p90 of each and the
ratio pennant / gloo (the goal is <= 1.2).

usage: bench_torch_step.py [--workers 4] [--steps 60] [--warmup 10] [--model mlp|cnn]
                           [--batch 32] [--threads 1] [--build DIR] [--json FILE]
"""
import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.dirname(os.path.dirname(HERE))


def args_of(argv=None):
    a = argparse.ArgumentParser()
    a.add_argument("--workers", type=int, default=4)
    a.add_argument("--steps", type=int, default=60, help="timed steps of each kind")
    a.add_argument("--warmup", type=int, default=10)
    a.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    a.add_argument("--batch", type=int, default=32)
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--build", default=os.environ.get("PENNANT_BUILD_DIR") or
                   os.path.join(SRC_ROOT, "build"))
    a.add_argument("--json")
    a.add_argument("--rank", type=int, help=argparse.SUPPRESS)
    a.add_argument("--connect", help=argparse.SUPPRESS)
    a.add_argument("--gloo", help=argparse.SUPPRESS)
    a.add_argument("--out", help=argparse.SUPPRESS)
    return a.parse_args(argv)


def make_model(kind):
    import torch
    import torch.nn as nn
    torch.manual_seed(1)
    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(256, 10))
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                         nn.ReLU(), nn.Linear(128, 10))


def worker(a):
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    sys.path.insert(0, os.path.join(SRC_ROOT, "python"))
    import pennant
    import pennant.torch as ptorch

    model = make_model(a.model)
    params = [p for p in model.parameters()]
    d = sum(p.numel() for p in params)
    dist.init_process_group("gloo", init_method="tcp://" + a.gloo, rank=a.rank,
                            world_size=a.workers)
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(10 + a.rank)
    x = torch.rand(a.batch, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (a.batch,), generator=gen)
    flat = torch.empty(d)

    def backward():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss.item()

    session = pennant.Session(a.rank, a.connect, d, connect_timeout_ms=60000)
    dopt = ptorch.DistributedOptimizer(opt, model.named_parameters(), session)
    t_pn, t_gloo = [], []
    for k in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        if dopt.begin() is None:
            raise SystemExit("the aggregator ended early")
        dopt.step(backward())
        t1 = time.perf_counter()
        # gloo: the same work with all_reduce in place of Pennant
        backward()
        off = 0
        for p in params:
            flat[off:off + p.numel()].view_as(p).copy_(p.grad)
            off += p.numel()
        dist.all_reduce(flat)
        flat.div_(a.workers)
        off = 0
        for p in params:
            p.grad.copy_(flat[off:off + p.numel()].view_as(p))
            off += p.numel()
        opt.step()
        t2 = time.perf_counter()
        session.poll()  # the heartbeat, between Pennant rounds
        if k >= a.warmup:
            t_pn.append(t1 - t0)
            t_gloo.append(t2 - t1)
    if dopt.begin() is not None:
        raise SystemExit("the aggregator has more rounds than expected")
    session.leave()
    dist.destroy_process_group()
    return {"rank": a.rank, "d": d, "pennant_s": t_pn, "gloo_s": t_gloo}


def q(v, f):
    v = sorted(v)
    return v[min(len(v) - 1, int(f * len(v)))]


def launcher(a):
    env = dict(os.environ, PENNANT_JOB_TOKEN=secrets.token_hex(32))
    env.setdefault("PENNANT_LIB", os.path.join(a.build, "libpennant.so"))
    d = sum(p.numel() for p in make_model(a.model).parameters())
    agg_cmd = [os.path.join(a.build, "tools", "pennant-train"), "--role", "aggregator",
               "--serve", "gradient", "--dim", str(d),
               "--workers", str(a.workers), "--rounds", str(a.warmup + a.steps),
               "--rule", "mean", "--code", "uncoded", "--s", "0", "--wait", "all",
               "--deadline-ms", "60000", "--backend", "tcp", "--listen", "127.0.0.1:0",
               "--quiet"]
    os.environ.setdefault("PENNANT_LIB", env["PENNANT_LIB"])  # for our own import below
    sys.path.insert(0, os.path.join(SRC_ROOT, "python"))
    from pennant.launch import Aggregator
    agg = Aggregator(agg_cmd, env)
    addr, log = agg.start(), agg.log
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        gloo = f"127.0.0.1:{s.getsockname()[1]}"
    tmp = tempfile.mkdtemp(prefix="pn-bench-torch-")
    procs = []
    for r in range(a.workers):
        out = os.path.join(tmp, f"w{r}.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--rank", str(r), "--connect", addr,
               "--gloo", gloo, "--out", out, "--workers", str(a.workers), "--steps", str(a.steps),
               "--warmup", str(a.warmup), "--model", a.model, "--batch", str(a.batch),
               "--threads", str(a.threads), "--build", a.build]
        procs.append((subprocess.Popen(cmd, env=env), out))
    rcs = [p.wait(timeout=900) for p, _ in procs]
    arc = agg.proc.wait(timeout=60)
    if any(rcs) or arc:
        sys.stderr.write("".join(log[-20:]))
        raise SystemExit(f"failed: workers {rcs}, aggregator {arc}")
    with open(procs[0][1]) as f:
        rec = json.load(f)
    pn, gl = rec["pennant_s"], rec["gloo_s"]
    res = {"workers": a.workers, "model": a.model, "d": rec["d"], "steps": a.steps,
           "pennant_p50_ms": q(pn, 0.5) * 1e3, "pennant_p90_ms": q(pn, 0.9) * 1e3,
           "gloo_p50_ms": q(gl, 0.5) * 1e3, "gloo_p90_ms": q(gl, 0.9) * 1e3}
    res["ratio_p50"] = res["pennant_p50_ms"] / res["gloo_p50_ms"]
    print(f"{a.workers} workers, {a.model} (d = {rec['d']}), {a.steps} steps each, same processes:")
    print(f"  pennant (tcp, mean)   p50 {res['pennant_p50_ms']:.2f} ms  p90 {res['pennant_p90_ms']:.2f} ms")
    print(f"  gloo all_reduce       p50 {res['gloo_p50_ms']:.2f} ms  p90 {res['gloo_p90_ms']:.2f} ms")
    print(f"  ratio pennant / gloo  {res['ratio_p50']:.2f} (goal <= 1.2)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


def main():
    a = args_of()
    if a.rank is None:
        launcher(a)
        return
    rec = worker(a)
    with open(a.out, "w") as f:
        json.dump(rec, f)


if __name__ == "__main__":
    main()
