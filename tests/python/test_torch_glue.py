#!/usr/bin/python3
"""pennant.torch without an aggregator: a fake session stands in for pennant.Session (its
"aggregate" is a known function of what was submitted), so the flatten/unflatten of the
DistributedOptimizer and the DDP hook's bucket placement are checked exactly; then the
real Session's error path against an address nobody listens on, and real sessions encoding
for a comm-efficient aggregator (Session.encode).

usage: test_torch_glue.py BUILD_DIR
"""
import os
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "python"))
os.environ.setdefault("PENNANT_LIB", os.path.join(sys.argv[1], "libpennant.so"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

import pennant  # noqa: E402
import pennant.torch as ptorch  # noqa: E402

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


class FakeSession:
    """Two alternating registered slots like the C session; the served aggregate is
    scale * (what was submitted) + shift, skipped on the rounds listed."""

    def __init__(self, d, scale=0.5, shift=0.25, skip=(), resync=()):
        self.d = d
        self.resync = set(resync)
        self.slots = [np.zeros(d, np.float32), np.zeros(d, np.float32)]
        self.number = -1
        self.scale, self.shift, self.skip = scale, shift, set(skip)
        self.submitted = []

    def begin(self, timeout_ms=-1, model=None):
        self.number += 1
        return pennant.RoundInfo(self.number, [(0, 1.0)], 1, pennant.SERVE_GRADIENT,
                                 self.number == 0 or self.number in self.resync)

    @property
    def gradient_tensor(self):
        return torch.from_numpy(self.slots[self.number % 2])

    def submit(self, loss=float("nan"), status=0):
        self.submitted.append(self.slots[self.number % 2].copy())

    def wait(self, out, timeout_ms=-1):
        if self.number in self.skip:
            return None
        out[:] = self.scale * self.submitted[-1] + self.shift
        return out


def model():
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 20),
                         nn.ReLU(), nn.Linear(20, 5))


def batch(step):
    g = torch.Generator().manual_seed(100 + step)
    return torch.randn(6, 1, 8, 8, generator=g), torch.randint(0, 5, (6,), generator=g)


def local_grads(m, step):
    m.zero_grad()
    x, y = batch(step)
    F.cross_entropy(m(x), y).backward()
    return [p.grad.clone() for p in m.parameters()]


def test_optimizer():
    m = model()
    d = sum(p.numel() for p in m.parameters())
    s = FakeSession(d, skip={2})
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    dopt = ptorch.DistributedOptimizer(opt, m.named_parameters(), s)
    for step in range(4):
        r = dopt.begin()
        g = local_grads(m, step)
        before = [p.detach().clone() for p in m.parameters()]
        dopt.step(0.0)
        flat = torch.cat([x.reshape(-1) for x in g])
        check(torch.equal(torch.from_numpy(s.submitted[-1]), flat),
              f"optimizer step {step}: the registered slot {r.number % 2} holds the flat gradient")
        if step == 2:
            check(dopt.skipped and all(torch.equal(a, p) for a, p in zip(before, m.parameters())),
                  "optimizer: a skipped round is not stepped")
            continue
        ok = all(torch.allclose(p.grad, 0.5 * x + 0.25) for p, x in zip(m.parameters(), g))
        check(ok and not dopt.skipped, f"optimizer step {step}: .grad is the served aggregate")
        moved = all(torch.allclose(p, b - 0.1 * (0.5 * x + 0.25)) for p, b, x in zip(m.parameters(), before, g))
        check(moved, f"optimizer step {step}: the wrapped SGD stepped with it")
    lost = ptorch.DistributedOptimizer(opt, m.named_parameters(), FakeSession(d, resync={2}))
    try:
        for step in range(3):
            lost.begin()
            local_grads(m, step)
            lost.step(0.0)
        check(False, "optimizer: a worker that missed a result (resync) stops")
    except pennant.PennantError as e:
        check(lost.session.number == 2, f"optimizer: a worker that missed a result stops at round 2 ({e})")
    try:
        ptorch.DistributedOptimizer(opt, m.named_parameters(), FakeSession(d + 1))
        check(False, "optimizer: a parameter count different from d is refused")
    except ValueError as e:
        check("d = " in str(e), f"optimizer: a parameter count different from d is refused ({e})")
    return m


