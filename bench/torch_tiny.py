#!/usr/bin/env python3
"""One training step of splitfeat's `tiny` multi-task network in PyTorch, timed.

The reference against which `splitfeat bench-step` compares burn. Network, losses and
optimizer mirror crate/core (model/, loss.rs, uncertainty.rs, multitask.rs) and the
training step of crate/train/src/train.rs op for op:

* edge: 3x3 stride-2 stem (24 ch, no bias) + BN + ReLU, then one ResNet basic block per
  stage (32, 48, 64 ch, stride 2, 1x1 projection shortcut with BN): 3x128x256 -> 64x8x16;
* Q-layer: uniform noise of one 8-bit quantization step (per-sample range, detached);
* three heads, each 3 x [2x2 s2 transposed conv (no bias) + BN + ReLU + 3x3 conv (no bias)
  + BN + ReLU] with 48, 32, 24 ch, then a 2x2 s2 transposed conv with bias to 19 / 1 / 3;
* loss: uncertainty-weighted sum(exp(-s) L + s) of masked cross-entropy (ignore 255),
  masked L1 disparity and MSE reconstruction, plus lambda * compressibility loss
  (per-sample min-max to 0..255, DPCM residual, orthonormal 2-D DCT-II by two matrix
  products, mean |.|);
* Adam with burn's defaults (betas 0.9 / 0.999, eps 1e-5), fixed learning rate.

The batch is the same deterministic synthetic batch that bench_step.rs builds (random
RGB, labels in 0..18 with ~10% 255, disparity with ~20% zeros), so both frameworks see
identical inputs. Layer initialisation differs (PyTorch's defaults), which does not
change the work per step.

Prerequisite: `pip install torch` (CPU build is enough). Run:

    python3 bench/torch_tiny.py --steps 10 --warmup 3 --batch 8 --lambda 0.01 --threads 2

It prints one JSON line: framework, ms_per_step_median, ms_per_step_p90, peak_rss_mb,
threads, params (plus a few descriptive fields).
"""

import argparse
import json
import math
import platform
import resource
import sys
import time
import warnings

warnings.filterwarnings("ignore", message=".*NumPy.*")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

NUM_CLASSES = 19
IGNORE_LABEL = 255
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DISPARITY_SCALE_AT_256 = 32.0
RANGE_EPSILON = 1e-6

# The `tiny` preset (crate/core/src/model/config.rs).
TINY = dict(height=128, width=256, stem=24, stages=(32, 48, 64), heads=(48, 32, 24))


# ---------------------------------------------------------------------------- model


def conv(cin, cout, kernel, stride):
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)


def upsample(cin, cout, bias):
    return nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=bias)


class ConvBnRelu(nn.Module):
    def __init__(self, cin, cout, kernel, stride):
        super().__init__()
        self.conv = conv(cin, cout, kernel, stride)
        self.norm = nn.BatchNorm2d(cout)  # eps 1e-5, momentum 0.1: burn's defaults

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = ConvBnRelu(cin, cout, 3, stride)
        self.conv2 = conv(cout, cout, 3, 1)
        self.norm2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if cin != cout or stride != 1:
            self.shortcut = nn.Sequential(conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        y = self.norm2(self.conv2(self.conv1(x)))
        return F.relu(y + identity)


class UpBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.up = upsample(cin, cout, False)
        self.up_norm = nn.BatchNorm2d(cout)
        self.refine = ConvBnRelu(cout, cout, 3, 1)

    def forward(self, x):
        return self.refine(F.relu(self.up_norm(self.up(x))))


class Edge(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.stem = ConvBnRelu(3, cfg["stem"], 3, 2)
        blocks, cin = [], cfg["stem"]
        for c in cfg["stages"]:
            blocks.append(BasicBlock(cin, c, 2))
            cin = c
        self.blocks = nn.Sequential(*blocks)

    def forward(self, images):
        return self.blocks(self.stem(images))


class Decoder(nn.Module):
    def __init__(self, cfg, out_channels):
        super().__init__()
        blocks, cin = [], cfg["stages"][-1]
        for c in cfg["heads"]:
            blocks.append(UpBlock(cin, c))
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.output = upsample(cin, out_channels, True)

    def forward(self, x):
        return self.output(self.blocks(x))


class MultiTaskModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.edge = Edge(cfg)
        self.segmentation = Decoder(cfg, NUM_CLASSES)
        self.disparity = Decoder(cfg, 1)
        self.reconstruction = Decoder(cfg, 3)
        self.log_vars = nn.Parameter(torch.zeros(3))


# ----------------------------------------------------------------------------- loss


def dct_matrix(n):
    """Orthonormal DCT-II matrix D[k][i] = a(k) cos(pi (2i + 1) k / 2n)."""
    k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n))
    d[0] *= math.sqrt(1.0 / n)
    d[1:] *= math.sqrt(2.0 / n)
    return d.float()


