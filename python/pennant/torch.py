"""PyTorch integration: a Horovod/BytePS-style DistributedOptimizer and a DDP
communication hook, both over one pennant.Session in gradient service mode (the
aggregator serves the robustly aggregated gradient; each worker steps its own optimizer).

Gradient coding: each round's code row says which data partitions this worker computes
and with which coefficients; `assigned_batches` walks them and `coded_backward`
accumulates c_i = sum_k coef_k * grad(partition_k) into the parameters' .grad.
"""
import errno as _errno

import numpy as np
import torch

from . import JobEnded, PennantError

__all__ = ["DistributedOptimizer", "HookState", "comm_hook", "assigned_batches",
           "coded_backward"]


def assigned_batches(round_info, batches_of_partition):
    """Yields (partition, coef, batch) for every partition this worker is assigned in
    round_info. batches_of_partition is a callable partition -> batch, or anything
    indexable by partition."""
    get = batches_of_partition if callable(batches_of_partition) else batches_of_partition.__getitem__
    for part, coef in round_info.parts:
        yield part, coef, get(part)


def coded_backward(round_info, batches_of_partition, loss_fn, ddp=None, state=None):
    """Backward once per assigned partition, scaled by its coefficient, so .grad holds
    sum_k coef_k * grad(partition_k). loss_fn(batch) returns the partition's mean loss.
    With DDP, pass the DistributedDataParallel model and the HookState: every backward
    but the last runs under ddp.no_sync() (the hook fires once per round) and the loss
    the hook submits is set before the last backward. Returns the mean of the partitions'
    losses."""
    parts = list(assigned_batches(round_info, batches_of_partition))
    if not parts:
        raise ValueError("pennant: round %d assigns this worker no partition" % round_info.number)
    total = 0.0
    for k, (_, coef, batch) in enumerate(parts):
        loss = loss_fn(batch)
        total += float(loss.detach())
        last = k + 1 == len(parts)
        if ddp is not None and not last:
            with ddp.no_sync():
                (loss * coef).backward()
            continue
        if last and state is not None:
            state.set_loss(total / len(parts))
        (loss * coef).backward()
    return total / len(parts)


def _check_in_step(session, r, started):
    """A resync after the first round means this worker missed a result: its model (and
    optimizer state) is no longer the other workers'. The aggregator's model it could take
    instead is its own shadow, stepped with plain SGD and not necessarily of this model's
    layout, so the worker stops with an error instead of drifting silently."""
    if r is not None and r.resync and started:
        raise PennantError(_errno.ESTALE, f"pennant: round {r.number}: this worker missed an "
                           "aggregated gradient; its model now differs from the others'")


class _Result:
    """The caller buffer pn_session_wait writes the aggregated gradient into, as a numpy
    array and a zero-copy torch view of it."""

    def __init__(self, d):
        self.np = np.empty(d, dtype=np.float32)
        self.t = torch.from_numpy(self.np)


def _float32_view(session):
    g = session.gradient_tensor
    if g.dtype != torch.float32:
        raise TypeError("pennant: the registered gradient buffer must be float32")
    return g


class DistributedOptimizer:
    """Wraps a torch optimizer. step(): copy every parameter's .grad into its offset of the
    session's registered gradient buffer (one copy per parameter, straight into registered
    memory: no intermediate flat tensor), submit the round, wait for the aggregated
    gradient, copy each slice back into .grad, then take the wrapped optimizer's step.

    Both copies are needed: the aggregator READs the registered buffer while the worker
    could already be touching .grad, and the result arrives in a separate buffer so the
    submitted gradient is never overwritten before the aggregator has pulled it.

    transform(g): called on the torch view of the registered buffer just before submit
    (fault injection in examples and tests; None in real use).

    A round the aggregator skipped (no finite aggregate) is not stepped: step() returns
    None and sets .skipped.

    pad: allow a session whose d exceeds the parameters' count (an aggregator whose own
    model is larger); the tail of the buffer is sent as zeros."""

    def __init__(self, optimizer, named_parameters, session, transform=None, timeout_ms=-1,
                 pad=False):
        self.optimizer = optimizer
        self.session = session
        m = getattr(session, "comm_dim", 1)
        if m > 1:  # its messages are ceil(d/m) floats mixing partitions, not sum coef * grad
            raise ValueError(f"pennant: the job's comm-efficient code (m = {m}) needs each "
                             "partition's gradient alone and Session.encode; DistributedOptimizer "
                             "sends whole coded gradients")
        self.transform = transform
        self.timeout_ms = timeout_ms
        self.layout = []  # (name, parameter, offset, numel)
        seen = set()
        off = 0
        for name, p in named_parameters:
            if id(p) in seen or not p.requires_grad:
                continue
            seen.add(id(p))
            if p.dtype != torch.float32:
                raise TypeError(f"pennant: parameter {name} is {p.dtype}; only float32 is supported")
            self.layout.append((name, p, off, p.numel()))
            off += p.numel()
        if off > session.d or (off != session.d and not pad):
            raise ValueError(f"pennant: the parameters hold {off} floats but the session's "
                             f"gradient has d = {session.d}" + ("" if pad else " (pad=True "
                             "sends a zero tail when the aggregator's d is larger)"))
        self.numel = off
        self._result = _Result(session.d)
        self.round = None
        self._started = False
        self.skipped = False  # the last step's round was skipped by the aggregator

    def __getattr__(self, name):  # param_groups, state, zero_grad, state_dict, ...
        return getattr(self.optimizer, name)

    def begin(self, timeout_ms=None):
        """Waits for the next round; returns its RoundInfo (number, parts), None when the
        job has ended."""
        self.round = self.session.begin(timeout_ms=self.timeout_ms if timeout_ms is None else timeout_ms)
        _check_in_step(self.session, self.round, self._started)
        self._started = True
        return self.round

    def step(self, loss=float("nan"), closure=None):
        if self.round is None and self.begin() is None:
            raise JobEnded("pennant: the job ended before this step")
        g = _float32_view(self.session)
        for _, p, off, n in self.layout:
            dst = g[off:off + n]
            if p.grad is None:
                dst.zero_()
            else:
                dst.view_as(p).copy_(p.grad)
        g[self.numel:].zero_()  # padding (pad=True), if any
        if self.transform is not None:
            self.transform(g[:self.numel])
        self.session.submit(loss)
        out = self.session.wait(self._result.np, timeout_ms=self.timeout_ms)
        self.round = None
        self.skipped = out is None
        if self.skipped:  # the aggregator had no usable aggregate: do not step
            return None
        agg = self._result.t
        for _, p, off, n in self.layout:
            src = agg[off:off + n].view_as(p)
            if p.grad is None:
                p.grad = src.clone()
            else:
                p.grad.copy_(src)
        return self.optimizer.step(closure)