def test_ddp_matches_optimizer():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        port = so.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    m = model()
    d = sum(p.numel() for p in m.parameters())
    dist._DEFAULT_FIRST_BUCKET_BYTES = 1000  # DDP's first bucket is 1 MB otherwise: one bucket
    ddp = DistributedDataParallel(m, bucket_cap_mb=0.001)
    s = FakeSession(d, skip={2})
    state = ptorch.HookState(s)
    ddp.register_comm_hook(state, ptorch.comm_hook)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    ref = model()
    ref_opt = ptorch.DistributedOptimizer(torch.optim.SGD(ref.parameters(), lr=0.1),
                                          ref.named_parameters(), FakeSession(d, skip={2}))
    for step in range(4):
        state.begin()
        opt.zero_grad()
        x, y = batch(step)
        ptorch.coded_backward(state.round, {0: (x, y)}, lambda b: F.cross_entropy(ddp(b[0]), b[1]),
                              ddp=ddp, state=state)
        check(len(s.submitted) == step + 1, f"ddp step {step}: the hook submitted once")
        if not state.skipped:
            opt.step()
        ref_opt.begin()
        local_grads(ref, step)
        ref_opt.step(0.0)
        same = all(torch.equal(a, b) for a, b in zip(m.parameters(), ref.parameters()))
        check(same, f"ddp step {step}: the same model as the DistributedOptimizer's")
    check(state.skipped is False and len(state.buckets) > 1,
          f"ddp: several buckets ({len(state.buckets)}) covering d = {d}")
    check(state.remaps >= len(state.buckets), f"ddp: bucket mapping recorded ({state.remaps} records)")
    n = state.remaps
    for step in range(4, 6):
        if step == 4:
            state.begin()  # step 5: the hook begins the round itself
        opt.zero_grad()
        x, y = batch(step)
        state.set_loss(0.0)
        F.cross_entropy(ddp(x), y).backward()
        opt.step()
        ref_opt.begin()
        local_grads(ref, step)
        ref_opt.step(0.0)
    check(state.remaps == n, f"ddp: unchanged buckets are not recorded again ({state.remaps} == {n})")
    check(s.number == 5 and all(torch.equal(a, b) for a, b in zip(m.parameters(), ref.parameters())),
          "ddp: a round not begun by the caller is begun by the hook before its first copy")
    dist.destroy_process_group()


def test_session_errors():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        port = so.getsockname()[1]  # closed again: nobody listens there
    os.environ["PENNANT_JOB_TOKEN"] = "glue-test-secret"
    try:
        pennant.Session(0, f"127.0.0.1:{port}", 10, connect_timeout_ms=300)
        check(False, "joining an address nobody listens on fails")
    except pennant.PennantError as e:
        check(e.errno != 0 and "127.0.0.1" in str(e),
              f"joining an address nobody listens on raises PennantError ({e})")
    try:
        pennant.Session(0, "127.0.0.1:1", 0)
        check(False, "d = 0 is refused")
    except ValueError:
        check(True, "d = 0 is refused")
    check(pennant.version() != "", f"library version {pennant.version()} from {pennant._lib.path}")


def test_session_encode():
    """Real sessions against pennant-train serving gradients of a comm-efficient code (n=3,
    s=1, m=2): each worker encodes its partitions' gradients (grad_j = (j+1)·u) with
    Session.encode into a ceil(d/2)-float slot; the served aggregate is their mean, exactly."""
    import threading
    from pennant.launch import Aggregator
    n, d, rounds = 3, 11, 3
    env = dict(os.environ, PENNANT_JOB_TOKEN="glue-test-secret")
    os.environ["PENNANT_JOB_TOKEN"] = env["PENNANT_JOB_TOKEN"]
    cmd = [os.path.join(sys.argv[1], "tools", "pennant-train"), "--role", "aggregator", "--serve",
           "gradient", "--dim", str(d), "--workers", str(n), "--rounds", str(rounds), "--rule", "mean",
           "--byzantine", "0", "--code", "comm-efficient", "--comm-dim", "2", "--s", "1", "--wait", "all",
           "--backend", "tcp", "--listen", "127.0.0.1:0", "--quiet"]
    agg = Aggregator(cmd, env)
    addr = agg.start()
    u = np.arange(1, d + 1, dtype=np.float32) / d
    seen = {}

    def worker(rank):
        with pennant.Session(rank, addr, d, connect_timeout_ms=20000) as s:
            seen[rank] = [s.comm_dim, s.message_len]
            out = np.empty(d, dtype=np.float32)
            while (r := s.begin()) is not None:
                if r.comm_dim != 2 or not all(c != c for _, c in r.parts) or s.gradient.shape != (6,):
                    seen[rank].append("bad round")
                s.encode([(p + 1) * u for p, _ in r.parts])
                s.submit(0.0)
                g = s.wait(out)
                if g is not None:
                    seen[rank].append(float(np.max(np.abs(g - (n + 1) / 2 * u))))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    agg.proc.wait(30)
    agg.stop()
    check(agg.proc.returncode == 0, f"the comm-efficient aggregator exited 0 ({''.join(agg.log)[-400:]})")
    for rank in range(n):
        got = seen.get(rank, [])
        check(got[:2] == [2, 6], f"session {rank}: comm_dim 2, messages of ceil(11/2) = 6 floats ({got[:2]})")
        errs = got[2:]
        check(len(errs) == rounds and all(isinstance(e, float) and e < 1e-5 for e in errs),
              f"session {rank}: every served aggregate is the partitions' mean ({errs})")


def main():
    torch.set_num_threads(1)
    test_optimizer()
    test_ddp_matches_optimizer()
    test_session_errors()
    test_session_encode()
    if failures:
        raise SystemExit(f"FAIL: {len(failures)} check(s) failed")
    print("PASS")


if __name__ == "__main__":
    main()
