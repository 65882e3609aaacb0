#!/usr/bin/env python3
"""The command-line contract of every Pennant program.

usage: check_cli.py BUILD_DIR SCENARIO
  refusals      each bad configuration: exit 2, one line on stderr, nothing on stdout,
                no process forked (checked with strace when installed)
  accepts       good configurations pass --check; f defaults to 0 outside local runs
  version       --version on every program; --help per role; unknown flags: one line, exit 2
  json-benches  benches and offline tools at tiny sizes: their JSON parses (python3 -m
                json.tool), carries provenance, has no NaN/Infinity, '-' is stdout
  json-train    pennant-train --json -: stdout is one JSON document, human lines on stderr
  signal-int / signal-term    SIGINT/SIGTERM to a local run's aggregator: exit 130/143,
                complete JSON with stopped_by, the model saved, every worker gone
  signal-reference            SIGINT to a --reference run: exit 130, complete JSON
  token-mismatch  a worker with another PENNANT_JOB_TOKEN cannot join; the same one can
  all-skipped   a run whose every round is skipped exits 1 and reports no accuracy
  large-p       pennant-agg on a (2^20, 2) array: a clean answer or refusal, never a crash
Exit 0 on success, 77 when a needed tool is missing (meson reports SKIP).
"""
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from proc_state import running  # noqa: E402
from checks import FAILS, check  # noqa: E402

BUILD = sys.argv[1]
TOOLS = os.path.join(BUILD, "tools")
TRAIN = os.path.join(TOOLS, "pennant-train")
NODE = os.path.join(TOOLS, "pennant-node")



def env_without_secret(**extra):
    env = {k: v for k, v in os.environ.items() if k != "PENNANT_JOB_TOKEN"}
    env.update(extra)
    return env


def run(cmd, env=None, timeout=120, cwd=None):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else env_without_secret(), cwd=cwd)


def forked_processes(strace_log):
    """Process creations (not threads) in an strace -f log."""
    out = []
    with open(strace_log) as f:
        for line in f:
            if re.search(r"\b(fork|vfork)\(", line):
                out.append(line.strip())
            elif re.search(r"\bclone3?\(", line) and "CLONE_THREAD" not in line:
                out.append(line.strip())
    return out


