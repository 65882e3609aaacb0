#!/usr/bin/env python3
"""Fault matrix: the training job under faults, on one backend, as real processes.

usage: fault_matrix.py BUILD_DIR --medium tcp|memif|afpacket|verbs [--case NAME ...]

The harness starts the aggregator (pennant-aggregator) and every worker (pennant-worker) as
separate processes itself, so it can signal any one of them, and then injects:

  worker-kill      kill -9 of one worker mid-run
  worker-stop      SIGSTOP of one worker for 5 s (longer until a round has gone on
                   without it), then SIGCONT
  aggregator-kill  kill -9 of the aggregator mid-run
  garbage-client   a client sending garbage at the aggregator's address mid-run
  wrong-token      an extra worker with another job secret tries to join mid-run
  byzantine-death  1 Byzantine worker; a honest worker dies mid-run (compared with the
                   same run without the death)
  comm-efficient-kill  kill -9 of one worker of a --code comm-efficient --comm-dim 2 job
                   (rule mean): no round skipped, the other n - s messages decode

Each case asserts: the aggregator keeps running and finishes every round (or, when it was
the one killed, every worker is gone within 10 s); the saved model is finite; after a death
accuracy stays within 5 points of the same run without it; no process, network namespace,
hugepage file, DPDK runtime folder or temporary file of the case is left behind.

Media: tcp on loopback; memif = dpdk over net_memif (one server port per worker on the
aggregator, plus one spare port that the intruders use); afpacket = dpdk over net_af_packet
on a veth pair between two network namespaces with 1 % loss, duplication and reordering
(run it under scripts/dpdk-test-env afpacket:loss1); verbs = SoftRoCE rxe0 inside the QEMU
guest (run it under tests/softroce/run-in-guest). The medium-specific part is the
Medium classes below; the cases are the same for every medium.

Prints one line per check and, at the end, 'Summary: N passed, N failed' (cases).
Exit 0 when every case passed.
"""
import argparse
import json
import math
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from npy_file import load_npy_f32  # noqa: E402

SECRET = "fault-matrix-" + os.urandom(8).hex()
# Rounds: 80 lets a death at round 10 cost no more than its share of the data; at 40 the
# 6-worker softmax job is still climbing (0.649 with the death vs 0.731 without, on every
# medium alike: training is deterministic), so the 5-point check needs the longer run.
ROUNDS = int(os.environ.get("PN_FM_ROUNDS", "80"))
KILL_AT = 10  # round after which the fault is injected
# Every worker takes at least this long per round, so that a fault injected from outside
# lands while the job is still running on every medium (a round is ~1 ms on loopback).
PACE_MS = int(os.environ.get("PN_FM_PACE_MS", "40"))  # slow media (TCG guest) need less
# The straggler deadline: in the TCG guest honest workers routinely need more than 500 ms,
# and dropping them as stragglers would slow training in a way that has nothing to do
# with the fault under test.
DEADLINE_MS = int(os.environ.get("PN_FM_DEADLINE_MS", "500"))


def log(msg):
    print(msg, flush=True)


