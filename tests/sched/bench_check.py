"""What the bench report checks (check_bench_*.py) share: run the bench under test and
stop the check at the first broken invariant."""
import subprocess
import sys


def runner(exe):
    """run(*args, ok=True): the finished process; a nonzero exit fails the check unless
    ok=False (for the runs that must be refused)."""

    def run(*args, ok=True):
        p = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
        if ok and p.returncode != 0:
            sys.exit(f"{exe} {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    return run


def check(cond, msg):
    if not cond:
        sys.exit("FAIL: " + msg)
