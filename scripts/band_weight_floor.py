"""The band weighting's fwd+bwd against its five-pass memory bound, and against the same five passes through autograd.

`specdiff bench ops` times spectral_band_weight's kernel path (the op's fwd+bwd through the autograd engine) against
the five passes no band weighting avoids, made by plain ATen calls: no graph and no engine. Every fwd+bwd through
autograd also pays the engine's fixed cost (the graph's node, the saved inputs, ``backward()``, the leaves'
gradients), which that bound leaves out. This script times, in the benchmark's call order and with its thunks, the
reference path, the kernel path, the bound, and the same five passes made by a ``torch.autograd.Function`` of the
op's four inputs (a copy forward; an add and three zero parameter gradients backward): a floor for any band
weighting used through autograd. Medians of interleaved calls after a warm-up, as the benchmark takes them.

    python scripts/band_weight_floor.py --threads 2
"""

from __future__ import annotations

import argparse

import torch

import specdiff.ops  # noqa: F401  (loads the extension)
from specdiff.bench.cases import BOUND, CASES, STANDARD_SHAPES, _band_inputs, add_pass, copy_pass, fwd_bwd
from specdiff.bench.ops import interleaved_medians


class FivePasses(torch.autograd.Function):
    """The passes of the benchmark's bound (specdiff.bench.cases.five_passes) through autograd: the forward copies
    the spectrum into a fresh output, the backward adds the upstream gradient and the spectrum into a fresh output."""

    @staticmethod
    def forward(ctx, spec, inner, outer, gain):
        ctx.save_for_backward(spec, inner, outer, gain)
        return copy_pass(spec)

    @staticmethod
    def backward(ctx, grad):
        spec, inner, outer, gain = ctx.saved_tensors
        return add_pass(grad, spec), torch.zeros_like(inner), torch.zeros_like(outer), torch.zeros_like(gain)


def measure(shape: tuple[int, int, int, int], repeats: int, warmup: int) -> dict:
    thunks = CASES["spectral_band_weight"].build(shape, torch.float32, torch.device("cpu"))
    x, params = _band_inputs(shape, torch.float32, torch.device("cpu"))
    floor = fwd_bwd(FivePasses.apply, torch.fft.rfft2(x, norm="ortho"), *params)
    paths = [thunks[("reference", "fwdbwd")], thunks[("kernel", "fwdbwd")], thunks[(BOUND, "fwdbwd")], floor]
    reference, kernel, bound, autograd_bound = interleaved_medians(paths, repeats, warmup)
    return {"shape": list(shape), "reference_ms": reference, "kernel_ms": kernel, "bound_ms": bound,
            "autograd_bound_ms": autograd_bound}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", action="append", help="BxCxHxW (repeatable; default: the standard shapes)")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls of each path, at least")
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shape] if args.shape else STANDARD_SHAPES
    print("| B×C×H×W | reference ms | kernel ms | bound ms | bound through autograd ms | kernel / bound "
          "| kernel / bound through autograd | bound through autograd / bound |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    records = []
    for shape in shapes:
        r = measure(shape, args.repeats, args.warmup)
        records.append(r)
        print(f"| {'x'.join(map(str, shape))} | {r['reference_ms']:.3f} | {r['kernel_ms']:.3f} | {r['bound_ms']:.3f} "
              f"| {r['autograd_bound_ms']:.3f} | {r['kernel_ms'] / r['bound_ms']:.2f}x "
              f"| {r['kernel_ms'] / r['autograd_bound_ms']:.2f}x | {r['autograd_bound_ms'] / r['bound_ms']:.2f}x |",
              flush=True)
    return records


if __name__ == "__main__":
    main()
