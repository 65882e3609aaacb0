"""Pennant from Python: a worker session over libpennant's public C API (session.h),
loaded with ctypes (no compiled extension, no libtorch build).

    with pennant.Session(rank, "127.0.0.1:7470", d) as s:
        while (r := s.begin()) is not None:       # round r.number, code row r.parts
            s.gradient[:] = my_gradient(r)        # numpy view of the registered buffer
            s.submit(loss)
            agg = s.wait()                        # aggregated gradient (None: skipped)

The aggregator runs in gradient service mode (`pennant-train --role aggregator --serve
gradient ...`): it serves the robustly aggregated gradient and each worker steps its own
optimizer. pennant.torch has the DistributedOptimizer and the DDP communication hook.
"""
import collections
import ctypes
import errno as _errno
import math
import os

import numpy as np

from . import _lib

__all__ = ["Session", "RoundInfo", "PennantError", "JobEnded", "StaleResult", "version",
           "SERVE_MODEL", "SERVE_GRADIENT"]

SERVE_MODEL = 0
SERVE_GRADIENT = 1
_STOPPED = 1
_SKIPPED = 2
_MAX_PARTS = 20  # PN_JOB_MAX_PARTS


class PennantError(OSError):
    """A session call failed; errno and the library's one-line error text."""


class JobEnded(Exception):
    """The aggregator said STOP: the job is over."""


class StaleResult(PennantError):
    """The round's result was overwritten while being read: this worker fell two rounds
    behind and its model now differs from the others'."""


RoundInfo = collections.namedtuple("RoundInfo", "number parts workers serve resync comm_dim",
                                   defaults=(False, 1))
RoundInfo.__doc__ = ("One round: its number v, the code row as [(partition, coef), ...] "
                     "(c_i = sum coef * grad(partition)), the job's workers, what is served, "
                     "and resync: with gradient service, begin read the aggregator's model "
                     "(the first round, or this worker missed a result and its model is no "
                     "longer the others'); comm_dim m > 1: a comm-efficient code, whose "
                     "message is Session.encode's (the coefs are NaN).")


class _Round(ctypes.Structure):
    """pn_session_round (session.h)."""
    _fields_ = [("round", ctypes.c_int64), ("n", ctypes.c_int), ("serve", ctypes.c_int),
                ("nparts", ctypes.c_int), ("parts", ctypes.c_int * _MAX_PARTS),
                ("coefs", ctypes.c_double * _MAX_PARTS), ("resync", ctypes.c_bool),
                ("comm_dim", ctypes.c_int)]

_P = ctypes.c_void_p
_fn = _lib._fn
_join = _fn("pn_session_join_opts", ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
            ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_int,
            ctypes.c_int, ctypes.POINTER(_P), ctypes.c_char_p, ctypes.c_size_t)
_dim = _fn("pn_session_dim", ctypes.c_size_t, _P)
_workers = _fn("pn_session_workers", ctypes.c_int, _P)
_rank = _fn("pn_session_rank", ctypes.c_int, _P)
_serve = _fn("pn_session_serve", ctypes.c_int, _P)
_heartbeat_ms = _fn("pn_session_heartbeat_ms", ctypes.c_int, _P)
_begin = _fn("pn_session_begin", ctypes.c_int, _P, ctypes.POINTER(_Round), _lib.c_float_p,
             ctypes.c_int)
_gradient = _fn("pn_session_gradient", _lib.c_float_p, _P)
_comm_dim = _fn("pn_session_comm_dim", ctypes.c_int, _P)
_message_len = _fn("pn_session_message_len", ctypes.c_size_t, _P)
_encode = _fn("pn_session_encode", ctypes.c_int, _P, ctypes.POINTER(_lib.c_float_p), _lib.c_float_p)
_submit = _fn("pn_session_submit", ctypes.c_int, _P, ctypes.c_double, ctypes.c_int)
_wait = _fn("pn_session_wait", ctypes.c_int, _P, _lib.c_float_p, ctypes.c_int)
_poll = _fn("pn_session_poll", ctypes.c_int, _P)
_error = _fn("pn_session_error", ctypes.c_char_p, _P)
_leave = _fn("pn_session_leave", None, _P)


def version():
    """The loaded libpennant's version string."""
    return _lib.version().decode()


def _float_buffer(arr, d, what):
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float32 or arr.shape != (d,) \
            or not arr.flags.c_contiguous or not arr.flags.writeable:
        raise ValueError(f"pennant: {what} must be a writable contiguous float32 numpy "
                         f"array of shape ({d},)")
    return arr.ctypes.data_as(_lib.c_float_p)