def token_file(tmp, name, text, mode):
    """A token file holding text with the given permissions: its path."""
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def refusals():
    tmp = tempfile.mkdtemp(prefix="pn-cli-")
    empty = token_file(tmp, "empty", "", 0o600)
    shared = token_file(tmp, "shared", "secret\n", 0o644)
    agg = os.path.join(TOOLS, "pennant-aggregator")
    wrk = os.path.join(TOOLS, "pennant-worker")
    cases = [
        ([TRAIN, "--rule", "krum", "--byzantine", "2", "--workers", "6"], "krum needs p >= 2f+3"),
        ([TRAIN, "--rule", "bulyan", "--workers", "6", "--byzantine", "1", "--s", "0",
          "--code", "uncoded"], "bulyan needs p >= 4f+3"),
        ([TRAIN, "--rule", "bulyan"], "bulyan needs p >= 4f+3"),
        ([TRAIN, "--straggle", "2:foo:3"], "bad delay"),
        ([TRAIN, "--straggle", "9:fixed:3", "--workers", "6"], "rank '9'"),
        ([TRAIN, "--straggle", "2"], "--straggle RANKS:SPEC"),
        ([TRAIN, "--workers", "2"], "--byzantine must be in"),
        ([TRAIN, "--workers", "2", "--byzantine", "0"], "s < n"),
        ([TRAIN, "--workers", "6", "--code", "cyclic"], "gradient estimates"),
        ([TRAIN, "--save-model", "/nonexistent/x.npy"], "cannot be written"),
        ([TRAIN, "--json", "/nonexistent/x.json"], "cannot be written"),
        ([TRAIN, "--save-worker-model", "/nonexistent/w.npy"], "cannot be written"),
        ([TRAIN, "--serve", "weights"], "--serve is model or gradient"),
        ([TRAIN, "--dim", "1000"], "--dim D is for an aggregator serving gradients"),
        ([agg, "--dim", "1000", "--workers", "4"], "--dim D is for an aggregator serving gradients"),
        ([agg, "--dim", "1000", "--serve", "gradient", "--workers", "4", "--save-model", "/tmp/x.npy"],
         "the aggregator holds no model"),
        ([agg, "--dim", "0", "--serve", "gradient"], "--dim expects an integer"),
        ([TRAIN, "--token", "alice-secret"], "visible to every user"),
        ([TRAIN, "--token=alice-secret"], "--token-file"),
        ([TRAIN, "--frobnicate"], "--help"),
        ([TRAIN, "--workers", "x"], "expects an integer"),
        ([TRAIN, "--workers", "0"], "expects an integer"),
        ([TRAIN, "--lr", "nan"], "finite number"),
        ([TRAIN, "--rule", "nosuch"], "unknown rule"),
        ([TRAIN, "--attack", "nosuch"], "unknown attack"),
        ([TRAIN, "--code", "nosuch"], "unknown code"),
        ([TRAIN, "--wait", "sometimes"], "unknown --wait"),
        ([TRAIN, "--pull-policy", "bogus"], "unknown --pull-policy"),
        ([TRAIN, "--shards", "0"], "--shards expects an integer in [1, 64]"),
        ([TRAIN, "--shards", "65"], "--shards expects an integer in [1, 64]"),
        ([TRAIN, "--shards", "2", "--rule", "mean"], "--shards 2 needs --wait all"),
        ([TRAIN, "--shards", "2", "--wait", "deadline"], "--shards 2 needs --wait all"),
        ([TRAIN, "--shards", "2", "--serve", "gradient"], "--serve gradient is not sharded"),
        ([TRAIN, "--shards", "2", "--code", "comm-efficient", "--rule", "mean", "--wait", "all",
          "--byzantine", "0"], "--code comm-efficient is not sharded"),
        ([TRAIN, "--shards", "2", "--role", "aggregator"], "--shards 2 across hosts needs mpirun"),
        ([TRAIN, "--shards", "2", "--role", "worker", "--rank", "0", "--connect", "h:1,h:2"],
         "--shards 2 across hosts needs mpirun"),
        ([TRAIN, "--tree", "4", "--shards", "2", "--workers", "16", "--rule", "mean", "--byzantine", "0",
          "--wait", "all", "--s", "0"], "one shard"),
        ([TRAIN, "--tree", "4", "--workers", "16", "--node-mode", "robust", "--rule", "median", "--byzantine",
          "0", "--s", "0", "--fixed-point"], "--fixed-point is for sum nodes"),
        ([TRAIN, "--tree", "4", "--node-mode", "fancy"], "--node-mode is sum, robust or replica"),
        ([TRAIN, "--node-mode", "sum"], "--node-mode goes with --tree G"),
        ([TRAIN, "--node-serve", "whole"], "--node-serve goes with --tree G"),
        ([TRAIN, "--tree", "4", "--node-serve", "half"], "--node-serve is prefix or whole"),
        ([TRAIN, "--tree", "4", "--workers", "16", "--node-mode", "robust", "--rule", "median", "--byzantine",
          "0", "--s", "0", "--node-serve", "whole"], "--node-serve is for sum nodes"),
        ([TRAIN, "--tree", "4", "--workers", "15", "--rule", "mean", "--byzantine", "0"], "must divide"),
        ([TRAIN, "--tree", "4", "--workers", "16", "--byzantine", "0"], "--rule mean --code uncoded"),
        ([TRAIN, "--tree", "4", "--workers", "16", "--rule", "mean"], "--byzantine 0"),
        ([TRAIN, "--tree", "4", "--workers", "16", "--rule", "mean", "--byzantine", "0", "--straggle",
          "3:fixed:100"], "need --node-mode replica"),
        ([TRAIN, "--tree", "4", "--workers", "16", "--rule", "mean", "--byzantine", "0", "--backend",
          "verbs"], "over tcp or dpdk"),
        ([TRAIN, "--tree", "4", "--workers", "16", "--rule", "mean", "--byzantine", "0", "--grad-dtype",
          "bf16"], "--tree sums f32 whole gradients"),
        ([wrk, "--tree", "4", "--workers", "16", "--rule", "mean", "--byzantine", "0", "--rank", "0"],
         "not for a worker"),
        ([NODE], "are required"),
        ([NODE, "--node-mode", "robust"], "--node-mode robust needs --rule R"),
        ([NODE, "--serve", "half"], "--serve is prefix or whole"),
        ([NODE, "--node-mode", "replica", "--serve", "whole"], "--serve goes with --node-mode sum"),
        ([NODE, "--node-mode", "mean"], "--node-mode is sum, robust or replica"),
        ([NODE, "--node-mode", "sum", "--quorum", "2"], "--quorum Q goes with --node-mode replica"),
        ([NODE, "--children", "0"], "--children expects an integer"),
        ([NODE, "--connect", "127.0.0.1:1", "--rank", "3", "--children", "4", "--workers", "8",
          "--dim", "10"], "do not fit a job of 8"),
        ([NODE, "--connect", "127.0.0.1:1", "--rank", "0", "--children", "4", "--workers", "8",
          "--dim", "10"], "the job secret is needed"),
        ([TRAIN, "--comm-dim", "0", "--code", "comm-efficient"], "--comm-dim expects an integer"),
        ([TRAIN, "--comm-dim", "2", "--code", "cyclic", "--rule", "mean"], "needs --code comm-efficient"),
        ([TRAIN, "--comm-dim", "2", "--rule", "mean", "--byzantine", "0"], "needs --code comm-efficient"),
        ([TRAIN, "--code", "comm-efficient", "--comm-dim", "5", "--s", "2", "--workers", "6",
          "--rule", "mean", "--byzantine", "0"], "s + m <= n"),
        ([TRAIN, "--code", "comm-efficient", "--comm-dim", "2", "--s", "1", "--workers", "6",
          "--rule", "median", "--byzantine", "0"], "use rule mean with it"),
        ([TRAIN, "--code", "comm-efficient", "--comm-dim", "2", "--s", "1", "--workers", "7",
          "--byzantine", "1"], "estimates nothing"),
        ([TRAIN, "--role", "boss"], "unknown role"),
        ([TRAIN, "--kill-rank", "3"], "go together"),
        ([TRAIN, "--kill-node", "1", "--kill-round", "5"], "goes with --tree G"),
        ([TRAIN, "--tree", "4", "--kill-node", "4", "--kill-round", "5", "--workers", "16", "--rule", "mean",
          "--byzantine", "0"], "not a node of this local tree"),
        ([TRAIN, "--kill-rank", "30", "--kill-round", "2"], "not a worker"),
        ([TRAIN, "--tree", "4", "--workers", "8", "--rule", "mean", "--byzantine", "0", "--node-stall-ms", "500"],
         "goes with --kill-node"),
        ([TRAIN, "--f", "15"], "below the 15 workers"),
        ([TRAIN, "--model", "mlp:abc", "--backend", "tcp"], ""),
        ([TRAIN, "--role", "aggregator", "--listen", "0.0.0.0:7470"], "needs the job secret"),
        ([agg], "needs the job secret"),
        ([agg, "--listen", "127.0.0.1:7470"], "needs the job secret"),  # split roles: loopback too
        ([wrk, "--connect", "127.0.0.1:7470", "--rank", "0"], "needs the job secret"),
        ([agg, "--listen", "192.0.2.7:7470"], "needs the job secret"),
        ([wrk, "--connect", "192.0.2.7:7470", "--rank", "0"], "needs the job secret"),
        ([wrk, "--rank", "0"], "needs --connect"),
        ([wrk, "--connect", "127.0.0.1:7470"], "--rank"),
        ([agg, "--token-file", empty], "is empty"),
        ([agg, "--token-file", shared], "chmod 600"),
        ([agg, "--token-file", os.path.join(tmp, "missing")], "No such file"),
        ([TRAIN, "unexpected"], "unexpected argument"),
        ([agg, "--listen", "nohost"], "not HOST:PORT"),
        ([wrk, "--connect", "127.0.0.1:99999", "--rank", "0"], "not HOST:PORT"),
    ]
    strace = shutil.which("strace")
    if not strace:
        print("note: strace not installed; 'nothing forked' is not checked")
    for cmd, want in cases:
        log = os.path.join(tmp, "strace.log")
        full = ([strace, "-f", "-qq", "-e", "trace=fork,vfork,clone,clone3", "-o", log] if strace else []) + cmd
        # LeakSanitizer (the ASan build) cannot run under ptrace and forks its own tracer
        # at exit: leaks are checked by the other tests, not under strace
        p = run(full, env=dict(env_without_secret(), ASAN_OPTIONS="detect_leaks=0"))
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        name = " ".join(os.path.basename(cmd[0]) if i == 0 else a for i, a in enumerate(cmd))
        check(p.returncode == 2, f"{name}: exit 2 (got {p.returncode})")
        check(len(lines) == 1 and want in lines[0],
              f"{name}: one line containing {want!r} (got {lines})")
        check(p.stdout == "", f"{name}: nothing on stdout (got {p.stdout[:200]!r})")
        if strace:
            forks = forked_processes(log)
            check(not forks, f"{name}: nothing forked ({forks[:2]})")
    shutil.rmtree(tmp)