def free_tcp_port(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- media: how to address and configure each process ----

class Medium:
    name = "?"
    host = "127.0.0.1"
    # a worker in a separate namespace runs through this prefix (afpacket)
    worker_prefix = []

    def __init__(self, tmp, n):
        self.tmp, self.n = tmp, n

    def agg_args(self):
        raise NotImplementedError

    def worker_args(self, rank):
        raise NotImplementedError

    def intruder_args(self):
        """Worker-role arguments for a process that is not one of the job's workers."""
        return self.worker_args(self.n - 1)

    def garbage(self, duration_s):
        """Send garbage at the aggregator for duration_s; returns a description."""
        raise NotImplementedError


class TcpMedium(Medium):
    name = "tcp"

    def __init__(self, tmp, n):
        super().__init__(tmp, n)
        self.port = free_tcp_port(self.host)
        self.addr = f"{self.host}:{self.port}"

    def agg_args(self):
        return ["--backend", "tcp", "--listen", self.addr]

    def worker_args(self, rank):
        return ["--backend", "tcp", "--connect", self.addr]

    def garbage(self, duration_s):
        return tcp_garbage(self.host, self.port, duration_s)


class VerbsMedium(TcpMedium):
    """SoftRoCE inside the guest: rdma_cm on rxe0's address (tests/softroce/run-in-guest)."""
    name = "verbs"
    host = "192.0.2.1"

    def agg_args(self):
        return ["--backend", "verbs", "--tp-options", "dev=rxe0;poll=event", "--listen", self.addr]

    def worker_args(self, rank):
        return ["--backend", "verbs", "--tp-options", "dev=rxe0;poll=event", "--connect", self.addr]

    def garbage(self, duration_s):
        # rdma_cm listens on the same port number, but over RoCE: a plain TCP client gets
        # refused by the guest kernel. The RDMA garbage client sends random connection
        # private data and random first messages.
        tool = os.environ.get("PN_FM_GARBAGE")
        if tool and os.access(tool, os.X_OK):
            p = subprocess.run([tool, "verbs", self.addr, str(duration_s)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=duration_s + 60)
            return p.stdout.strip().splitlines()[-1] if p.stdout.strip() else f"exit {p.returncode}"
        return tcp_garbage(self.host, self.port, duration_s)


class MemifMedium(Medium):
    name = "memif"
    AGG_IP = "10.89.0.250"
    jobs = 0

    def __init__(self, tmp, n):
        super().__init__(tmp, n)
        MemifMedium.jobs += 1
        # abstract socket names (as pennant-train's own topology uses): nothing on disk
        self.tag = "pnfm%d" % os.getpid()
        self.sockname = "%s-j%d" % (self.tag, MemifMedium.jobs)
        self.addr = f"{self.AGG_IP}:7000"

    def _sock(self, i):
        return f"{self.sockname}-m{i}.sock"

    def agg_args(self):
        ports = "".join(f"vdev=net_memif{i},role=server,id=0,socket={self._sock(i)},socket-abstract=yes,"
                        f"bsize=9216;" for i in range(self.n + 1))  # + one spare port for intruders
        opts = ports + (f"mem=no-huge:1024;mbufs=2047;prefix={self.tag}a;jumbo=on;ip={self.AGG_IP};"
                        "udp=7000;idle_sleep_us=200")
        return ["--backend", "dpdk", "--tp-options", opts, "--listen", self.addr]

    def _client(self, port, ip_last, prefix):
        opts = (f"vdev=net_memif0,role=client,id=0,socket={self._sock(port)},socket-abstract=yes,bsize=9216;"
                f"mem=no-huge:256;mbufs=2047;prefix={prefix};jumbo=on;ip=10.89.1.{ip_last};"
                "idle_sleep_us=200")
        return ["--backend", "dpdk", "--tp-options", opts, "--connect", self.addr]

    def worker_args(self, rank):
        return self._client(rank, rank + 1, f"{self.tag}w{rank}")

    def intruder_args(self):
        return self._client(self.n, 200, f"{self.tag}x")

    def garbage(self, duration_s):
        return dpdk_garbage(self._client(self.n, 201, f"{self.tag}g")[3], self.addr, duration_s)


class AfPacketMedium(Medium):
    """Aggregator in this namespace on $PN_DPT_IF_AGG; workers in $PN_DPT_NS_WORKER sharing
    $PN_DPT_IF_WORKER (scripts/dpdk-test-env afpacket:PROFILE)."""
    name = "afpacket"
    AGG_IP = "10.90.0.250"

    def __init__(self, tmp, n):
        super().__init__(tmp, n)
        for v in ("PN_DPT_IF_AGG", "PN_DPT_IF_WORKER", "PN_DPT_NS_WORKER"):
            if not os.environ.get(v):
                raise SystemExit(f"fault_matrix: --medium afpacket runs under scripts/dpdk-test-env ({v} unset)")
        self.if_agg = os.environ["PN_DPT_IF_AGG"]
        self.if_w = os.environ["PN_DPT_IF_WORKER"]
        self.worker_prefix = ["ip", "netns", "exec", os.environ["PN_DPT_NS_WORKER"]]
        self.tag = "pnfm%d" % os.getpid()
        self.addr = f"{self.AGG_IP}:7000"
        self.ifindex_salt = 0

    def _port(self, ifc, ip, prefix, udp=7000):
        return (f"vdev=net_af_packet0,iface={ifc},qdisc_bypass=0,blocksz=4096,framesz=2048,framecnt=4096;"
                f"mem=no-huge:384;prefix={prefix};ip={ip};udp={udp};mbufs=4095;"
                "rto_init_us=50000;rto_min_us=20000;idle_sleep_us=200")

    def agg_args(self):
        return ["--backend", "dpdk", "--tp-options", self._port(self.if_agg, self.AGG_IP, self.tag + "a"),
                "--listen", self.addr]

    def worker_args(self, rank):
        return ["--backend", "dpdk", "--tp-options",
                self._port(self.if_w, f"10.90.1.{rank + 1}", f"{self.tag}w{rank}"), "--connect", self.addr]

    def intruder_args(self):
        return ["--backend", "dpdk", "--tp-options", self._port(self.if_w, "10.90.1.200", self.tag + "x"),
                "--connect", self.addr]

    def garbage(self, duration_s):
        return raw_frame_garbage(self.worker_prefix, self.if_w, self.AGG_IP, 7000, duration_s)


MEDIA = {"tcp": TcpMedium, "verbs": VerbsMedium, "memif": MemifMedium, "afpacket": AfPacketMedium}


# ---- garbage clients ----

def tcp_garbage(host, port, duration_s):
    """Connections that send random bytes, truncated headers and oversized lengths."""
    rng = random.Random(7)
    sent = conns = 0
    t_end = time.monotonic() + duration_s
    while time.monotonic() < t_end:
        try:
            s = socket.create_connection((host, port), timeout=1)
            conns += 1
            kind = conns % 3
            if kind == 0:
                data = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096)))
            elif kind == 1:
                data = b"\x00" * rng.randint(1, 63)  # a truncated header
            else:
                data = struct.pack("<IIQQQ", 0x504e4e54, 0xffffffff, rng.getrandbits(64), 2**63, 2**63)
            s.sendall(data)
            sent += len(data)
            s.settimeout(0.2)
            try:
                s.recv(4096)
            except OSError:
                pass
            s.close()
        except OSError:
            time.sleep(0.05)
        time.sleep(0.02)
    return f"{conns} garbage connections, {sent} bytes"


