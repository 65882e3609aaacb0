"""Where a worker finds its aggregator without an address flag (pennant/rendezvous.h):
the file the aggregator (pennant-train --rendezvous FILE) writes once it listens, named
by the launcher's job id so that a worker never takes another job's file.

    path = pennant.rendezvous.default_path()      # per job, in the temporary directory
    addr = pennant.rendezvous.lookup(path, 120)   # "HOST:PORT", once the aggregator listens

On several hosts the file must be on a filesystem they all share (pass that path to
both sides instead of default_path()).
"""
import ctypes
import os
import tempfile
import time

from . import PennantError, _lib

__all__ = ["job_id", "default_path", "lookup"]

_ADDR_MAX = 256  # PN_RENDEZVOUS_ADDR_MAX
_JOB_MAX = 128   # PN_RENDEZVOUS_JOB_MAX
_job_id = _lib._fn("pn_rendezvous_job_id", ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t)
_lookup = _lib._fn("pn_rendezvous_file_lookup", ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                   ctypes.c_double, ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                   ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t)


def job_id():
    """The launcher's job id (PENNANT_JOB_ID, PMIX_NAMESPACE, OMPI_MCA_ess_base_jobid,
    SLURM_JOB_ID[.SLURM_STEP_ID]), the same on every process of the job; None outside a
    launched job."""
    buf = ctypes.create_string_buffer(_JOB_MAX)
    return buf.value.decode() if _job_id(buf, ctypes.sizeof(buf)) else None


def default_path():
    """A rendezvous file for this job on this host: TMPDIR/pennant-JOBID.rendezvous."""
    job = job_id()
    if job is None:
        raise PennantError(0, "pennant: no launcher job id in the environment (mpirun, srun "
                              "or PENNANT_JOB_ID): give the rendezvous file's path")
    return os.path.join(tempfile.gettempdir(), f"pennant-{job}.rendezvous")


def lookup(path, timeout_s, not_before=None):
    """Waits up to timeout_s for `path` to hold this job's aggregator address; returns
    "HOST:PORT". not_before (seconds since the epoch, default now) matters only without
    a job id: then only a file written after it (less a grace period) counts."""
    addr = ctypes.create_string_buffer(_ADDR_MAX)
    err = ctypes.create_string_buffer(1024)
    job = job_id()
    rc = _lookup(os.fsencode(path), job.encode() if job else None,
                 time.time() if not_before is None else float(not_before),
                 int(timeout_s * 1000), None, addr, ctypes.sizeof(addr), err, ctypes.sizeof(err))
    if rc != 0:
        raise PennantError(-rc, "pennant: " + (err.value.decode(errors="replace")
                                              or os.strerror(-rc)))
    return addr.value.decode()