def per_sample_range(x):
    b = x.shape[0]
    flat = x.flatten(1, 3)
    # min/max with indices: the gradient goes to one element, as in burn's min_dim.
    return flat.min(dim=1).values.reshape(b, 1, 1, 1), flat.max(dim=1).values.reshape(b, 1, 1, 1)


def dpcm_residual(x):
    b, c, h, w = x.shape
    left = torch.cat([x.new_zeros(b, c, h, 1), x[:, :, :, : w - 1]], dim=3)
    up = torch.cat([x.new_zeros(b, c, 1, w), x[:, :, : h - 1, :]], dim=2)
    return x - (left + up) * 0.5


def dct2(z):
    b, c, h, w = z.shape
    d_w = dct_matrix(w)
    d_h = dct_matrix(h)
    rows = z.reshape(b * c * h, w).matmul(d_w.t())
    cols = rows.reshape(b * c, h, w).transpose(1, 2).reshape(b * c * w, h).matmul(d_h.t())
    return cols.reshape(b, c, w, h).transpose(2, 3)


def compressibility_loss(features, bits):
    levels = float((1 << bits) - 1)
    mn, mx = per_sample_range(features)
    scaled = (features - mn) / (mx - mn + RANGE_EPSILON) * levels
    return dct2(dpcm_residual(scaled)).abs().mean()


def quantization_noise(features, bits):
    levels = float((1 << bits) - 1)
    mn, mx = per_sample_range(features)
    step = ((mx - mn).detach() / levels).expand(features.shape)
    noise = torch.rand_like(features) - 0.5
    return features + noise * step


def segmentation_loss(logits, labels):
    b, _, h, w = logits.shape
    valid = labels != IGNORE_LABEL
    safe = labels.masked_fill(~valid, 0).reshape(b, 1, h, w)
    picked = F.log_softmax(logits, dim=1).gather(1, safe).reshape(b, h, w)
    valid = valid.float()
    count = valid.sum().clamp_min(1.0)
    return -(picked * valid).sum() / count


def disparity_loss(pred, target):
    valid = (target > 0).float()
    count = valid.sum().clamp_min(1.0)
    return ((pred - target).abs() * valid).sum() / count


def reconstruction_loss(pred, target):
    return (pred - target).pow(2).mean()


def forward_loss(model, batch, lam, bits):
    images, rgb, labels, disparity = batch
    features = model.edge(images)
    compressibility = compressibility_loss(features, bits)
    noisy = quantization_noise(features, bits)
    seg = segmentation_loss(model.segmentation(noisy), labels)
    disp = disparity_loss(model.disparity(noisy), disparity)
    recon = reconstruction_loss(model.reconstruction(noisy), rgb)
    s = model.log_vars
    losses = torch.stack([seg, disp, recon])
    return (torch.exp(-s) * losses + s).sum() + compressibility * lam


# ---------------------------------------------------------------------------- batch


def hash32(i):
    """Integer hash of int64 indices (< 2^26); identical to bench_step.rs `hash32`."""
    m = (1 << 32) - 1
    x = (i * 2654435761) & m
    x = x ^ (x >> 16)
    x = (x * 0x045D9F3B) & m
    x = x ^ (x >> 16)
    return x


