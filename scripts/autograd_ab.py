"""In-process A/B of an op's autograd: the C++ registration (csrc/autograd.cpp) against the Python formula
torch.library.register_autograd gives the same kernels.

The Python side is a copy of the op in a scratch namespace whose CPU implementation calls the specdiff kernel, with
the formula the op had in Python; both paths run fwd+bwd as `specdiff bench ops` does (fresh leaves' gradients, a
fixed upstream gradient), alternating call by call, medians after warm-up. Where the C++ autograd of
spectral_filter2d keeps x's spectrum (torch.ops.specdiff._roundtrip_keeps_spectra: 8x16x128x128 on a 1.25 MiB L2),
its side also runs the other backward pair (scripts/saved_spectrum_ab.py compares the pairs alone).

    python scripts/autograd_ab.py --op spectral_band_weight --op spectral_filter2d --op group_norm_silu --threads 2
"""

from __future__ import annotations

import argparse

import torch

import specdiff.ops  # noqa: F401  (loads the extension and the ops' fakes)
from specdiff.bench.cases import STANDARD_SHAPES, _band_inputs
from specdiff.bench.ops import interleaved_medians

OPS = torch.ops.specdiff
LIB = torch.library.Library("specdiff_autograd_ab", "DEF")


def _scratch_op(name: str, schema: str, kernel, setup, backward):
    """specdiff_autograd_ab::<name>: a CPU impl calling ``kernel`` and the Python formula (setup, backward)."""
    LIB.define(name + schema)
    LIB.impl(name, lambda *args: kernel(*args), "CPU")
    torch.library.register_autograd(f"specdiff_autograd_ab::{name}", backward, setup_context=setup)
    return getattr(torch.ops.specdiff_autograd_ab, name)


def _python_band_weight():
    def setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:4])
        ctx.static = inputs[4:]

    def backward(ctx, grad):
        need = list(ctx.needs_input_grad[:4])
        grads = OPS._spectral_band_weight_backward(grad, *ctx.saved_tensors, *ctx.static, need)
        return (*(g if n else None for g, n in zip(grads, need, strict=True)), None, None, None)

    return _scratch_op("band", "(Tensor spec, Tensor inner, Tensor outer, Tensor gain, float temperature, int width, "
                       "str kind) -> Tensor", OPS.spectral_band_weight, setup, backward)


def _python_filter2d():
    def setup(ctx, inputs, output):
        x, weight, *rest = inputs
        ctx.s = rest[0] if rest else None
        ctx.save_for_backward(x, weight)

    def backward(ctx, grad):
        need_x, need_w = ctx.needs_input_grad[:2]
        grad_x, grad_w = OPS._spectral_filter2d_backward(grad, *ctx.saved_tensors, [need_x, need_w], ctx.s)
        return (grad_x if need_x else None), (grad_w if need_w else None), None

    return _scratch_op("filter", "(Tensor x, Tensor weight, int[]? s=None) -> Tensor", OPS.spectral_filter2d, setup,
                       backward)


def _python_group_norm_silu():
    def setup(ctx, inputs, output):
        x, weight, bias, groups, _ = inputs
        _, mean, rstd = output
        ctx.save_for_backward(x, weight, bias, mean, rstd)
        ctx.groups = groups
        ctx.mark_non_differentiable(mean, rstd)

    def backward(ctx, grad, _grad_mean, _grad_rstd):
        x, weight, bias, mean, rstd = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx, gw, gb = OPS._group_norm_silu_backward(grad, x, weight, bias, mean, rstd, ctx.groups,
                                                   [need[0], need[1] or need[2]])
        return gx if need[0] else None, gw if need[1] else None, gb if need[2] else None, None, None

    return _scratch_op("gns", "(Tensor x, Tensor weight, Tensor bias, int groups, float eps) -> "
                       "(Tensor, Tensor, Tensor)", OPS.group_norm_silu, setup, backward)


PYTHON = {"spectral_band_weight": _python_band_weight(), "spectral_filter2d": _python_filter2d(),
          "group_norm_silu": _python_group_norm_silu()}


def _case(op: str, shape):
    """(inputs, the op through its C++ autograd, the same kernels through the Python formula)."""
    gen = torch.Generator().manual_seed(0)
    b, c, h, w = shape
    python = PYTHON[op]
    if op == "spectral_band_weight":
        x, params = _band_inputs(shape, torch.float32, torch.device("cpu"))
        return ((torch.fft.rfft2(x, norm="ortho"), *params),
                lambda *a: OPS.spectral_band_weight(*a, 10.0, w, "bandpass"),
                lambda *a: python(*a, 10.0, w, "bandpass"))
    if op == "group_norm_silu":  # real channels C, 8 groups (C is a multiple of 8 at every standard shape)
        x = torch.randn(shape, generator=gen)
        weight, bias = torch.randn(c, generator=gen), torch.randn(c, generator=gen)
        return ((x, weight, bias), (lambda *a: OPS.group_norm_silu(*a, 8, 1e-5)[0]),
                (lambda *a: python(*a, 8, 1e-5)[0]))
    x = torch.randn(shape, generator=gen)
    weight = torch.rand(c, h, w // 2 + 1, generator=gen)
    return (x, weight), (lambda *a: OPS.spectral_filter2d(*a, [h, w])), (lambda *a: python(*a, [h, w]))


def time_pair(inputs, cpp, python, repeats: int) -> tuple[float, float]:
    leaves = [t.detach().requires_grad_() for t in inputs]
    grad = torch.randn_like(cpp(*leaves))

    def run(fn):
        for leaf in leaves:
            leaf.grad = None
        fn(*leaves).backward(grad)

    return tuple(interleaved_medians([lambda: run(cpp), lambda: run(python)], repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--op", action="append", choices=tuple(PYTHON))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| op | B×C×H×W | C++ autograd ms | register_autograd ms | saved ms | ratio |\n|---|---|---:|---:|---:|---:|")
    for op in args.op or PYTHON:
        for shape in STANDARD_SHAPES:
            cpp_ms, python_ms = time_pair(*_case(op, shape), repeats=args.repeats)
            print(f"| {op} | {'x'.join(map(str, shape))} | {cpp_ms:.3f} | {python_ms:.3f} | "
                  f"{python_ms - cpp_ms:.3f} | {python_ms / cpp_ms:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