def dpdk_garbage(client_opts, addr, duration_s):
    tool = os.environ.get("PN_FM_GARBAGE")
    if not tool or not os.access(tool, os.X_OK):
        raise RuntimeError("PN_FM_GARBAGE (the pn-fm-garbage tool) is not set")
    p = subprocess.run([tool, "dpdk", addr, str(duration_s), client_opts], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=duration_s + 60)
    out = p.stdout.strip().splitlines()
    if p.returncode != 0:
        raise RuntimeError("garbage client failed: " + " | ".join(out[-5:]))
    return out[-1] if out else "?"


def raw_frame_garbage(prefix, ifc, dst_ip, dst_port, duration_s):
    """Random UDP payloads (and random whole frames) at the aggregator, from the workers'
    namespace, through a raw AF_PACKET socket on the workers' interface."""
    code = r'''
import os, random, socket, struct, sys, time
ifc, dst_ip, dst_port, dur = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifc, 0))
rng = random.Random(11)
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b)); t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
n = 0; t_end = time.monotonic() + dur
while time.monotonic() < t_end:
    pay = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 1400)))
    if n % 4 == 0:  # looks like ours: pennant magic, then junk
        pay = b"PNDP" + pay
    udp = struct.pack("!HHHH", 40000 + n % 100, dst_port, 8 + len(pay), 0) + pay
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xffff, 0, 64, 17, 0,
                     socket.inet_aton("10.90.1.77"), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x77" + b"\x08\x00"
    frame = eth + ip + udp if n % 5 else bytes(rng.getrandbits(8) for _ in range(rng.randint(14, 1500)))
    try:
        s.send(frame); n += 1
    except OSError:
        pass
    time.sleep(0.001)
print(f"{n} garbage frames")
'''
    p = subprocess.run(prefix + [sys.executable, "-c", code, ifc, dst_ip, str(dst_port), str(duration_s)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=duration_s + 30)
    if p.returncode != 0:
        raise RuntimeError("raw garbage sender failed: " + p.stdout[-500:])
    return p.stdout.strip().splitlines()[-1]


# ---- leftovers ----

def snapshot():
    def ls(d, pred=lambda n: True):
        try:
            return {n for n in os.listdir(d) if pred(n)}
        except OSError:
            return set()
    ns = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                        text=True).stdout.split("\n")
    return {
        "dpdk_run": ls("/var/run/dpdk"),
        "hugepages": ls("/dev/hugepages"),
        "tmp": ls("/tmp", lambda n: n.startswith(("pennant", "pnfm", "pnt", "rte", "dpdk"))),
        "netns": {l.split()[0] for l in ns if l.strip()},
    }


