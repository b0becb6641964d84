"""One benchmark case per op: the same callables feed pytest-benchmark and ``specdiff bench ops``.

A case builds, for a shape ``(B, C, H, W)``, a dtype and a device, the inputs once and returns closures for
the reference and the kernel path, forward (``fwd``) and forward+backward (``fwdbwd``). Inputs are created
outside the closures so set-up never lands in the timed region.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from specdiff import extension

STANDARD_SHAPES: tuple[tuple[int, int, int, int], ...] = (
    (64, 64, 32, 32),
    (32, 128, 16, 16),
    (16, 32, 64, 64),
    (8, 16, 128, 128),
)
TINY_SHAPES: tuple[tuple[int, int, int, int], ...] = ((2, 4, 8, 8), (1, 2, 5, 7))
PASSES = ("fwd", "fwdbwd")
PATHS = ("reference", "kernel")
# A case may add a (BOUND, pass) thunk: what no kernel of the op can beat (a floor timed beside the two paths).
BOUND = "bound"

Thunk = Callable[[], object]


@dataclass(frozen=True)
class Case:
    name: str
    op: str  # the public op name checked with extension.has_kernel
    build: Callable[[tuple[int, int, int, int], torch.dtype, torch.device], dict[tuple[str, str], Thunk]]


CASES: dict[str, Case] = {}


def register_case(name: str, op: str):
    """Decorator: ``build(shape, dtype, device) -> {(path, pass): thunk}`` for every path and pass."""

    def wrap(build):
        CASES[name] = Case(name, op, build)
        return build

    return wrap


def fwd_bwd(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> Thunk:
    """A thunk running ``fn(*inputs)`` and a backward pass with a fixed upstream gradient."""
    leaves = [t.detach().requires_grad_(t.is_floating_point() or t.is_complex()) for t in inputs]
    grad = torch.randn_like(fn(*leaves))

    def run():
        for leaf in leaves:
            leaf.grad = None
        fn(*leaves).backward(grad)

    return run


def _paths(reference: Callable[..., torch.Tensor], kernel: Callable[..., torch.Tensor], *inputs: torch.Tensor):
    thunks: dict[tuple[str, str], Thunk] = {}
    for path, fn in (("reference", reference), ("kernel", kernel)):
        thunks[(path, "fwd")] = lambda fn=fn: fn(*inputs)
        thunks[(path, "fwdbwd")] = fwd_bwd(fn, *inputs)
    return thunks


def kernel_available(case: Case, device: torch.device) -> bool:
    return extension.has_kernel(case.op, device)


@register_case("spectral_filter2d", "spectral_filter2d")
def _spectral_filter2d(shape, dtype, device):
    from specdiff.ops import spectral_filter2d_reference

    b, c, h, w = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=dtype).to(device)
    weight = torch.rand(c, h, w // 2 + 1, generator=gen, dtype=dtype).to(device)
    return _paths(spectral_filter2d_reference, torch.ops.specdiff.spectral_filter2d, x, weight)


@register_case("spectral_filter2d_k3", "spectral_filter2d")
def _spectral_filter2d_k3(shape, dtype, device):
    """Three complex responses per channel of x ``[B, C, H, W]`` (output ``[B, 3 C, H, W]``), as a GlobalFilter with
    ``multiplier=3`` calls it; the reference repeats x's channels and filters each copy."""
    from specdiff.ops import spectral_filter2d_reference

    b, c, h, w = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=dtype).to(device)
    weight = torch.randn(3 * c, h, w // 2 + 1, 2, generator=gen, dtype=dtype).to(device)
    return _paths(spectral_filter2d_reference, torch.ops.specdiff.spectral_filter2d, x, torch.view_as_complex(weight))


@register_case("spectral_conv2d", "spectral_conv2d")
def _spectral_conv2d(shape, dtype, device):
    """A convolution C -> C computed in frequency with nine bases on the grid 4 pixels larger (zero-padded), as every
    layer of SpectralUNet's ``mixer="basis"`` calls it; the reference builds the per-bin matrices and mixes with
    ``einsum`` between ATen's transforms."""
    from specdiff.ops import spectral_conv2d_reference

    b, c, h, w = shape
    grid = (h + 4, w + 4)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=dtype).to(device)
    basis = torch.view_as_complex(torch.randn(9, grid[0], grid[1] // 2 + 1, 2, generator=gen, dtype=dtype)).to(device)
    taps = (torch.randn(9, c, c, generator=gen, dtype=dtype) / (3 * c**0.5)).to(device)
    return _paths(lambda x, basis, taps: spectral_conv2d_reference(x, basis, taps, grid),
                  lambda x, basis, taps: torch.ops.specdiff.spectral_conv2d(x, basis, taps, grid), x, basis, taps)


def _band_inputs(shape, dtype, device):
    """A real batch and per-sample band parameters (inner, outer, gain), all [B]."""
    b = shape[0]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=dtype).to(device)
    spread = torch.linspace(0.0, 0.1, b, dtype=dtype).to(device)
    return x, (0.2 + spread, 0.6 + spread, 1.0 + spread)


@register_case("spectral_band_weight", "spectral_band_weight")
def _spectral_band_weight(shape, dtype, device):
    from specdiff.ops import spectral_band_weight_reference

    x, params = _band_inputs(shape, dtype, device)
    spec = torch.fft.rfft2(x, norm="ortho")
    width = shape[3]
    thunks = _paths(
        lambda s, i, o, g: spectral_band_weight_reference(s, i, o, g, 10.0, width, "bandpass"),
        lambda s, i, o, g: torch.ops.specdiff.spectral_band_weight(s, i, o, g, 10.0, width, "bandpass"),
        spec,
        *params,
    )
    thunks[(BOUND, "fwdbwd")] = five_passes(spec)
    return thunks


def copy_pass(spec: torch.Tensor) -> torch.Tensor:
    """A band weighting's forward traffic: the spectrum read once and written to a fresh output."""
    out = torch.empty_like(spec)
    out.copy_(spec)
    return out


def add_pass(grad: torch.Tensor, spec: torch.Tensor) -> torch.Tensor:
    """A band weighting's backward traffic: the upstream gradient and the spectrum read, a fresh output written."""
    grad_spec = torch.empty_like(spec)
    torch.add(grad, spec, out=grad_spec)
    return grad_spec


def five_passes(spec: torch.Tensor) -> Thunk:
    """The memory traffic no band weighting can avoid, fwd+bwd: the forward reads the spectrum and writes its
    output, the backward reads the upstream gradient and the spectrum and writes the spectrum's gradient (five
    passes over a spectrum-sized tensor, in fresh outputs like the op's), with no arithmetic worth the name.

    Its tensors live as long as the op's do in :func:`fwd_bwd`: the forward's output through the backward, and the
    spectrum's gradient until the next call (the leaf keeps its ``.grad`` until the next call clears it; the thunk
    returns it). Freed sooner, their memory would serve the backward's output, or the next path's temporaries and
    then this thunk's outputs again while still cached, which the op's own pattern does not allow."""
    grad = torch.randn_like(spec)
    held: list[torch.Tensor] = []

    def run() -> torch.Tensor:
        held.clear()  # the previous call's gradient, as fwd_bwd's `leaf.grad = None`
        out = copy_pass(spec)
        held.append(add_pass(grad, spec))
        del out
        return held[0]

    return run


@register_case("spectral_band_filter2d", "spectral_band_filter2d")
def _spectral_band_filter2d(shape, dtype, device):
    from specdiff.ops import spectral_band_filter2d_reference

    x, params = _band_inputs(shape, dtype, device)
    return _paths(
        lambda x, i, o, g: spectral_band_filter2d_reference(x, i, o, g, 10.0, "bandpass"),
        lambda x, i, o, g: torch.ops.specdiff.spectral_band_filter2d(x, i, o, g, 10.0, "bandpass"),
        x,
        *params,
    )


@register_case("spectral_band_mse", "spectral_band_mse")
def _spectral_band_mse(shape, dtype, device):
    from specdiff.ops import spectral_band_mse_reference

    x, params = _band_inputs(shape, dtype, device)
    return _paths(
        lambda r, i, o, g: spectral_band_mse_reference(r, i, o, g, 10.0, "bandpass"),
        lambda r, i, o, g: torch.ops.specdiff.spectral_band_mse(r, i, o, g, 10.0, "bandpass"),
        x,
        *params,
    )

@register_case("complex_conv2d", "complex_conv2d")
def _complex_conv2d(shape, dtype, device):
    """3x3 complex convolution C -> C, padding 1; C = shape[1] complex channels: x is [B, 2C, H, W]."""
    from specdiff.ops.complex_conv2d import complex_conv2d_reference

    b, c, h, w = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, 2 * c, h, w, generator=gen, dtype=dtype).to(device)
    weights = torch.randn(2, c, c, 3, 3, generator=gen, dtype=dtype) / (18 * c) ** 0.5
    weight_re, weight_im = weights.to(device)

    def reference(x, weight_re, weight_im):
        return complex_conv2d_reference(x, weight_re, weight_im, padding=1)

    def kernel(x, weight_re, weight_im):
        return torch.ops.specdiff.complex_conv2d(
            x, weight_re, weight_im, None, None, [1, 1], [1, 1], [1, 1], 1
        )

    return _paths(reference, kernel, x, weight_re, weight_im)


