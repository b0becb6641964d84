"""spectral_band_mse: per-sample band-weighted MSE through Parseval, vs the reference."""

import pytest
import torch
from optester import OpTester
from oputil import SIZES, band_bad, band_op_spec, needs_cpu_kernels

from specdiff.ops import spectral_band_mse, spectral_band_mse_reference

pytestmark = needs_cpu_kernels
kernel = torch.ops.specdiff.spectral_band_mse


class TestSpectralBandMse(OpTester):
    spec = band_op_spec(
        "spectral_band_mse", spectral_band_mse, spectral_band_mse_reference, compile_case="radial-shared-8x10",
        heights=(1, 3, 32, 33), widths=(1, 2, 5, 16, 17, 100),
        bad_inputs={
            "residual-rank": band_bad(torch.randn(2, 4, 4), ValueError, "residual must be a 4-D tensor"),
            "temperature": band_bad(torch.randn(2, 1, 4, 4), ValueError, "temperature must be a finite number > 0",
                                    temperature=float("nan")),
        },
    )


@pytest.mark.parametrize("W", SIZES)
@pytest.mark.parametrize("H", [1, 2, 15, 64])
def test_unit_band_is_the_plain_mse(H, W):
    r = torch.randn(3, 2, H, W, dtype=torch.float64)
    ones = torch.tensor(1.0, dtype=torch.float64)
    # radial band with gain g is g * rho; a band-pass wide open on both sides is exactly gain (σ saturates).
    loss = kernel(r, torch.tensor(-50.0, dtype=torch.float64), torch.tensor(50.0, dtype=torch.float64), ones, 10.0,
                  "bandpass")
    assert torch.allclose(loss, r.square().mean(dim=(1, 2, 3)), rtol=1e-12)



def test_high_pass_band_ignores_a_constant_residual():
    r = torch.full((2, 3, 8, 8), 0.5, dtype=torch.float64)
    assert torch.allclose(spectral_band_mse(r, kind="radial"), torch.zeros(2, dtype=torch.float64), atol=1e-15)