def accepts():
    tmp = tempfile.mkdtemp(prefix="pn-cli-")
    good = token_file(tmp, "token", "alice-secret\n", 0o600)
    agg = os.path.join(TOOLS, "pennant-aggregator")
    wrk = os.path.join(TOOLS, "pennant-worker")
    cases = [
        ([TRAIN, "--check"], {}, ["rule flag (f=3)", "secret random per run"]),
        ([TRAIN, "--check", "--byzantine", "0"], {}, ["(f=0)"]),
        ([TRAIN, "--check", "--rule", "krum", "--workers", "9", "--byzantine", "2"], {}, ["krum (f=2)"]),
        ([agg, "--check", "--token-file", good], {}, ["aggregator", "(f=0)", "token file"]),
        ([agg, "--check", "--byzantine-ranks", "1,2", "--workers", "8"],
         {"PENNANT_JOB_TOKEN": "alice-secret"}, ["(f=0)", "PENNANT_JOB_TOKEN"]),
        ([wrk, "--check", "--connect", "192.0.2.7:7470", "--rank", "3"],
         {"PENNANT_JOB_TOKEN": "mallory"}, ["worker", "PENNANT_JOB_TOKEN"]),
        ([TRAIN, "--check", "--reference"], {}, ["reference"]),
        ([TRAIN, "--check", "--shards", "1"], {}, ["rule flag (f=3)"]),
        ([TRAIN, "--check", "--code", "comm-efficient", "--comm-dim", "3", "--s", "1", "--workers", "6",
          "--rule", "mean", "--byzantine", "0"], {}, ["code comm-efficient (s=1, m=3)"]),
    ]
    for cmd, extra, wants in cases:
        p = run(cmd, env=env_without_secret(**extra))
        name = " ".join([os.path.basename(cmd[0])] + cmd[1:])
        check(p.returncode == 0, f"{name}: accepted (exit {p.returncode}: {p.stderr.strip()})")
        for w in wants:
            check(w in p.stderr, f"{name}: says {w!r} ({p.stderr.strip()})")
    shutil.rmtree(tmp)


