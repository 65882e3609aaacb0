"""The data, model and faults of examples/torch_fashion_mnist.py, the same in every role:
Fashion-MNIST from Debian's IDX files, the small CNN, its optimizer, the test-set
evaluation, a model digest, and the Byzantine workers' corruptions."""
import gzip
import hashlib
import os


def load_idx(data_dir, train):
    import numpy as np
    pre = "train" if train else "t10k"
    with gzip.open(os.path.join(data_dir, pre + "-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    if int.from_bytes(raw[:4], "big") != 0x803:
        raise SystemExit(f"{data_dir}: {pre} images are not an IDX image file")
    n, rows, cols = (int.from_bytes(raw[4 * k:4 * k + 4], "big") for k in (1, 2, 3))
    x = np.frombuffer(raw, dtype=np.uint8, offset=16, count=n * rows * cols)
    x = (x.astype(np.float32) / 255.0).reshape(n, 1, rows, cols)
    with gzip.open(os.path.join(data_dir, pre + "-labels-idx1-ubyte.gz")) as f:
        lab = f.read()
    y = np.frombuffer(lab, dtype=np.uint8, offset=8, count=n).astype(np.int64)
    return x, y


class Data:
    def __init__(self, args):
        import numpy as np
        import torch
        x, y = load_idx(args.data, True)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        tx, ty = load_idx(args.data, False)
        self.test_x, self.test_y = torch.from_numpy(tx), torch.from_numpy(ty)
        self.perm = np.random.RandomState(args.seed).permutation(len(y))
        self.parts = args.workers  # uncoded: one partition per worker
        self.batch = args.batch

    def indices(self, step, part):
        import numpy as np
        k = step * self.parts + part
        return self.perm[(k * self.batch + np.arange(self.batch)) % len(self.perm)]

    def partition(self, step, part):
        i = self.indices(step, part)
        return self.x[i], self.y[i]

    def concatenated(self, step):
        import numpy as np
        i = np.concatenate([self.indices(step, j) for j in range(self.parts)])
        return self.x[i], self.y[i]


def make_model(seed):
    import torch
    import torch.nn as nn
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),    # 8x12x12
        nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),   # 16x4x4
        nn.Flatten(), nn.Linear(16 * 4 * 4, 10))


def make_optimizer(args, params):
    import torch
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=args.lr)
    return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum)


def evaluate(model, data):
    import torch
    import torch.nn.functional as F
    with torch.no_grad():
        out = model(data.test_x)
        loss = F.cross_entropy(out, data.test_y).item()
        acc = (out.argmax(1) == data.test_y).double().mean().item() * 100
    return loss, acc


def digest(model):
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def attack_fn(name, seed):
    """A Byzantine worker's corruption of its gradient (the torch view of the registered
    buffer), applied in place just before submit."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    if name == "signflip":
        return lambda g: g.neg_()
    if name == "scaled":
        return lambda g: g.mul_(100.0)
    if name == "reverse":
        return lambda g: g.mul_(-10.0)
    if name == "gaussian":
        return lambda g: g.add_(torch.randn(g.shape, generator=gen))
    if name == "uniform":
        return lambda g: g.uniform_(0.0, 1.0, generator=gen)
    if name == "nan":
        def nan(g):
            g[::1000] = float("nan")
        return nan
    raise ValueError(name)
