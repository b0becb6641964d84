"""spectral_band_filter2d: real-space round trip with an in-kernel band, vs the reference."""

import pytest
import torch
from optester import OpTester
from oputil import SIZES, TOL, band_args, band_bad, band_op_spec, needs_cpu_kernels, rel_err

from specdiff.ops import spectral_band_filter2d, spectral_band_filter2d_reference

pytestmark = needs_cpu_kernels
kernel = torch.ops.specdiff.spectral_band_filter2d


class TestSpectralBandFilter2d(OpTester):
    spec = band_op_spec(
        "spectral_band_filter2d", spectral_band_filter2d, spectral_band_filter2d_reference,
        bad_inputs={
            "x-rank": band_bad(torch.randn(4, 4), ValueError, "x must be a 4-D tensor"),
            "x-half": band_bad(torch.ones(1, 1, 4, 4, dtype=torch.bfloat16), TypeError,
                               "x must be float32 or float64"),
            "kind": band_bad(torch.randn(2, 1, 4, 4), ValueError, "kind must be one of", kind="notch"),
            "gain-shape": band_bad(torch.randn(2, 1, 4, 4), ValueError, "gain must be a number, a 0-d tensor",
                                   gain=torch.ones(2, 1)),
            "inner-device": band_bad(torch.randn(2, 1, 4, 4), ValueError, "inner is on meta",
                                     inner=torch.ones(2, device="meta")),
        },
    )


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


def test_wide_open_band_is_the_identity():
    x = torch.randn(2, 3, 15, 16, dtype=torch.float64)
    y = spectral_band_filter2d(x, inner=-10.0, outer=10.0, temperature=50.0)
    assert torch.allclose(y, x, atol=1e-12)
