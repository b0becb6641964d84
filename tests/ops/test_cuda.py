"""CUDA kernels vs the float64 CPU reference (skipped without a GPU; `make gpu-check` runs them).

The reference is evaluated on the CPU: cuFFT may treat the imaginary parts of the DC/Nyquist bins of a
non-Hermitian spectrum differently from pocketfft, and the kernels follow pocketfft's convention.
"""

import pytest
import torch
from oputil import LAYOUTS, band_args, rel_err, specdiff_ops_called, with_layout

from specdiff import extension
from specdiff.ops import (
    spectral_band_filter2d,
    spectral_band_filter2d_reference,
    spectral_band_mse,
    spectral_band_mse_reference,
    spectral_band_weight,
    spectral_band_weight_reference,
    spectral_filter2d,
    spectral_filter2d_reference,
)

pytestmark = pytest.mark.skipif(
    not (torch.cuda.is_available() and extension.has_kernel("spectral_filter2d", "cuda")),
    reason="needs a GPU and specdiff._C built with CUDA",
)
CUDA_TOL = {torch.float32: 2e-5, torch.float64: 1e-10, torch.float16: 5e-3, torch.bfloat16: 3e-2}
# The fused shared-memory path (square power-of-two planes 16-128) and the cuFFT path (every other size);
# odd, prime, non-power-of-two.
SIZES = [(1, 1), (5, 7), (13, 11), (16, 16), (17, 32), (32, 32), (33, 64), (64, 64), (100, 3), (129, 130), (256, 256)]


@pytest.fixture(autouse=True)
def kernel_backend():
    """The kernels themselves, for every size: under the default auto backend spectral_filter2d sends CUDA sizes
    without a fused kernel to the reference path (test_auto_routes_unfused_sizes_to_the_reference)."""
    with extension.use_backend("kernel"):
        yield


