"""In-process A/B of spectral_filter2d's two backward pairs on the CPU: the forward and a backward that transforms x
again (`spectral_filter2d` + `_spectral_filter2d_backward`), against the saving forward and the backward that reads
the spectrum it kept (`_spectral_filter2d_saving` + `_spectral_filter2d_backward_saved`), which the autograd uses
when the weight needs its gradient. The ops are called directly (no autograd), alternating call by call (ABBA),
medians after warm-up; both gradients, or the weight's alone (`--weight-only`).

    python scripts/saved_spectrum_ab.py --threads 2 --repeats 200
"""

from __future__ import annotations

import argparse

import torch

import specdiff.ops  # noqa: F401  (loads the extension)
from specdiff.bench.cases import STANDARD_SHAPES
from specdiff.bench.ops import interleaved_medians

OPS = torch.ops.specdiff


def pairs(shape, mask):
    gen = torch.Generator().manual_seed(0)
    b, c, h, w = shape
    x, grad = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
    weight = torch.rand(c, h, w // 2 + 1, generator=gen)

    def plain():
        OPS.spectral_filter2d(x, weight)
        OPS._spectral_filter2d_backward(grad, x, weight, mask)

    def saving():
        spectra = OPS._spectral_filter2d_saving(x, weight)[1]
        OPS._spectral_filter2d_backward_saved(grad, spectra, weight, mask)

    return plain, saving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--weight-only", action="store_true", help="the backward computes grad_weight alone")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    mask = [not args.weight_only, True]
    print("| B×C×H×W | x transformed again ms | spectrum kept ms | ratio |\n|---|---:|---:|---:|")
    for shape in STANDARD_SHAPES:
        a, b = interleaved_medians(list(pairs(shape, mask)), args.repeats)
        print(f"| {'x'.join(map(str, shape))} | {a:.3f} | {b:.3f} | {a / b:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
