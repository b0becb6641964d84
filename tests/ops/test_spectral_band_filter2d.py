"""spectral_band_filter2d: real-space round trip with an in-kernel band, vs the reference."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oputil import LAYOUTS, SIZES, TOL, backend, band_args, needs_cpu_kernels, rel_err, specdiff_ops_called, with_layout

from specdiff.ops import spectral_band_filter2d, spectral_band_filter2d_reference

pytestmark = needs_cpu_kernels
kernel = torch.ops.specdiff.spectral_band_filter2d


@pytest.mark.parametrize("kind", ["radial", "bandpass"])
@pytest.mark.parametrize("W", SIZES)
@pytest.mark.parametrize("H", [1, 3, 8, 17, 32, 100])
def test_matches_reference(H, W, kind):
    x = torch.randn(3, 2, H, W, dtype=torch.float64)
    params = band_args(3, per_sample=True)
    ref = spectral_band_filter2d_reference(x, *params, 8.0, kind)
    for dtype in (torch.float32, torch.float64):
        y = kernel(x.to(dtype), *(p.to(dtype) for p in params), 8.0, kind)
        assert rel_err(y, ref) < TOL[dtype]


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("kind", ["radial", "bandpass"])
@pytest.mark.parametrize("H,W", [(9, 10), (7, 67)])
def test_gradients_to_input_and_band(H, W, kind, per_sample):
    x = torch.randn(4, 3, H, W, dtype=torch.float64, requires_grad=True)
    params = band_args(4, per_sample, requires_grad=True)
    g = torch.randn(4, 3, H, W, dtype=torch.float64)
    inputs = (x, *params)
    ref = torch.autograd.grad(spectral_band_filter2d_reference(x, *params, 6.0, kind), inputs, g, allow_unused=True)
    out = torch.autograd.grad(kernel(x, *params, 6.0, kind), inputs, g)
    for a, b, t in zip(out, ref, inputs, strict=True):
        assert a.shape == t.shape
        assert rel_err(a, torch.zeros_like(a) if b is None else b) < 1e-12


@pytest.mark.parametrize("path", ["kernel", "reference"])
def test_gradcheck(path):
    x = torch.randn(2, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    params = band_args(2, per_sample=True, requires_grad=True)
    with backend(path):
        assert torch.autograd.gradcheck(
            lambda x, i, o, g: spectral_band_filter2d(x, inner=i, outer=o, gain=g, temperature=4.0), (x, *params)
        )


def test_opcheck():
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    for per_sample in (False, True):
        torch.library.opcheck(kernel.default, (x, *band_args(2, per_sample), 5.0, "bandpass"))
        grad_args = (x.clone().requires_grad_(True), *band_args(2, per_sample, requires_grad=True), 5.0, "radial")
        torch.library.opcheck(kernel.default, grad_args)


def test_compile_fullgraph_parity():
    x = torch.randn(2, 3, 8, 10, dtype=torch.float64)
    gain = torch.tensor([1.0, 2.0], dtype=torch.float64)

    def f(x, gain):
        return spectral_band_filter2d(x, inner=0.2, outer=0.5, gain=gain).sum()

    assert torch.allclose(torch.compile(f, fullgraph=True)(x, gain), f(x, gain), rtol=1e-12)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts(layout):
    x = torch.randn(2, 5, 12, 9, dtype=torch.float64)
    params = band_args(2, True)
    assert torch.equal(kernel(with_layout(x, layout), *params, 5.0, "bandpass"), kernel(x, *params, 5.0, "bandpass"))


def test_wide_open_band_is_the_identity():
    x = torch.randn(2, 3, 15, 16, dtype=torch.float64)
    y = spectral_band_filter2d(x, inner=-10.0, outer=10.0, temperature=50.0)
    assert torch.allclose(y, x, atol=1e-12)


def test_routes_by_backend():
    x = torch.randn(1, 1, 4, 4)
    with backend("reference"):
        assert specdiff_ops_called(spectral_band_filter2d, x) == []
    assert specdiff_ops_called(spectral_band_filter2d, x) == ["specdiff::spectral_band_filter2d"]


@pytest.mark.parametrize(
    "x, kwargs, error, match",
    [
        (torch.randn(4, 4), {}, ValueError, r"x must be a 4-D tensor"),
        (torch.ones(1, 1, 4, 4, dtype=torch.bfloat16), {}, TypeError, "x must be float32 or float64"),
        (torch.randn(2, 1, 4, 4), dict(kind="notch"), ValueError, "kind must be one of"),
        (torch.randn(2, 1, 4, 4), dict(gain=torch.ones(2, 1)), ValueError, "gain must be a number, a 0-d tensor"),
        (torch.randn(2, 1, 4, 4), dict(inner=torch.ones(2, device="meta")), ValueError, "inner is on meta"),
    ],
)
def test_bad_input_errors(x, kwargs, error, match):
    with pytest.raises(error, match=match):
        spectral_band_filter2d(x, **kwargs)


@settings(max_examples=20, deadline=None)
@given(B=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 30), W=st.integers(1, 30), per_sample=st.booleans())
def test_random_shapes(B, C, H, W, per_sample):
    x = torch.randn(B, C, H, W, dtype=torch.float64)
    params = band_args(B, per_sample)
    expected = spectral_band_filter2d_reference(x, *params, 9.0, "bandpass")
    assert rel_err(kernel(x, *params, 9.0, "bandpass"), expected) < 1e-12