def test_auto_routes_unfused_sizes_to_the_reference():
    w = cuda(torch.rand(3, 65))
    with extension.use_backend("auto"):
        for (h, width), fused in (((64, 64), True), ((32, 64), False), ((6, 7), False), ((128, 128), True)):
            x = cuda(torch.randn(2, 3, h, width))
            weight = w[:, None, : width // 2 + 1].expand(3, h, width // 2 + 1).contiguous()
            called = specdiff_ops_called(spectral_filter2d, x, weight)
            assert called == (["specdiff::spectral_filter2d"] if fused else []), (h, width, called)


def cuda(t, dtype=None):
    return t.to("cuda", dtype=dtype) if dtype else t.to("cuda")


def complex_of(dtype):
    return torch.complex64 if dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.complex128


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("H,W", SIZES)
def test_spectral_filter2d_matches_reference(H, W, dtype):
    x = torch.randn(2, 3, H, W, dtype=torch.float64)
    w = torch.randn(3, H, W // 2 + 1, dtype=torch.complex128)
    if dtype in (torch.float16, torch.bfloat16):
        x = x.to(dtype).double()  # the reference sees exactly the values the kernel sees
    ref = spectral_filter2d_reference(x, w)
    y = spectral_filter2d(cuda(x, dtype), cuda(w, complex_of(dtype)))
    assert y.dtype == dtype and y.device.type == "cuda"
    assert rel_err(y.cpu(), ref) < CUDA_TOL[dtype]


@pytest.mark.parametrize("weight_shape", ["W", "HW", "CHW", "B1HW", "BCHW"])
@pytest.mark.parametrize("complex_weight", [False, True])
@pytest.mark.parametrize("H,W", [(9, 14), (16, 16), (32, 32), (64, 64), (129, 130)])
def test_spectral_filter2d_gradients(H, W, complex_weight, weight_shape):
    B, C, Wf = 3, 4, W // 2 + 1
    shape = {"W": (Wf,), "HW": (H, Wf), "CHW": (C, H, Wf), "B1HW": (B, 1, H, Wf), "BCHW": (B, C, H, Wf)}[weight_shape]
    x = torch.randn(B, C, H, W, dtype=torch.float64, requires_grad=True)
    w = torch.randn(shape, dtype=torch.complex128 if complex_weight else torch.float64, requires_grad=True)
    g = torch.randn(B, C, H, W, dtype=torch.float64)
    ref = torch.autograd.grad(spectral_filter2d_reference(x, w), (x, w), g)
    xc, wc = cuda(x.detach()).requires_grad_(True), cuda(w.detach()).requires_grad_(True)
    out = torch.autograd.grad(spectral_filter2d(xc, wc), (xc, wc), cuda(g))
    for a, b in zip(out, ref, strict=True):
        assert rel_err(a.cpu(), b) < 1e-10


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts(layout):
    x = torch.randn(2, 6, 31, 20, dtype=torch.float64)
    w = torch.randn(6, 31, 11, dtype=torch.complex128)
    ref = spectral_filter2d_reference(x, w)
    assert rel_err(spectral_filter2d(cuda(with_layout(x, layout)), cuda(w)).cpu(), ref) < 1e-10


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("kind", ["radial", "bandpass"])
@pytest.mark.parametrize("H,W", [(5, 7), (16, 16), (32, 32), (64, 33), (64, 64), (129, 130)])
def test_band_ops_values_and_gradients(H, W, kind, per_sample):
    x = torch.randn(3, 2, H, W, dtype=torch.float64, requires_grad=True)
    spec = torch.fft.rfft2(x.detach(), norm="ortho").requires_grad_(True)
    params = band_args(3, per_sample, requires_grad=True)
    band = dict(kind=kind, temperature=7.0)
    cases = [
        (lambda t, i, o, g: spectral_band_filter2d(t, inner=i, outer=o, gain=g, **band),
         lambda t, i, o, g: spectral_band_filter2d_reference(t, i, o, g, 7.0, kind), x),
        (lambda t, i, o, g: spectral_band_mse(t, inner=i, outer=o, gain=g, **band),
         lambda t, i, o, g: spectral_band_mse_reference(t, i, o, g, 7.0, kind), x),
        (lambda t, i, o, g: spectral_band_weight(t, W, inner=i, outer=o, gain=g, **band),
         lambda t, i, o, g: spectral_band_weight_reference(t, i, o, g, 7.0, W, kind), spec),
    ]
    for op, reference, inp in cases:
        inputs = (inp, *params)
        ref_out = reference(*inputs)
        g = torch.randn_like(ref_out)
        ref_grads = torch.autograd.grad(ref_out, inputs, g, allow_unused=True)
        dev_inputs = [cuda(t.detach()).requires_grad_(True) for t in inputs]
        out = op(*dev_inputs)
        assert rel_err(out.cpu(), ref_out) < 1e-10
        for a, b in zip(torch.autograd.grad(out, dev_inputs, cuda(g)), ref_grads, strict=True):
            assert rel_err(a.cpu(), torch.zeros_like(a.cpu()) if b is None else b) < 1e-10


def test_gradcheck_opcheck_compile():
    x = torch.randn(2, 2, 6, 7, dtype=torch.float64, device="cuda", requires_grad=True)
    w = torch.randn(6, 4, dtype=torch.complex128, device="cuda", requires_grad=True)
    assert torch.autograd.gradcheck(spectral_filter2d, (x, w))
    torch.library.opcheck(torch.ops.specdiff.spectral_filter2d.default, (x, w))
    params = band_args(2, True, requires_grad=True)
    params = tuple(cuda(p.detach()).requires_grad_(True) for p in params)
    torch.library.opcheck(torch.ops.specdiff.spectral_band_filter2d.default, (x, *params, 5.0, "bandpass"))
    torch.library.opcheck(torch.ops.specdiff.spectral_band_mse.default, (x, *params, 5.0, "radial"))

    def f(x, w):
        return spectral_filter2d(x, w).square().sum()

    assert torch.allclose(torch.compile(f, fullgraph=True)(x, w), f(x, w), rtol=1e-10)


def test_autocast_half_inputs():
    x = torch.randn(2, 3, 24, 20, device="cuda")
    w = torch.rand(24, 11, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        y = spectral_filter2d(x.half(), w)
    assert y.dtype == torch.float16
    assert rel_err(y.float().cpu(), spectral_filter2d_reference(x.half().double().cpu(), w.double().cpu())) < 5e-3