@register_case("complex_conv_transpose2d", "complex_conv_transpose2d")
def _complex_conv_transpose2d(shape, dtype, device):
    """2x upsampling complex transposed convolution C -> C (4x4 kernel, stride 2, padding 1)."""
    from specdiff.ops.complex_conv_transpose2d import complex_conv_transpose2d_reference

    b, c, h, w = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, 2 * c, h, w, generator=gen, dtype=dtype).to(device)
    weights = torch.randn(2, c, c, 4, 4, generator=gen, dtype=dtype) / (8 * c) ** 0.5
    weight_re, weight_im = weights.to(device)

    def reference(x, weight_re, weight_im):
        return complex_conv_transpose2d_reference(x, weight_re, weight_im, stride=2, padding=1)

    def kernel(x, weight_re, weight_im):
        return torch.ops.specdiff.complex_conv_transpose2d(
            x, weight_re, weight_im, None, None, [2, 2], [1, 1], [0, 0], 1, [1, 1]
        )

    return _paths(reference, kernel, x, weight_re, weight_im)


@register_case("complex_conv2d_1x1", "complex_conv2d")
def _complex_conv2d_1x1(shape, dtype, device):
    """Pointwise complex convolution C -> C with biases (SpectralUNet's channel mixing; the GEMM path)."""
    from specdiff.ops.complex_conv2d import complex_conv2d_reference

    b, c, h, w = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, 2 * c, h, w, generator=gen, dtype=dtype).to(device)
    weights = (torch.randn(2, c, c, 1, 1, generator=gen, dtype=dtype) / (2 * c) ** 0.5).to(device)
    biases = torch.randn(2, c, generator=gen, dtype=dtype).to(device)

    def kernel(x, weight_re, weight_im, bias_re, bias_im):
        return torch.ops.specdiff.complex_conv2d(
            x, weight_re, weight_im, bias_re, bias_im, [1, 1], [0, 0], [1, 1], 1
        )

    return _paths(complex_conv2d_reference, kernel, x, *weights, *biases)


