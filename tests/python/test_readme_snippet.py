#!/usr/bin/python3
"""The README's "PyTorch: use your own model" code runs as written: two worker processes
each execute the README's code block (only HOST:PORT replaced by the aggregator's address)
in a namespace that holds nothing but the names it leaves to the reader (rank, d, model,
loss_fn, my_batches), against the C aggregator in gradient service mode, 5 rounds; each
ends with a stepped model, the aggregator finishes every round.

usage: test_readme_snippet.py BUILD_DIR
"""
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests"))
sys.path.insert(0, os.path.join(SRC, "python"))
from checks import FAILS, check  # noqa: E402

ROUNDS, WORKERS = 5, 2
# One worker: the names the README leaves to the reader, then its code block in a fresh
# namespace (so a missing import in it fails here too).
WORKER = r"""
import sys, torch
snippet = open(sys.argv[2]).read()
torch.manual_seed(0)
model = torch.nn.Linear(6, 3)
before = [p.detach().clone() for p in model.parameters()]
gen = torch.Generator().manual_seed(int(sys.argv[1]))
names = dict(rank=int(sys.argv[1]), model=model, d=sum(p.numel() for p in model.parameters()),
             loss_fn=torch.nn.functional.cross_entropy,
             my_batches=lambda part: (torch.randn(8, 6, generator=gen),
                                      torch.randint(0, 3, (8,), generator=gen)))
exec(compile(snippet, "README.md", "exec"), names)
moved = any(not torch.equal(a, p.detach()) for a, p in zip(before, model.parameters()))
print("stepped" if moved else "not stepped", flush=True)
"""


def readme_block():
    with open(os.path.join(SRC, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## PyTorch: use your own model.*?```python\n(.*?)```", text, re.S | re.M)
    return m.group(1) if m else None


def main():
    build = sys.argv[1]
    block = readme_block()
    if not check(block is not None, "README has the 'use your own model' python block"):
        raise SystemExit("FAIL")
    lines = block.strip("\n").split("\n")
    check(len(lines) <= 10, f"the block is at most 10 lines ({len(lines)})")
    check("HOST:PORT" in block, "the block names the aggregator's address HOST:PORT")
    from pennant.launch import Aggregator
    # the workers import pennant as an installed package would be found: PYTHONPATH
    env = dict(os.environ, PENNANT_JOB_TOKEN=secrets.token_hex(32), PYTHONPATH=os.path.join(SRC, "python"),
               PENNANT_LIB=os.path.join(build, "libpennant.so"), PENNANT_BUILD_DIR=build)
    d = 6 * 3 + 3  # the workers' model: Linear(6, 3)
    tmp = tempfile.mkdtemp(prefix="pn-readme-")
    agg = Aggregator([os.path.join(build, "tools", "pennant-train"), "--role", "aggregator",
                      "--serve", "gradient", "--dim", str(d), "--workers", str(WORKERS),
                      "--rounds", str(ROUNDS), "--rule", "mean", "--code", "uncoded", "--s", "0",
                      "--backend", "tcp", "--listen", "127.0.0.1:0", "--quiet"], env)
    try:
        addr = agg.start()
        snippet = os.path.join(tmp, "readme_snippet.py")
        with open(snippet, "w") as f:
            f.write(block.replace("HOST:PORT", addr))
        procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(rank), snippet], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for rank in range(WORKERS)]
        outs = [p.communicate(timeout=50)[0] for p in procs]
        for rank, (p, out) in enumerate(zip(procs, outs)):
            print(out[-2000:], flush=True)
            check(p.returncode == 0 and out.strip().endswith("stepped") and "not stepped" not in out,
                  f"worker {rank} ran the README's code and stepped its model (exit {p.returncode})")
        try:
            agg_rc = agg.proc.wait(timeout=5 if FAILS else 20)
        except subprocess.TimeoutExpired:
            agg_rc = "none: still running 20 s after the workers"
    finally:
        for p in locals().get("procs", []):
            if p.poll() is None:
                p.kill()
        agg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    check(agg_rc == 0, f"the aggregator finished its {ROUNDS} rounds (exit {agg_rc})")
    if FAILS:
        print("".join(agg.log[-20:]))
        raise SystemExit(f"FAIL: {len(FAILS)} check(s) failed")
    print("PASS")


if __name__ == "__main__":
    main()