def programs():
    progs = [os.path.join(TOOLS, n) for n in
             ("pennant-train", "pennant-aggregator", "pennant-worker", "pennant-agg", "pennant-agg-demo",
              "pennant-node")]
    for sub, n in (("agg", "pennant-bench-agg"), ("pull", "pennant-bench-pull"),
                   ("round", "pennant-bench-round"), ("stragglers", "pennant-bench-stragglers"),
                   ("dpdk_raw", "pennant-bench-dpdk-raw")):
        path = os.path.join(BUILD, "bench", sub, n)
        if os.path.exists(path):
            progs.append(path)
    return progs


def version():
    for prog in programs():
        name = os.path.basename(prog)
        p = run([prog, "--version"])
        check(p.returncode == 0 and re.fullmatch(re.escape(name) + r" \d+\.\d+\.\d+ \(\S+\)\n", p.stdout),
              f"{name} --version: {p.stdout.strip()!r}")
        p = run([prog, "--no-such-flag"])
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2 and len(lines) == 1 and "--help" in lines[0] and "--no-such-flag" in lines[0],
              f"{name} --no-such-flag: exit 2, one line with a --help hint ({p.returncode}, {lines})")
        p = run([prog, "--help"])
        check(p.returncode == 0 and p.stdout.startswith("usage: " + name),
              f"{name} --help: its own usage ({p.stdout[:60]!r})")
    w = run([os.path.join(TOOLS, "pennant-worker"), "--help"]).stdout
    a = run([os.path.join(TOOLS, "pennant-aggregator"), "--help"]).stdout
    check("--connect" in w and "--rule" not in w, "pennant-worker --help lists worker options only")
    check("--listen" in a and "--kill-rank" not in a, "pennant-aggregator --help lists aggregator options")
    check(run([TRAIN, "--role", "worker", "--help"]).stdout.startswith("usage: pennant-train --connect"),
          "pennant-train --role worker --help prints the worker usage")