def synthetic_batch(n, h, w):
    """Random RGB (packed HWC), labels in 0..18 with ~10% 255, disparity in pixels
    (0..64) with ~20% zeros; then the same tensors Batch::from_packed builds."""
    npx = n * h * w
    rgb = (hash32(torch.arange(npx * 3, dtype=torch.int64)) & 255).float()
    lh = hash32(torch.arange(npx, dtype=torch.int64) + (1 << 24))
    labels = torch.where(lh % 10 == 0, torch.full_like(lh, IGNORE_LABEL), lh % NUM_CLASSES)
    dh = hash32(torch.arange(npx, dtype=torch.int64) + (2 << 24))
    disparity = torch.where(dh % 5 == 0, torch.zeros_like(dh), dh % 6400).float() / 100.0

    unit = (rgb / 255.0).reshape(n, h, w, 3).permute(0, 3, 1, 2).contiguous()
    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    images = ((unit - mean) / std).contiguous()
    scale = DISPARITY_SCALE_AT_256 * w / 256.0
    return images, unit, labels.reshape(n, h, w), (disparity / scale).reshape(n, 1, h, w)


# ---------------------------------------------------------------------------- bench


def peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def median(sorted_values):
    n = len(sorted_values)
    return 0.5 * (sorted_values[(n - 1) // 2] + sorted_values[n // 2])


def percentile(sorted_values, q):
    """Nearest-rank percentile (the rule bench_step.rs uses too)."""
    idx = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[idx]


PHASES = (
    "edge",
    "compressibility",
    "q_noise",
    "heads",
    "seg_loss",
    "disp_loss",
    "recon_loss",
    "combine",
    "backward",
    "optimizer",
)


def breakdown(model, optimizer, batch, args):
    """forward_loss spelled out phase by phase; median ms of each over args.steps."""
    images, rgb, labels, disparity = batch
    samples = [[] for _ in PHASES]
    for _ in range(args.steps):
        marks = []
        t = time.perf_counter()

        def lap():
            nonlocal t
            now = time.perf_counter()
            marks.append((now - t) * 1e3)
            t = now

        optimizer.zero_grad(set_to_none=True)
        features = model.edge(images)
        lap()
        compressibility = compressibility_loss(features, args.bits)
        lap()
        noisy = quantization_noise(features, args.bits)
        lap()
        outs = model.segmentation(noisy), model.disparity(noisy), model.reconstruction(noisy)
        lap()
        seg = segmentation_loss(outs[0], labels)
        lap()
        disp = disparity_loss(outs[1], disparity)
        lap()
        recon = reconstruction_loss(outs[2], rgb)
        lap()
        s = model.log_vars
        total = (torch.exp(-s) * torch.stack([seg, disp, recon]) + s).sum() + compressibility * args.lam
        total.item()
        lap()
        total.backward()
        lap()
        optimizer.step()
        lap()
        for acc, m in zip(samples, marks):
            acc.append(m)
    return [[name, round(median(sorted(v)), 2)] for name, v in zip(PHASES, samples)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lambda", dest="lam", type=float, default=0.01, help="compressibility weight")
    p.add_argument("--bits", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="also time the phases of a step (" + ", ".join(PHASES) + ")",
    )
    args = p.parse_args()
    if args.steps < 1 or args.batch < 1:
        p.error("--steps and --batch must be at least 1")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = TINY
    model = MultiTaskModel(cfg).train()
    params = sum(t.numel() for t in model.parameters() if t.requires_grad)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-5)
    batch = synthetic_batch(args.batch, cfg["height"], cfg["width"])

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = forward_loss(model, batch, args.lam, args.bits)
        loss.backward()
        optimizer.step()
        return loss.item()

    first_loss = None
    for _ in range(args.warmup):
        loss = step()
        first_loss = loss if first_loss is None else first_loss
    times, cpu = [], []
    for _ in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step()
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
        first_loss = loss if first_loss is None else first_loss

    phases = []
    if args.breakdown:
        phases = breakdown(model, optimizer, batch, args)
    ordered = sorted(times)
    print(
        json.dumps(
            {
                "framework": f"pytorch {torch.__version__}",
                "ms_per_step_median": round(median(ordered), 2),
                "ms_per_step_p90": round(percentile(ordered, 0.9), 2),
                "cpu_ms_per_step_median": round(median(sorted(cpu)), 2),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "threads": torch.get_num_threads(),
                "params": params,
                "steps": args.steps,
                "warmup": args.warmup,
                "batch": args.batch,
                "lambda": args.lam,
                "first_loss": first_loss,
                "last_loss": loss,
                "ms_per_step": [round(t, 2) for t in times],
                "mkldnn": torch.backends.mkldnn.is_available(),
                "python": platform.python_version(),
                **({"phases_ms": phases} if phases else {}),
            }
        )
    )


if __name__ == "__main__":
    main()