def tagged_processes(tag):
    """Processes whose environment carries our tag (every process we start has it)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"PN_FM_TAG={tag}".encode() in f.read().split(b"\0"):
                    with open(f"/proc/{pid}/stat") as s:
                        state = s.read().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        found.append(int(pid))
        except OSError:
            pass
    return found


# ---- one job ----

class Job:
    def __init__(self, build, medium, tmp, name, n, extra, env):
        self.build, self.medium, self.tmp, self.name, self.n = build, medium, tmp, name, n
        self.extra, self.env = extra, env
        self.json = os.path.join(tmp, name + ".json")
        self.model = os.path.join(tmp, name + ".npy")
        self.alog = os.path.join(tmp, name + ".agg.log")
        self.procs = {}
        self.agg = None

    def tool(self, role):
        return os.path.join(self.build, "tools", "pennant-" + role)

    def start(self):
        self.start_aggregator()
        self.start_workers()

    def start_aggregator(self):
        args = [self.tool("aggregator"), "--workers", str(self.n), "--rounds", str(ROUNDS),
                "--json", self.json, "--save-model", self.model] + self.extra + self.medium.agg_args()
        self.agg_out = open(self.alog, "w")
        log("$ " + " ".join(args))
        self.agg = subprocess.Popen(args, stdout=self.agg_out, stderr=subprocess.STDOUT, env=self.env)
        t_end = time.monotonic() + 60
        while time.monotonic() < t_end and self.agg.poll() is None and "listening on" not in self.tail(50):
            time.sleep(0.05)

    def start_workers(self):
        for r in range(self.n):
            wargs = self.medium.worker_prefix + [self.tool("worker"), "--workers", str(self.n),
                                                 "--rank", str(r)] + self.extra + self.medium.worker_args(r)
            wlog = open(os.path.join(self.tmp, f"{self.name}.w{r}.log"), "w")
            self.procs[r] = subprocess.Popen(wargs, stdout=wlog, stderr=subprocess.STDOUT, env=self.env)

    def rounds_seen(self):
        try:
            with open(self.alog) as f:
                lines = f.read().splitlines()
        except OSError:
            return -1
        last = -1
        for l in lines:
            p = l.split()
            if len(p) > 1 and p[0] == "round" and p[1].isdigit():
                last = max(last, int(p[1]))
        return last

    def wait_round(self, r, timeout=240):
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if self.rounds_seen() >= r:
                return True
            if self.agg.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def finish(self, timeout=300):
        try:
            rc = self.agg.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.agg.kill()
            rc = "timeout"
        t_end = time.monotonic() + 20
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, t_end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.agg_out.close()
        return rc

    def kill_all(self):
        for p in list(self.procs.values()) + ([self.agg] if self.agg else []):
            if p.poll() is None:
                p.kill()
                p.wait()

    def tail(self, k=25):
        try:
            with open(self.alog) as f:
                return "\n".join(f.read().splitlines()[-k:])
        except OSError:
            return ""

    def record(self):
        with open(self.json) as f:
            return json.load(f)


class Case:
    def __init__(self, name):
        self.name, self.ok, self.notes = name, True, []

    def check(self, cond, msg):
        log(("ok    " if cond else "FAIL  ") + f"[{self.name}] " + msg)
        self.ok &= bool(cond)
        return cond


def model_finite(case, job):
    try:
        w = load_npy_f32(job.model)
    except (OSError, ValueError) as e:
        return case.check(False, f"model saved ({e})")
    return case.check(len(w) > 0 and all(math.isfinite(x) for x in w), f"model of {len(w)} floats is finite")


def finished_all(case, job, rc):
    ok = case.check(rc == 0, f"aggregator exited 0 (got {rc})")
    if not ok:
        log(job.tail())
        return False
    rec = job.record()
    fin = rec.get("final", {})
    case.check(fin.get("rounds") == ROUNDS, f"all {ROUNDS} rounds done ({fin.get('rounds')})")
    model_finite(case, job)
    return rec


def base_args(n, byzantine_ranks=None, rule="median"):
    a = ["--model", "softmax", "--batch", "16", "--eval-every", "0", "--seed", "3", "--rule", rule,
         "--code", "uncoded", "--s", "1", "--deadline-ms", str(DEADLINE_MS),
         "--straggle", "%s:fixed:%d" % (",".join(str(r) for r in range(n)), PACE_MS)]
    if byzantine_ranks:
        a += ["--byzantine-ranks", byzantine_ranks, "--attack", "reverse", "--f", "1"]
    else:
        a += ["--byzantine", "0"]
    return a


class Ctx:
    """What a case needs: where the tools are, the medium, a scratch folder, the env."""

    def __init__(self, build, medium_cls, tmp, env):
        self.build, self.medium_cls, self.tmp, self.env = build, medium_cls, tmp, env
        self.jobs = []

    def launch(self, case, name, n, args, reach_round):
        job = Job(self.build, self.medium_cls(self.tmp, n), self.tmp, name, n, args, self.env)
        self.jobs.append(job)
        job.start()
        if reach_round is not None:
            case.check(job.wait_round(reach_round), f"job reached round {reach_round}")
        return job


def case_worker_kill(ctx, case, n=5):
    job = ctx.launch(case, case.name, n, base_args(n), KILL_AT)
    job.procs[2].send_signal(signal.SIGKILL)
    rec = finished_all(case, job, job.finish())
    if rec:
        gone = rec["workers"][2].get("gone_at_round", -1)
        case.check(gone >= KILL_AT, f"worker 2 reported gone at round {gone}")


def case_comm_efficient_kill(ctx, case, n=5):
    """kill -9 of a worker in a comm-efficient job (m = 2, s = 1, rule mean): the other
    n - s messages of ceil(d/2) floats still decode every round exactly."""
    args = base_args(n, rule="mean") + ["--code", "comm-efficient", "--comm-dim", "2"]
    job = ctx.launch(case, case.name, n, args, KILL_AT)
    job.procs[2].send_signal(signal.SIGKILL)
    rec = finished_all(case, job, job.finish())
    if rec:
        gone = rec["workers"][2].get("gone_at_round", -1)
        case.check(gone >= KILL_AT, f"worker 2 reported gone at round {gone}")
        skipped = rec["final"].get("skipped")
        case.check(skipped == 0, f"no round skipped: any n - s messages decode ({skipped})")


def case_worker_stop(ctx, case, n=5):
    job = ctx.launch(case, case.name, n, base_args(n), KILL_AT)
    job.procs[1].send_signal(signal.SIGSTOP)
    r0 = job.rounds_seen()
    # Stopped for at least 5 s, and until a round has gone on: a round waits for the stopped
    # worker up to the deadline (4 s in the guest, where the 1 s left of a bare 5 s stop was
    # once not enough). Bounded, so a job that truly stalls fails here.
    t0, bound = time.monotonic(), max(5.0, 2 * DEADLINE_MS / 1e3 + 10)
    while True:
        time.sleep(0.1)
        el, r1 = time.monotonic() - t0, job.rounds_seen()
        if el >= bound or (el >= 5 and (r1 > r0 or job.agg.poll() is not None)):
            break
    job.procs[1].send_signal(signal.SIGCONT)
    if not case.check(r1 > r0 or job.agg.poll() is not None,
                      f"rounds went on while worker 1 was stopped {el:.1f} s ({r0} -> {r1})"):
        log(job.tail())
    finished_all(case, job, job.finish())


def case_aggregator_kill(ctx, case, n=5):
    job = ctx.launch(case, case.name, n, base_args(n), KILL_AT)
    job.agg.send_signal(signal.SIGKILL)
    job.agg.wait()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10 and any(p.poll() is None for p in job.procs.values()):
        time.sleep(0.05)
    alive = [r for r, p in job.procs.items() if p.poll() is None]
    dt = time.monotonic() - t0
    case.check(not alive, f"every worker gone {dt:.1f} s after the aggregator's death (alive: {alive})")
    codes = {r: p.poll() for r, p in job.procs.items()}
    case.check(all(c not in (None, 0) for c in codes.values()), f"workers exit non-zero (their job was lost): {codes}")
    if alive:
        log(open(os.path.join(ctx.tmp, f"{case.name}.w{alive[0]}.log")).read()[-1500:])
    job.finish(timeout=1)


def no_worker_lost(case, rec, why):
    case.check(all(w.get("gone_at_round", -1) == -1 for w in rec["workers"]), f"no worker lost because of {why}")


def case_garbage_client(ctx, case, n=5):
    job = ctx.launch(case, case.name, n, base_args(n), 5)
    log(f"      garbage client: {job.medium.garbage(2.0)}")
    case.check(job.agg.poll() is None, "aggregator still running after the garbage")
    rec = finished_all(case, job, job.finish())
    if rec:
        no_worker_lost(case, rec, "the garbage")


def case_wrong_token(ctx, case, n=5):
    """An intruder with another secret knocks while the aggregator takes its workers (the
    only time it accepts anyone); then the real workers join and the job runs."""
    job = Job(ctx.build, ctx.medium_cls(ctx.tmp, n), ctx.tmp, case.name, n, base_args(n), ctx.env)
    ctx.jobs.append(job)
    job.start_aggregator()
    ienv = dict(ctx.env, PENNANT_JOB_TOKEN="not-" + SECRET)
    iargs = job.medium.worker_prefix + [job.tool("worker"), "--workers", str(n), "--rank", str(n - 1)] + \
        base_args(n) + job.medium.intruder_args()
    t0 = time.monotonic()
    p = subprocess.run(iargs, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ienv, timeout=120)
    dt = time.monotonic() - t0
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    case.check(p.returncode != 0, f"intruder with another secret refused: exit {p.returncode} after {dt:.1f} s ({last})")
    case.check(SECRET not in p.stdout, "the intruder's output holds nothing of the job secret")
    case.check(job.agg.poll() is None, "aggregator still running after the intruder")
    job.start_workers()
    rec = finished_all(case, job, job.finish())
    if rec:
        no_worker_lost(case, rec, "the intruder")
        tp = rec.get("transport") or {}
        bad = tp.get("drop_bad_token", 0)
        if job.medium.name in ("memif", "afpacket"):
            # dpdk: the requester checks the listener's proof first and refuses; its ERROR
            # telling the listener is best effort (the intruder exits at once and its last
            # frame can go with it), so the listener's count may stay 0: then the refusal
            # must be the handshake's, as the intruder reports it
            case.check(bad >= 1 or "could not prove it knows the job secret" in last,
                       f"refusal counted (drop_bad_token {bad}) or reported by the handshake")
        else:
            case.check(bad >= 1, f"refusal counted (drop_bad_token {bad})")


def case_byzantine_death(ctx, case, n=6):
    args = base_args(n, byzantine_ranks="1", rule="multi-krum")
    clean = ctx.launch(case, case.name + "-nodeath", n, args, None)
    rec0 = finished_all(case, clean, clean.finish())
    job = ctx.launch(case, case.name, n, args, KILL_AT)
    job.procs[3].send_signal(signal.SIGKILL)
    rec1 = finished_all(case, job, job.finish())
    if rec0 and rec1:
        a0, a1 = rec0["final"]["test_acc"], rec1["final"]["test_acc"]
        case.check(a0 is not None and a1 is not None and abs(a0 - a1) <= 0.05,
                   f"accuracy with the death {a1} within 5 points of without {a0}")
        used = [r.get("byzantine_used", 0) for r in rec1["rounds"] if r["round"] > KILL_AT + 1]
        log(f"      Byzantine inputs used after the death: {sum(used)} over {len(used)} rounds")


CASE_FUNCS = {"worker-kill": case_worker_kill, "worker-stop": case_worker_stop,
              "aggregator-kill": case_aggregator_kill, "garbage-client": case_garbage_client,
              "wrong-token": case_wrong_token, "byzantine-death": case_byzantine_death,
              "comm-efficient-kill": case_comm_efficient_kill}


def run_case(build, medium_cls, tmp, name, env):
    case = Case(name)
    ctx = Ctx(build, medium_cls, tmp, env)
    before = snapshot()
    try:
        CASE_FUNCS[name](ctx, case)
    except Exception as e:  # a harness error fails the case, with the reason
        case.check(False, f"harness: {type(e).__name__}: {e}")
    finally:
        for j in ctx.jobs:
            j.kill_all()
        if not case.ok:  # what every process said, for the log
            for j in ctx.jobs:
                for r in range(j.n):
                    try:
                        with open(os.path.join(j.tmp, f"{j.name}.w{r}.log")) as f:
                            tail = f.read().splitlines()[-6:]
                        log(f"      {j.name} worker {r}: " + " | ".join(tail))
                    except OSError:
                        pass
    # leftovers
    time.sleep(0.5)
    left = tagged_processes(env["PN_FM_TAG"])
    case.check(not left, f"no process left behind ({left})")
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    after = snapshot()
    shared = os.environ.get("PN_FM_SHARED_HOST") == "1"  # other jobs run beside us: ours only
    for k in ("dpdk_run", "hugepages", "tmp", "netns"):
        new = sorted(e for e in after[k] - before[k] if not shared or "pnfm" in e)
        case.check(not new, f"no {k} entries left behind ({', '.join(new[:5])})")
    return case


CASES = list(CASE_FUNCS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build")
    ap.add_argument("--medium", required=True, choices=sorted(MEDIA))
    ap.add_argument("--case", action="append", choices=CASES)
    a = ap.parse_args()
    tag = "%d-%d" % (os.getpid(), int(time.time()))
    env = dict(os.environ, PN_FM_TAG=tag, PENNANT_JOB_TOKEN=SECRET)
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="pnfm.") as tmp:
        for name in a.case or CASES:
            log(f"== {a.medium}: {name}")
            t0 = time.monotonic()
            c = run_case(a.build, MEDIA[a.medium], tmp, name, env)
            log(f"== {a.medium}: {name}: {'PASS' if c.ok else 'FAIL'} ({time.monotonic() - t0:.1f} s)")
            passed += c.ok
            failed += not c.ok
    print(f"Summary: {passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
