"""``spectral_band_filter2d``: the real-space round trip through an analytic band computed in the kernel."""

from __future__ import annotations

import torch

from specdiff import extension
from specdiff.ops._checks import check_image, float32_under_autocast, in_float32
from specdiff.ops.band import BandKind, Param, band_mask_reference, band_params, register_band_backward_fake
from specdiff.ops.spectral_filter2d import spectral_filter2d_reference


def spectral_band_filter2d_reference(x, inner, outer, gain, temperature, kind):
    """Pure-PyTorch specification of :func:`spectral_band_filter2d` (tensor parameters)."""
    height, width = x.shape[-2:]
    return spectral_filter2d_reference(x, band_mask_reference(height, width, inner, outer, gain, temperature, kind))


@float32_under_autocast()
def spectral_band_filter2d(
    x: torch.Tensor,
    *,
    kind: BandKind = "bandpass",
    inner: Param = 0.0,
    outer: Param = 1.0,
    gain: Param = 1.0,
    temperature: float = 10.0,
) -> torch.Tensor:
    """``irfft2(band(rho) · rfft2(x, norm="ortho"), s=(H, W), norm="ortho")`` in one fused pass.

    Args:
        x: ``Tensor[B, C, H, W]`` float32/float64, any B, C, H, W >= 1 (empty x is a ValueError), any memory
            layout.
        kind, inner, outer, gain, temperature: the band (:mod:`specdiff.ops.band`); inner/outer/gain may be
            per-sample ``[B]`` tensors.

    Returns:
        ``Tensor[B, C, H, W]``; differentiable in x, inner, outer and gain.
    """
    check_image(x)
    inner, outer, gain = band_params(inner, outer, gain, temperature, kind, x.shape[0], x)
    if extension.use_kernel("spectral_band_filter2d", x.device):
        return torch.ops.specdiff.spectral_band_filter2d(x, inner, outer, gain, float(temperature), kind)
    with extension.reference_scope("spectral_band_filter2d"):
        return in_float32(spectral_band_filter2d_reference, x, inner, outer, gain, float(temperature), kind)


if extension.is_loaded():

    @torch.library.register_fake("specdiff::spectral_band_filter2d")
    def _(x, inner, outer, gain, temperature, kind):
        return x.new_empty(x.shape)

    register_band_backward_fake("_spectral_band_filter2d_backward")