class HookState:
    """State of the DDP communication hook: the session and where each DDP bucket sits
    in the registered gradient buffer.

    Buckets arrive in index order; bucket k is placed right after bucket k-1. The mapping
    (bucket index -> its buffer's address and size, and its offset) is recorded on first
    use and recorded again when a bucket's address or size changes (DDP rebuilds its
    buckets after the first iteration); `remaps` counts those records.

    DDP owns its bucket memory, so the hook copies each bucket into the registered buffer
    (one copy) and the aggregated slice back into the bucket (one copy).

    numel: the model's parameter count, checked against the buckets (default: the
    session's d). A session d larger than numel (pad) sends a zero tail."""

    def __init__(self, session, transform=None, timeout_ms=-1, numel=None):
        self.session = session
        self.transform = transform
        self.timeout_ms = timeout_ms
        self.buckets = {}  # index -> (data_ptr, numel, offset)
        self.remaps = 0
        self._started = False
        self.skipped = False  # the last round was skipped: do not step the optimizer
        self.loss = float("nan")
        self.round = None
        self._result = _Result(session.d)
        self._pending = []  # (bucket buffer, offset, numel, future)
        self._cursor = 0
        self.numel = session.d if numel is None else int(numel)
        if not 0 < self.numel <= session.d:
            raise ValueError(f"pennant: numel {self.numel} not in (0, d = {session.d}]")

    def begin(self, timeout_ms=None):
        """Waits for the next round (call before the forward pass); None when the job ended."""
        self.round = self.session.begin(timeout_ms=self.timeout_ms if timeout_ms is None else timeout_ms)
        _check_in_step(self.session, self.round, self._started)
        self._started = True
        return self.round

    def set_loss(self, loss):
        """The loss submitted with this round's gradient (a float)."""
        self.loss = float(loss)

    def _place(self, index, buf):
        if index == 0:  # a new step (whatever an earlier failed step left)
            self._cursor = 0
            self._pending = []
        n = buf.numel()
        key = (buf.data_ptr(), n)
        rec = self.buckets.get(index)
        if rec is None or rec[:2] != key or rec[2] != self._cursor:
            self.buckets[index] = key + (self._cursor,)
            self.remaps += 1
        off = self.buckets[index][2]
        if off + n > self.numel:
            raise ValueError(f"pennant: DDP buckets hold more than the model's {self.numel} floats")
        self._cursor = off + n
        return off

    def _finish(self):
        pending, self._pending = self._pending, []
        try:
            if self._cursor != self.numel:
                raise ValueError(f"pennant: DDP buckets hold {self._cursor} floats but the "
                                 f"model has {self.numel}")
            g = _float32_view(self.session)
            g[self.numel:].zero_()  # padding, if any
            if self.transform is not None:
                self.transform(g[:self.numel])
            self.session.submit(self.loss)
            out = self.session.wait(self._result.np, timeout_ms=self.timeout_ms)
        except Exception as e:
            for _, _, _, fut in pending:
                fut.set_exception(e)
            raise
        finally:
            self.round = None
            self.loss = float("nan")
        self.skipped = out is None
        if self.skipped:  # no aggregate this round: zero gradients, and the caller must not step
            self._result.t.zero_()
        agg = self._result.t
        for buf, off, n, fut in pending:
            buf.copy_(agg[off:off + n].view_as(buf))
            fut.set_result(buf)


def comm_hook(state, bucket):
    """DDP communication hook: ddp.register_comm_hook(HookState(session), comm_hook).
    Each bucket's gradient is copied into its place in the registered buffer; when the
    last bucket of the step is in, the round is submitted, the aggregated gradient
    awaited, and every bucket's future completed with its slice of it."""
    buf = bucket.buffer()
    fut = torch.futures.Future()
    try:
        if buf.dtype != torch.float32:
            raise TypeError(f"pennant: DDP bucket {bucket.index()} is {buf.dtype}; only float32")
        off = state._place(bucket.index(), buf)
        n = buf.numel()
        # The round must be begun before writing: begin picks the round's slot.
        if state.round is None and state.begin() is None:
            raise JobEnded("pennant: the job ended before this step")
        # Copy: the bucket is DDP's memory, the registered buffer is what the aggregator READs.
        _float32_view(state.session)[off:off + n].copy_(buf.view(-1))
    except Exception as e:
        fut.set_exception(e)
        return fut
    state._pending.append((buf, off, n, fut))
    if bucket.is_last():
        try:
            state._finish()
        except Exception:
            pass  # every pending future carries the exception; DDP raises it
    return fut