class Session:
    """One worker of a Pennant job. rank 0..n-1; connect "HOST:PORT" of the aggregator;
    d floats in the gradient (the model's parameter count: the aggregator checks it).
    The job token comes from token_file (chmod 600) or the PENNANT_JOB_TOKEN environment
    variable. The session has no thread: call begin/submit/wait (or poll) at least once
    per heartbeat_ms, or the aggregator treats this worker as gone."""

    def __init__(self, rank, connect, d, backend="tcp", token_file=None, connect_timeout_ms=0,
                 options=None, silence_ms=0):
        if int(d) <= 0:
            raise ValueError("pennant: d must be positive")
        s = _P()
        err = ctypes.create_string_buffer(512)
        rc = _join(backend.encode(), options.encode() if options else None, connect.encode(),
                   int(rank), int(d), os.fsencode(token_file) if token_file else None,
                   int(connect_timeout_ms), int(silence_ms), ctypes.byref(s), err,
                   ctypes.sizeof(err))
        if rc != 0 or not s.value:
            raise PennantError(-rc, f"pennant: join {connect} as rank {rank}: "
                                    f"{err.value.decode(errors='replace') or os.strerror(-rc)}")
        self._s = s
        self.d = int(_dim(s))
        self.rank = int(_rank(s))
        self.workers = int(_workers(s))
        self.serve = int(_serve(s))
        self.heartbeat_ms = int(_heartbeat_ms(s))
        self.comm_dim = int(_comm_dim(s))            # m: 1, or a comm-efficient code's
        self.message_len = int(_message_len(s))      # floats sent: ceil(d / m)
        self._views = {}  # registered slot address -> numpy view
        self._round = None

    # --- errors -----------------------------------------------------------------------
    def _check(self, rc, what):
        if rc >= 0:
            return rc
        text = _error(self._handle()).decode(errors="replace") or os.strerror(-rc)
        cls = StaleResult if -rc == _errno.ESTALE else PennantError
        raise cls(-rc, f"pennant: {what}: {text}")

    def _handle(self):
        if self._s is None:
            raise PennantError(_errno.EBADF, "pennant: the session has been left")
        return self._s

    # --- one round --------------------------------------------------------------------
    def begin(self, timeout_ms=-1, model=None):
        """Waits for the next round and returns its RoundInfo, or None when the job has
        ended. model: an optional float32 array of d that receives the aggregator's model
        (with gradient service only on the first round: its initial model)."""
        s = self._handle()
        mp = _float_buffer(model, self.d, "model") if model is not None else None
        r = _Round()
        rc = self._check(_begin(s, ctypes.byref(r), mp, int(timeout_ms)), "begin")
        if rc == _STOPPED:
            self._round = None
            return None
        k = min(max(r.nparts, 0), _MAX_PARTS)
        self._round = RoundInfo(int(r.round), [(int(r.parts[i]), float(r.coefs[i])) for i in range(k)],
                                int(r.n), int(r.serve), bool(r.resync), int(r.comm_dim))
        return self._round

    @property
    def round(self):
        """The RoundInfo of the round begun last (None before the first)."""
        return self._round

    @property
    def gradient(self):
        """The registered gradient slot of the round begun, as a float32 numpy array of
        message_len (d, or ceil(d/m) with a comm-efficient code) that is a view (no copy)
        of the memory the aggregator READs. The slot alternates between rounds: fetch it
        after each begin."""
        p = _gradient(self._handle())
        if not p:
            raise PennantError(_errno.EPROTO, "pennant: no round begun yet (call begin first)")
        addr = ctypes.addressof(p.contents)
        v = self._views.get(addr)
        if v is None:
            v = np.ctypeslib.as_array(p, shape=(self.message_len,))
            self._views[addr] = v
        return v

    def encode(self, grads):
        """Writes the round's message into the gradient slot from grads, one float32
        array of d per partition of round.parts (in that order), each that partition's
        gradient alone: a comm-efficient code mixes their blocks (m > 1), any other code
        sums coef * grad. Call it between begin and submit."""
        if self._round is None or len(grads) != len(self._round.parts):
            raise ValueError("pennant: encode needs one gradient per partition of the round begun")
        ptrs = (_lib.c_float_p * max(len(grads), 1))(*[_float_buffer(g, self.d, "a partition's gradient")
                                                       for g in grads])
        slot = self.gradient
        self._check(_encode(self._handle(), ptrs, slot.ctypes.data_as(_lib.c_float_p)), "encode")

    @property
    def gradient_tensor(self):
        """The same registered slot as a torch tensor sharing its memory (torch.from_numpy)."""
        import torch
        return torch.from_numpy(self.gradient)

    def submit(self, loss=float("nan"), status=0):
        """READY for the round begun: its gradient slot holds this worker's c_i. status 0,
        or a negative errno when the computation failed. loss is informational."""
        loss = float(loss)
        if math.isinf(loss):
            loss = float("nan")
        self._check(_submit(self._handle(), loss, int(status)), "submit")

    def wait(self, out=None, timeout_ms=-1):
        """Waits for the round's result (the aggregated gradient with gradient service,
        model v+1 otherwise) into out (a float32 array of d; allocated when None) and
        returns it, or None when the round was skipped (do not step). With model service,
        None after the job's last round (no next model). Raises JobEnded when the job
        ended without the gradient of the round submitted, StaleResult when the result was
        overwritten while being read (this worker fell two rounds behind)."""
        if out is None:
            out = np.empty(self.d, dtype=np.float32)
        rc = self._check(_wait(self._handle(), _float_buffer(out, self.d, "out"), int(timeout_ms)),
                         "wait")
        if rc == _STOPPED:
            if self.serve == SERVE_MODEL:  # after the last round: no next model
                return None
            raise JobEnded("pennant: the job ended before round %s had a result" %
                           (self._round.number if self._round else "?"))
        if rc == _SKIPPED:
            return None
        return out

    def poll(self):
        """Keeps the session alive during a long computation (non-blocking). True once
        the aggregator said STOP."""
        return self._check(_poll(self._handle()), "poll") == _STOPPED

    def leave(self):
        """Leaves the job and frees the session (idempotent)."""
        if self._s is not None:
            self._views.clear()
            _leave(self._s)
            self._s = None

    close = leave

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.leave()
        return False

    def __del__(self):
        try:
            self.leave()
        except Exception:
            pass
