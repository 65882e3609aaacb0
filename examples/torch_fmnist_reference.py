"""The single-process reference of examples/torch_fashion_mnist.py: no Pennant, the same
model, optimizer and batches, and what data-parallel SGD with the aggregator's `mean`
defines, computed with the same arithmetic so that a Pennant run matches it to the bit
(not merely to the tolerance of a lucky trajectory).

data-parallel (the default): at step t worker i's gradient is c_i = sum_k coef_k *
grad(partition_k) over its code row (uncoded: partition i, coef 1), each partition's
gradient from the worker's own call (the mean cross-entropy of its B examples, one
backward per partition, accumulated in .grad in row order, as pennant.torch.
coded_backward does). The step's gradient is the aggregator's mean: pennant-train runs
`mean` as the fixed-weights combination with the code's decode (job/decode.c), weights
w_i = a_i / n in float32 (a: the minimum-norm decode, 1 uncoded, 1/(s+1) for every
replica of a fractional group when all finish, as --wait all makes them), summed in float32
in worker order, out = ((w_0 c_0 + w_1 c_1) + w_2 c_2) + ... (agg/combine.c). The w_i are
powers of two here, so every product is exact and the sums are the only rounding: the
same roundings in the same order. The step's loss is the workers' record: each worker's
mean over its partitions, then their mean over the workers (the example's merge).

concatenated (--reference-mode concatenated): one loss over the concatenation of the
step's n batches. The same mathematics, other roundings: the backward of one 4B batch is
not the mean of four B-batch backwards to the last bit (~4e-7 relative in the gradient),
and training amplifies that once a ReLU decides differently (on one machine the loss gap
went from ~1e-7 to 7e-6 at step 38 and 7e-4 by step 48), so it is kept for comparison,
not for the tests.
"""


def code_rows(args):
    """Each worker's code row [(partition, coef)] and its decode weight a_i, for the codes
    the reference knows: uncoded and fractional repetition."""
    n = args.workers
    if args.code == "uncoded":
        return [[(i, 1.0)] for i in range(n)], [1.0] * n
    if args.code == "fractional":
        r = args.s + 1
        if n % r:
            raise SystemExit(f"fractional repetition needs (s+1) | n: {r} does not divide {n}")
        rows = [[(j, 1.0) for j in range(i // r * r, (i // r + 1) * r)] for i in range(n)]
        return rows, [1.0 / r] * n  # the minimum-norm decode with every replica finished
    raise SystemExit(f"--reference knows the uncoded and fractional codes, not {args.code}")


def worker_gradient(model, params, data, step, row):
    """(c_i as one flat float32 tensor, the worker's loss) for one code row."""
    import torch
    import torch.nn.functional as F
    for p in params:
        p.grad = None  # the worker's optimizer.zero_grad()
    total = 0.0
    for part, coef in row:
        x, y = data.partition(step, part)
        loss = F.cross_entropy(model(x), y)
        total += float(loss.detach())
        (loss * coef).backward()
    return torch.cat([p.grad.reshape(-1) for p in params]), total / len(row)


def aggregator_mean(grads, weights):
    """agg/combine.c's fixed-weights pass: float32 weights, rows in order, out += w * row
    (the product exact for these weights, so an FMA there gives the same bits)."""
    import numpy as np
    import torch
    out = torch.zeros_like(grads[0])
    for g, w in zip(grads, weights):
        w32 = float(np.float32(w))
        if w32 != 0.0:
            out = out + g * w32
    return out


def data_parallel_step(model, params, data, step, rows, weights):
    cache = {}  # replicas of a fractional group compute the same row: once is enough
    grads, losses = [], []
    for row in rows:
        key = tuple(row)
        if key not in cache:
            cache[key] = worker_gradient(model, params, data, step, row)
        grads.append(cache[key][0])
        losses.append(cache[key][1])
    mean = aggregator_mean(grads, weights)
    off = 0
    for p in params:
        n = p.numel()
        p.grad = mean[off:off + n].view_as(p).clone()
        off += n
    return sum(losses) / len(losses)


def concatenated_step(model, data, step, opt):
    import torch.nn.functional as F
    x, y = data.concatenated(step)
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.item()


def run_reference(args):
    import torch
    from torch_fmnist_parts import Data, digest, evaluate, make_model, make_optimizer
    torch.set_num_threads(args.threads)
    data = Data(args)
    model = make_model(args.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(args, model.parameters())
    rows, a = code_rows(args)
    weights = [ai / args.workers for ai in a]
    steps = []
    for t in range(args.steps):
        if args.reference_mode == "concatenated":
            loss = concatenated_step(model, data, t, opt)
        else:
            loss = data_parallel_step(model, params, data, t, rows, weights)
        opt.step()
        steps.append({"step": t, "loss": loss})
    test_loss, test_acc = evaluate(model, data)
    return {"mode": "reference", "reference_mode": args.reference_mode, "config": vars(args),
            "steps": steps,
            "final": {"test_acc": test_acc, "test_loss": test_loss, "digest": digest(model)}}