def strict_json(text, name):
    """Parses like python3 -m json.tool, and refuses NaN/Infinity (not JSON)."""
    def bad_constant(c):
        raise ValueError(f"non-JSON constant {c}")
    try:
        doc = json.loads(text, parse_constant=bad_constant)
    except ValueError as e:
        check(False, f"{name}: output is JSON ({e}): {text[:300]!r}")
        return None
    p = subprocess.run([sys.executable, "-m", "json.tool"], input=text, capture_output=True, text=True)
    check(p.returncode == 0, f"{name}: python3 -m json.tool accepts it")
    prov = doc.get("pennant", {}) if isinstance(doc, dict) else {}
    check(all(prov.get(k) for k in ("version", "commit", "host")),
          f"{name}: carries version, commit and host ({prov})")
    return doc


def write_npy(path, rows):
    p, d = len(rows), len(rows[0])
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (p, d)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        for r in rows:
            f.write(struct.pack("<%df" % d, *r))


def json_benches():
    tmp = tempfile.mkdtemp(prefix="pn-cli-")
    npy = os.path.join(tmp, "g.npy")
    write_npy(npy, [[float(i + j) for j in range(16)] for i in range(6)])
    b = lambda sub, n: os.path.join(BUILD, "bench", sub, n)
    cases = [
        ("bench-agg --no-naive", [b("agg", "pennant-bench-agg"), "--p", "4", "--d", "1000", "--reps", "1",
                                  "--warmup", "0", "--no-naive", "--json"]),
        ("bench-agg", [b("agg", "pennant-bench-agg"), "--p", "4", "--d", "500", "--reps", "1", "--warmup", "0",
                       "--rules", "flag,krum", "--json"]),
        ("bench-pull --json -", [b("pull", "pennant-bench-pull"), "--sizes", "64:128", "--iters", "10",
                                 "--lat-iters", "3", "--json", "-"]),
        ("bench-pull --no-baseline", [b("pull", "pennant-bench-pull"), "--sizes", "64", "--iters", "10",
                                      "--lat-iters", "0", "--no-baseline", "--json", "-"]),
        ("bench-round", [b("round", "pennant-bench-round"), "--n", "2", "--d", "1000", "--rounds", "2",
                         "--warmup", "0", "--json"]),
        ("bench-round --rounds 150", [b("round", "pennant-bench-round"), "--n", "2", "--d", "4e6", "--rounds", "150",
                                      "--warmup", "1", "--json"]),
        ("bench-stragglers", [b("stragglers", "pennant-bench-stragglers"), "--n", "6", "--rounds", "5", "--json"]),
        ("pennant-agg", [os.path.join(TOOLS, "pennant-agg"), "--rule", "krum", "--f", "1", npy,
                         "-o", os.path.join(tmp, "out.npy"), "--json"]),
        ("pennant-agg-demo", [os.path.join(TOOLS, "pennant-agg-demo"), "--p", "5", "--f", "1", "--d", "1000",
                              "--json"]),
    ]
    for name, cmd in cases:
        p = run(cmd, cwd=tmp)
        check(p.returncode == 0, f"{name}: exit 0 ({p.returncode}: {p.stderr[-300:]})")
        doc = strict_json(p.stdout, name)
        if doc is None:
            continue
        if name == "bench-agg --no-naive":
            r = doc["results"][0]
            check(r["flag_naive_s"] is None and r["ratio_naive_vs_flag"] is None,
                  "bench-agg --no-naive: the naive route not measured is null")
        if name == "bench-pull --no-baseline":
            r = doc["results"][0]
            check(doc["baseline"] is None and r["baseline_mib"] is None and r["ratio"] is None,
                  "bench-pull --no-baseline: baseline not measured is null, not -1 or 0")
            check(r["lat_us"]["median"] is None, "bench-pull --lat-iters 0: latency not measured is null")
        if name.startswith("bench-round"):
            # /proc/stat counts 10 ms ticks: under a second of rounds is not measured (null);
            # 150 rounds moving 64 MB each take over a second on any machine
            for r in doc["results"]:
                busy, floor, span = r["cpu_busy_fraction"], r["cpu_floor_s"], r["cpu_span_s"]
                if name == "bench-round":
                    check(span < 1 and busy is None and floor is None,
                          f"bench-round: rounds too short for clock ticks: CPU share and floor are null ({busy}, {floor}, {span} s)")
                else:
                    check(span >= 1 and busy is not None and 0 < busy <= 1.05 and floor is not None and
                          0 < floor <= 2 * r["round_p50_s"],
                          f"bench-round: over a second of rounds, the CPU share and floor are measured ({busy}, {floor}, {span} s)")
    check(not os.path.exists(os.path.join(tmp, "-")), "bench-pull --json - wrote no file named '-'")
    shutil.rmtree(tmp)


