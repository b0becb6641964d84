"""spectral_band_filter2d: real-space round trip with an in-kernel band, vs the reference."""

import torch
from optester import OpTester
from oputil import SIZES, band_bad, band_op_spec, needs_cpu_kernels

from specdiff.ops import spectral_band_filter2d, spectral_band_filter2d_reference

pytestmark = needs_cpu_kernels
kernel = torch.ops.specdiff.spectral_band_filter2d


class TestSpectralBandFilter2d(OpTester):
    spec = band_op_spec(
        "spectral_band_filter2d", spectral_band_filter2d, spectral_band_filter2d_reference,
        heights=(1, 3, 8, 17, 32, 100), widths=SIZES,
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



def test_wide_open_band_is_the_identity():
    x = torch.randn(2, 3, 15, 16, dtype=torch.float64)
    y = spectral_band_filter2d(x, inner=-10.0, outer=10.0, temperature=50.0)
    assert torch.allclose(y, x, atol=1e-12)
