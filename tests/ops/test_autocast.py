"""Under autocast every spectral op computes in float32 on both paths and returns x's dtype (the loss stays
float32); outside it, reduced dtypes on CPU stay an error."""

from __future__ import annotations

import pytest
import torch
from oputil import backend

from specdiff.ops import (
    complex_conv2d,
    complex_conv_transpose2d,
    spectral_band_filter2d,
    spectral_band_mse,
    spectral_filter2d,
)

g = torch.Generator().manual_seed(0)
X = torch.randn(2, 4, 6, 7, generator=g)
W = torch.randn(6, 4, generator=g)
WR, WI = torch.randn(3, 2, 3, 3, generator=g), torch.randn(3, 2, 3, 3, generator=g)
WTR, WTI = torch.randn(2, 3, 3, 3, generator=g), torch.randn(2, 3, 3, 3, generator=g)

CASES = {
    "spectral_filter2d": lambda x: spectral_filter2d(x, W),
    "spectral_band_filter2d": lambda x: spectral_band_filter2d(x, kind="bandpass", inner=0.1, outer=0.7),
    "spectral_band_mse": lambda x: spectral_band_mse(x, kind="radial"),
    "complex_conv2d": lambda x: complex_conv2d(x, WR, WI, None, None, padding=1),
    "complex_conv_transpose2d": lambda x: complex_conv_transpose2d(x, WTR, WTI, None, None, stride=2),
}


@pytest.mark.parametrize("path", ["reference", "kernel"])
@pytest.mark.parametrize("op", list(CASES))
def test_autocast_computes_in_float32_and_returns_the_input_dtype(op, path):
    x_bf16 = X.to(torch.bfloat16)
    with backend(path):
        expected = CASES[op](x_bf16.float())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = CASES[op](x_bf16)
            got_fp32 = CASES[op](x_bf16.float())
    if op == "spectral_band_mse":  # a loss stays float32, as autocast keeps mse_loss
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    else:  # computed in float32 (not in bfloat16), then rounded once to the input dtype
        assert got.dtype == torch.bfloat16
        torch.testing.assert_close(got, expected.to(torch.bfloat16), rtol=0, atol=0)
    # float32 inputs under autocast are not dropped to bfloat16 inside the op
    assert got_fp32.dtype == torch.float32
    torch.testing.assert_close(got_fp32, expected, rtol=1e-5, atol=1e-5)


def test_bf16_outside_autocast_is_a_clear_error_on_cpu():
    with pytest.raises(TypeError, match="float32 or float64"):
        spectral_filter2d(X.to(torch.bfloat16), W)