def json_train():
    base = [TRAIN, "--backend", "tcp", "--workers", "4", "--byzantine", "1", "--rounds", "4", "--model",
            "softmax", "--batch", "8", "--eval-every", "2", "--json", "-"]
    p = run(base, timeout=300)
    check(p.returncode == 0, f"pennant-train --json -: exit 0 ({p.returncode}: {p.stderr[-500:]})")
    doc = strict_json(p.stdout, "pennant-train --json -")
    if doc:
        check(len(doc["rounds"]) == 4, "four round records")
        check(doc["rounds"][0]["test_acc"] is None and doc["rounds"][1]["test_acc"] is not None,
              "a round not evaluated has test_acc null; an evaluated one a number")
        check(doc["final"]["trained"] is True and isinstance(doc["final"]["test_acc"], float),
              "final accuracy of a run that trained")
        check(len(doc["workers"]) == 4 and doc["config"]["f"] == 1, "workers and config")
    check("round    3" in p.stderr and "final:" in p.stderr, "human lines went to stderr")
    p = run([TRAIN, "--reference", "--rounds", "3", "--model", "softmax", "--batch", "8", "--json", "-"],
            timeout=300)
    check(p.returncode == 0, f"pennant-train --reference --json -: exit 0 ({p.stderr[-300:]})")
    doc = strict_json(p.stdout, "pennant-train --reference --json -")
    if doc:
        check(doc["config"]["role"] == "reference" and len(doc["rounds"]) == 3, "reference record")


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    kids.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def read_until(stream, pattern, seconds, proc):
    """Reads a child's pipe (unbuffered: select and Python's buffering do not mix) until
    `pattern` matches the text so far, EOF, or `seconds` pass. Returns (match, text)."""
    fd, text, deadline = stream.fileno(), "", time.time() + seconds
    while time.time() < deadline:
        m = re.search(pattern, text) if pattern else None
        if m:
            return m, text
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            text += chunk.decode(errors="replace")
        elif proc.poll() is not None:
            break
    return (re.search(pattern, text) if pattern else None), text


def signal_run(sig, reference=False):
    tmp = tempfile.mkdtemp(prefix="pn-cli-")
    js, model = os.path.join(tmp, "run.json"), os.path.join(tmp, "model.npy")
    cmd = [TRAIN, "--model", "softmax", "--batch", "8", "--rounds", "100000000", "--eval-every", "0",
           "--json", js, "--save-model", model]
    cmd += ["--reference"] if reference else ["--backend", "tcp", "--workers", "4", "--byzantine", "1"]
    # the JSON goes to a file: the round lines come on stdout
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env_without_secret())
    m, seen = read_until(p.stdout, r"round   20 ", 120, p)
    check(m is not None, f"the run reached round 20 ({seen[-300:]!r})")
    workers = children_of(p.pid)
    if not reference:
        check(len(workers) == 4, f"4 forked workers before the signal ({workers})")
    p.send_signal(sig)
    read_until(p.stdout, None, 120, p)  # drain the output until the run ends (EOF)
    try:
        rc = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
        check(False, f"the run stopped within 120 s of {sig.name}")
    want = 128 + sig
    name = ("reference " if reference else "") + sig.name
    check(rc == want, f"{name}: exit {want} (got {rc})")
    for _ in range(150):  # a worker whose aggregator is gone exits within 10 s at most
        if not [w for w in workers if running(w)]:
            break
        time.sleep(0.1)
    check(not [w for w in workers if running(w)], f"{name}: every worker is gone")
    try:
        with open(js) as f:
            doc = strict_json(f.read(), f"{name}: JSON")
    except OSError as e:
        doc = None
        check(False, f"{name}: JSON written ({e})")
    if doc:
        check(doc["final"]["stopped_by"] == sig.name, f"{name}: final.stopped_by = {sig.name}")
        check(0 < doc["final"]["rounds"] < 100000000, f"{name}: the run stopped early ({doc['final']['rounds']})")
    check(os.path.exists(model) and os.path.getsize(model) > 128, f"{name}: the model was saved")
    shutil.rmtree(tmp)