@register_case("complex_norm_act", "complex_norm_act")
def _complex_norm_act(shape, dtype, device):
    """Batch norm (batch statistics) + FiLM + modulus SiLU on [B, 2C, H, W], C = shape[1] complex channels."""
    from specdiff.ops.complex_norm_act import complex_norm_act_reference

    b, c, h, w = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, 2 * c, h, w, generator=gen, dtype=dtype).to(device)
    weight, bias = (1 + 0.1 * torch.randn(2, 2 * c, generator=gen, dtype=dtype)).to(device)
    film = (0.1 * torch.randn(b, 3 * c, generator=gen, dtype=dtype)).to(device)

    def reference(x, weight, bias, film):
        return complex_norm_act_reference(x, weight, bias, film, None, None, True, 0.1, 1e-5)

    def kernel(x, weight, bias, film):
        return torch.ops.specdiff.complex_norm_act(x, weight, bias, None, None, film, 1e-5)[0]

    return _paths(reference, kernel, x, weight, bias, film)


@register_case("group_norm_silu", "group_norm_silu")
def _group_norm_silu(shape, dtype, device):
    """Group norm (8 groups, or the largest divisor of C below 8) + SiLU on [B, C, H, W] (a block's pre-activation)."""
    import math

    from specdiff.ops.group_norm_silu import group_norm_silu_reference

    b, c, h, w = shape
    groups = math.gcd(c, 8)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, c, h, w, generator=gen, dtype=dtype).to(device)
    weight, bias = (1 + 0.1 * torch.randn(2, c, generator=gen, dtype=dtype)).to(device)

    def reference(x, weight, bias):
        return group_norm_silu_reference(x, groups, weight, bias)

    def kernel(x, weight, bias):
        return torch.ops.specdiff.group_norm_silu(x, weight, bias, groups, 1e-5)[0]

    return _paths(reference, kernel, x, weight, bias)
