"""spectral_band_mse: per-sample band-weighted MSE through Parseval, vs the reference."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oputil import LAYOUTS, SIZES, TOL, backend, band_args, needs_cpu_kernels, rel_err, specdiff_ops_called, with_layout

from specdiff.ops import spectral_band_mse, spectral_band_mse_reference

pytestmark = needs_cpu_kernels
kernel = torch.ops.specdiff.spectral_band_mse


@pytest.mark.parametrize("W", SIZES)
@pytest.mark.parametrize("H", [1, 2, 15, 64])
def test_unit_band_is_the_plain_mse(H, W):
    r = torch.randn(3, 2, H, W, dtype=torch.float64)
    ones = torch.tensor(1.0, dtype=torch.float64)
    # radial band with gain g is g * rho; a band-pass wide open on both sides is exactly gain (σ saturates).
    loss = kernel(r, torch.tensor(-50.0, dtype=torch.float64), torch.tensor(50.0, dtype=torch.float64), ones, 10.0,
                  "bandpass")
    assert torch.allclose(loss, r.square().mean(dim=(1, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("kind", ["radial", "bandpass"])
@pytest.mark.parametrize("W", [1, 2, 5, 16, 17, 100])
@pytest.mark.parametrize("H", [1, 3, 32, 33])
def test_matches_reference(H, W, kind):
    r = torch.randn(3, 2, H, W, dtype=torch.float64)
    params = band_args(3, per_sample=True)
    ref = spectral_band_mse_reference(r, *params, 8.0, kind)
    for dtype in (torch.float32, torch.float64):
        loss = kernel(r.to(dtype), *(p.to(dtype) for p in params), 8.0, kind)
        assert loss.shape == (3,) and loss.dtype == dtype and rel_err(loss, ref) < TOL[dtype]


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("kind", ["radial", "bandpass"])
@pytest.mark.parametrize("H,W", [(9, 10), (4, 67)])
def test_gradients_to_residual_and_band(H, W, kind, per_sample):
    r = torch.randn(4, 3, H, W, dtype=torch.float64, requires_grad=True)
    params = band_args(4, per_sample, requires_grad=True)
    g = torch.randn(4, dtype=torch.float64)
    inputs = (r, *params)
    ref = torch.autograd.grad(spectral_band_mse_reference(r, *params, 6.0, kind), inputs, g, allow_unused=True)
    out = torch.autograd.grad(kernel(r, *params, 6.0, kind), inputs, g)
    for a, b, t in zip(out, ref, inputs, strict=True):
        assert a.shape == t.shape
        assert rel_err(a, torch.zeros_like(a) if b is None else b) < 1e-12


@pytest.mark.parametrize("path", ["kernel", "reference"])
def test_gradcheck(path):
    r = torch.randn(2, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    params = band_args(2, per_sample=True, requires_grad=True)
    with backend(path):
        assert torch.autograd.gradcheck(
            lambda r, i, o, g: spectral_band_mse(r, inner=i, outer=o, gain=g, temperature=4.0), (r, *params)
        )


def test_opcheck():
    r = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    for per_sample in (False, True):
        torch.library.opcheck(kernel.default, (r, *band_args(2, per_sample), 5.0, "bandpass"))
        grad_args = (r.clone().requires_grad_(True), *band_args(2, per_sample, requires_grad=True), 5.0, "radial")
        torch.library.opcheck(kernel.default, grad_args)


def test_compile_fullgraph_parity():
    r = torch.randn(2, 3, 8, 10, dtype=torch.float64)

    def f(r):
        return spectral_band_mse(r, kind="radial").mean()

    assert torch.allclose(torch.compile(f, fullgraph=True)(r), f(r), rtol=1e-12)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts(layout):
    r = torch.randn(2, 5, 12, 9, dtype=torch.float64)
    params = band_args(2, True)
    assert torch.allclose(kernel(with_layout(r, layout), *params, 5.0, "radial"), kernel(r, *params, 5.0, "radial"),
                          rtol=1e-14)


def test_high_pass_band_ignores_a_constant_residual():
    r = torch.full((2, 3, 8, 8), 0.5, dtype=torch.float64)
    assert torch.allclose(spectral_band_mse(r, kind="radial"), torch.zeros(2, dtype=torch.float64), atol=1e-15)


def test_routes_by_backend():
    r = torch.randn(1, 1, 4, 4)
    with backend("reference"):
        assert specdiff_ops_called(spectral_band_mse, r) == []
    assert specdiff_ops_called(spectral_band_mse, r) == ["specdiff::spectral_band_mse"]


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"residual must be a 4-D tensor"):
        spectral_band_mse(torch.randn(2, 4, 4))
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        spectral_band_mse(torch.randn(2, 1, 4, 4), temperature=float("nan"))


@settings(max_examples=20, deadline=None)
@given(B=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 30), W=st.integers(1, 30), per_sample=st.booleans())
def test_random_shapes(B, C, H, W, per_sample):
    r = torch.randn(B, C, H, W, dtype=torch.float64)
    params = band_args(B, per_sample)
    expected = spectral_band_mse_reference(r, *params, 9.0, "bandpass")
    assert rel_err(kernel(r, *params, 9.0, "bandpass"), expected) < 1e-12
