"""Process state read from /proc, for the tests that kill or freeze parts of a job
(tests/e2e/e2e_train.py, tests/tools/check_cli.py)."""


def running(pid):
    """Alive and not a zombie (an orphan's zombie may wait for a reaper that never comes)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid):
    """The pids of a process's children (its workers, shards) as /proc lists them."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []
