"""``spectral_band_mse``: per-sample band-weighted MSE of a residual, through Parseval (no inverse FFT)."""

from __future__ import annotations

import torch

from specdiff import extension
from specdiff.ops._checks import check_image, float32_under_autocast, in_float32
from specdiff.ops.band import BandKind, Param, band_mask_reference, band_params, register_band_backward_fake


def spectral_band_mse_reference(residual, inner, outer, gain, temperature, kind):
    """Pure-PyTorch specification of :func:`spectral_band_mse` (tensor parameters)."""
    _, channels, height, width = residual.shape
    spectrum = torch.fft.rfft2(residual, norm="ortho")
    # Interior columns stand for themselves and their mirror image in the full spectrum.
    doubling = torch.full((width // 2 + 1,), 2.0, dtype=residual.dtype, device=residual.device)
    doubling[0] = 1.0
    if width % 2 == 0:
        doubling[-1] = 1.0
    band = band_mask_reference(height, width, inner, outer, gain, temperature, kind)
    return (band * doubling * spectrum.abs().square()).sum(dim=(1, 2, 3)) / (channels * height * width)


@float32_under_autocast(keep_dtype=False)
def spectral_band_mse(
    residual: torch.Tensor,
    *,
    kind: BandKind = "bandpass",
    inner: Param = 0.0,
    outer: Param = 1.0,
    gain: Param = 1.0,
    temperature: float = 10.0,
) -> torch.Tensor:
    """Per-sample ``Σ_f band(rho_f) |rfft2(r)_f|² / (C·H·W)`` over the full spectrum.

    With a band equal to 1 this is ``residual.square().mean((1, 2, 3))`` (Parseval); the band re-weights the
    error by frequency. Args as in :func:`specdiff.ops.spectral_band_filter2d`; ``residual`` is
    ``Tensor[B, C, H, W]`` with every size >= 1 (an empty residual has no mean: ValueError). Returns
    ``Tensor[B]``, differentiable in residual, inner, outer and gain.
    """
    check_image(residual, "residual")
    inner, outer, gain = band_params(inner, outer, gain, temperature, kind, residual.shape[0], residual)
    if extension.use_kernel("spectral_band_mse", residual.device):
        return torch.ops.specdiff.spectral_band_mse(residual, inner, outer, gain, float(temperature), kind)
    with extension.reference_scope("spectral_band_mse"):
        return in_float32(spectral_band_mse_reference, residual, inner, outer, gain, float(temperature), kind)


if extension.is_loaded():

    @torch.library.register_fake("specdiff::spectral_band_mse")
    def _(residual, inner, outer, gain, temperature, kind):
        return residual.new_empty(residual.shape[:1])

    register_band_backward_fake("_spectral_band_mse_backward")
