"""Where burn's `tch` step loses time against PyTorch: the ops that burn 0.22 composes
out of primitive tensor ops for backends that do not override them, and that burn-tch
does not override, timed on the `tiny` network's own shapes of one training step
(batch 8) against LibTorch's own kernels (what PyTorch's autograd calls):

- convolution backward: `convolution_backward` against burn-backend's default
  `conv2d_x_backward` / `conv2d_weight_backward` and their transposed counterparts (the
  weight gradient as a convolution of the swapped input with the swapped output
  gradient as its kernel);
- batch norm in training, forward and backward: `native_batch_norm` and its backward
  against burn-backend's default `batch_norm_train` / `batch_norm_train_backward`
  (statistics through swapped, reshaped copies; element-wise passes).

    .venv-torch/bin/python bench/tch_gap.py [--threads 2] [--repeats 5]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
import torch_tiny  # noqa: E402


def capture(model, batch):
    """(module, input, output grad) of every conv and transposed conv of one step."""
    records = []

    def hook(module, grad_input, grad_output):
        records.append((module, module._saved_input, grad_output[0].detach()))

    def save(module, inputs, output):
        module._saved_input = inputs[0].detach()

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            handles.append(m.register_forward_hook(save))
            handles.append(m.register_full_backward_hook(hook))
    loss = torch_tiny.forward_loss(model, batch, 0.01, 8)
    loss.backward()
    for h in handles:
        h.remove()
    return records


def native(m, x, g):
    transposed = isinstance(m, nn.ConvTranspose2d)
    out_pad = list(m.output_padding) if transposed else [0, 0]
    return torch.ops.aten.convolution_backward(
        g, x, m.weight.detach(), None, list(m.stride), list(m.padding), list(m.dilation),
        transposed, out_pad, m.groups, [x.requires_grad or True, True, False])


def burn_default(m, x, g):
    w = m.weight.detach()
    if isinstance(m, nn.ConvTranspose2d):
        gx = F.conv2d(g, w, None, m.stride, m.padding, m.dilation, m.groups)
        gw = F.conv2d(g.transpose(0, 1), x.transpose(0, 1), None, m.dilation, m.padding,
                      m.stride).transpose(0, 1)
    else:
        # burn's padding_out: what the transposed convolution needs to give x's size.
        pad_out = [x.shape[2 + i] - ((g.shape[2 + i] - 1) * m.stride[i] - 2 * m.padding[i]
                                     + m.dilation[i] * (w.shape[2 + i] - 1) + 1)
                   for i in range(2)]
        gx = F.conv_transpose2d(g, w, None, m.stride, m.padding, pad_out, m.groups, m.dilation)
        gw = F.conv2d(x.transpose(0, 1), g.transpose(0, 1), None, m.dilation, m.padding,
                      m.stride).transpose(0, 1)
    return gx, gw[: w.shape[0], : w.shape[1], : w.shape[2], : w.shape[3]]


def capture_batch_norms(model, batch):
    """(module, input, output grad) of every batch norm of one step."""
    records = []

    def save(module, inputs, output):
        module._saved_input = inputs[0].detach()

    def hook(module, grad_input, grad_output):
        records.append((module, module._saved_input, grad_output[0].detach()))

    handles = []
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            handles.append(m.register_forward_hook(save))
            handles.append(m.register_full_backward_hook(hook))
    torch_tiny.forward_loss(model, batch, 0.01, 8).backward()
    for h in handles:
        h.remove()
    return records


def bn_native(m, x, g):
    out, mean, invstd = torch.ops.aten.native_batch_norm(
        x, m.weight.detach(), m.bias.detach(), None, None, True, 0.1, m.eps)
    grads = torch.ops.aten.native_batch_norm_backward(
        g, x, m.weight.detach(), None, None, mean, invstd, True, m.eps, [True, True, True])
    return out, grads[0]


def bn_burn_default(m, x, g):
    c = x.shape[1]
    gamma, beta = m.weight.detach().view(1, c, 1, 1), m.bias.detach().view(1, c, 1, 1)
    # forward: batch_norm_train, then batch_norm
    mean = x.transpose(0, 1).reshape(c, -1).mean(1).view(1, c, 1, 1)
    centered = x - mean
    var = (centered * centered).transpose(0, 1).reshape(c, -1).mean(1).view(1, c, 1, 1)
    out = (x - mean) / (var + m.eps).sqrt() * gamma + beta
    # backward: batch_norm_train_backward
    inv_std = (var + m.eps).sqrt().reciprocal()
    normalized = (x - mean) * inv_std
    g_flat = g.transpose(0, 1).reshape(c, -1)
    n_flat = (g * normalized).transpose(0, 1).reshape(c, -1)
    _beta_grad, _gamma_grad = g_flat.sum(1), n_flat.sum(1)
    mean_grad = g_flat.mean(1).view(1, c, 1, 1)
    mean_n_grad = n_flat.mean(1).view(1, c, 1, 1)
    x_grad = gamma * inv_std * ((g - mean_grad) - normalized * mean_n_grad)
    return out, x_grad


def timed(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch", type=int, default=8)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    cfg = torch_tiny.TINY
    model = torch_tiny.MultiTaskModel(cfg).train()
    batch = torch_tiny.synthetic_batch(args.batch, cfg["height"], cfg["width"])
    rows = []
    for m, x, g in capture(model, batch):
        a, b = native(m, x, g), burn_default(m, x, g)
        err = max((a[0] - b[0]).abs().max().item(), (a[1] - b[1]).abs().max().item())
        scale = max(a[0].abs().max().item(), a[1].abs().max().item(), 1e-30)
        rows.append({
            "layer": type(m).__name__,
            "x": list(x.shape), "weight": list(m.weight.shape), "stride": list(m.stride),
            "native_ms": timed(lambda: native(m, x, g), args.repeats),
            "burn_default_ms": timed(lambda: burn_default(m, x, g), args.repeats),
            "rel_diff": err / scale,
        })
    for m, x, g in capture_batch_norms(model, batch):
        a, b = bn_native(m, x, g), bn_burn_default(m, x, g)
        err = max((a[0] - b[0]).abs().max().item(), (a[1] - b[1]).abs().max().item())
        scale = max(a[0].abs().max().item(), a[1].abs().max().item(), 1e-30)
        rows.append({
            "layer": "BatchNorm2d",
            "x": list(x.shape), "weight": list(m.weight.shape), "stride": [1, 1],
            "native_ms": timed(lambda: bn_native(m, x, g), args.repeats),
            "burn_default_ms": timed(lambda: bn_burn_default(m, x, g), args.repeats),
            "rel_diff": err / scale,
        })
    for r in rows:
        print(f'{r["layer"]:16} x{r["x"]} w{r["weight"]} s{r["stride"]}: '
              f'native {r["native_ms"]:7.2f} ms, burn default {r["burn_default_ms"]:7.2f} ms '
              f'(rel diff {r["rel_diff"]:.1e})')
    summary = {"threads": args.threads, "batch": args.batch}
    for kind in ("Conv", "BatchNorm"):
        picked = [r for r in rows if r["layer"].startswith(kind)]
        summary[kind] = {
            "layers": len(picked),
            "native_ms": round(sum(r["native_ms"] for r in picked), 2),
            "burn_default_ms": round(sum(r["burn_default_ms"] for r in picked), 2),
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