def token_mismatch():
    common = ["--backend", "tcp", "--workers", "1", "--rounds", "3", "--model", "softmax", "--batch", "8",
              "--eval-every", "0", "--byzantine", "0", "--s", "0", "--code", "uncoded"]

    def attempt(agg_secret, worker_secret):
        agg = subprocess.Popen([os.path.join(TOOLS, "pennant-aggregator"), "--listen", "127.0.0.1:0"] + common,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=env_without_secret(PENNANT_JOB_TOKEN=agg_secret))
        m, seen = read_until(agg.stderr, r"listening on (\S+)", 60, agg)
        addr = m.group(1) if m else None
        if addr is None:
            agg.kill()
            agg.wait()
            check(False, f"aggregator listens ({seen[-300:]})")
            return None, None
        w = run([os.path.join(TOOLS, "pennant-worker"), "--connect", addr, "--rank", "0"] + common,
                env=env_without_secret(PENNANT_JOB_TOKEN=worker_secret), timeout=120)
        try:
            read_until(agg.stderr, None, 20, agg)
            arc = agg.wait(timeout=5)
        except subprocess.TimeoutExpired:
            agg.kill()
            arc = None
            agg.wait()
        return w.returncode, arc

    wrc, arc = attempt("alice-secret", "alice-secret")
    check(wrc == 0 and arc == 0, f"the same PENNANT_JOB_TOKEN joins and trains (worker {wrc}, aggregator {arc})")
    wrc, arc = attempt("alice-secret", "mallory")
    check(wrc not in (0, None) and arc != 0,
          f"another PENNANT_JOB_TOKEN cannot join (worker {wrc}, aggregator {arc})")


def all_skipped():
    # the only worker that could make the uncoded decode whole dies in round 0
    p = run([TRAIN, "--backend", "tcp", "--workers", "2", "--byzantine", "0", "--s", "0", "--code", "uncoded",
             "--rule", "mean", "--rounds", "3", "--model", "softmax", "--batch", "8", "--kill-rank", "0",
             "--kill-round", "0", "--deadline-ms", "200", "--json", "-"], timeout=300)
    check(p.returncode == 1, f"every round skipped: exit 1 (got {p.returncode})")
    doc = strict_json(p.stdout, "all-skipped --json -")
    if doc:
        f = doc["final"]
        check(f["skipped"] == f["rounds"] == 3 and f["trained"] is False, f"final says nothing trained ({f})")
        check(f["test_acc"] is None and f["test_loss"] is None, "no accuracy for a run that did not train")
    check("no accuracy to report" in p.stderr and "test accuracy" not in p.stderr,
          "the summary reports no accuracy")


def large_p():
    tmp = tempfile.mkdtemp(prefix="pn-cli-")
    npy = os.path.join(tmp, "big.npy")
    p, d = 1 << 20, 2
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (p, d)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(npy, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<f", 1.0) * (p * d))
    for rule in ("mean", "median"):
        r = run([os.path.join(TOOLS, "pennant-agg"), "--rule", rule, npy, "-o", os.path.join(tmp, "o.npy")],
                timeout=600)
        check(r.returncode in (0, 1) and (r.returncode == 0 or r.stderr.strip()),
              f"pennant-agg --rule {rule} with p = 2^20: exit {r.returncode} ({r.stderr.strip()[:200]})")
    shutil.rmtree(tmp)


def main():
    scenario = sys.argv[2]
    {"refusals": refusals, "accepts": accepts, "version": version, "json-benches": json_benches,
     "json-train": json_train, "signal-int": lambda: signal_run(signal.SIGINT),
     "signal-term": lambda: signal_run(signal.SIGTERM),
     "signal-reference": lambda: signal_run(signal.SIGINT, reference=True),
     "token-mismatch": token_mismatch, "large-p": large_p, "all-skipped": all_skipped}[scenario]()
    if FAILS:
        print(f"{len(FAILS)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
