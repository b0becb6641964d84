"""``spectral_band_weight``: a half spectrum times an analytic band computed in the kernel."""

from __future__ import annotations

import torch

from specdiff import extension
from specdiff.ops._checks import check_not_empty, check_same_device
from specdiff.ops.band import BandKind, Param, band_mask_reference, band_params, register_band_backward_fake


def spectral_band_weight_reference(spec, inner, outer, gain, temperature, width, kind):
    """Pure-PyTorch specification of :func:`spectral_band_weight` (tensor parameters)."""
    return spec * band_mask_reference(spec.shape[-2], width, inner, outer, gain, temperature, kind)


def spectral_band_weight(
    spec: torch.Tensor,
    width: int,
    *,
    kind: BandKind = "bandpass",
    inner: Param = 0.0,
    outer: Param = 1.0,
    gain: Param = 1.0,
    temperature: float = 10.0,
) -> torch.Tensor:
    """Weights a half spectrum by the analytic band of :mod:`specdiff.ops.band`.

    Args:
        spec: complex ``Tensor[B, C, H, width//2+1]``, e.g. ``rfft2(x, norm="ortho")``, every size >= 1.
        width: the image width W the half spectrum came from (W//2+1 does not determine it).
        kind, inner, outer, gain, temperature: the band; inner/outer/gain may be per-sample ``[B]``.

    Returns:
        complex ``Tensor[B, C, H, width//2+1]``; differentiable in spec, inner, outer and gain.
    """
    if not isinstance(spec, torch.Tensor) or spec.dim() != 4 or spec.dtype not in (torch.complex64, torch.complex128):
        got = f"{spec.dtype} of shape {tuple(spec.shape)}" if isinstance(spec, torch.Tensor) else type(spec).__name__
        raise TypeError(f"spec must be a complex64/complex128 tensor [B, C, H, W//2+1], got {got}")
    check_not_empty(spec, "spec", "[B, C, H, W//2+1]")
    if not isinstance(width, int) or isinstance(width, bool) or width < 1 or spec.shape[-1] != width // 2 + 1:
        raise ValueError(f"width={width!r} does not fit spec with {spec.shape[-1]} columns (needs width//2+1 columns)")
    inner, outer, gain = band_params(inner, outer, gain, temperature, kind, spec.shape[0], spec)
    for name, t in (("inner", inner), ("outer", outer), ("gain", gain)):
        check_same_device(spec, "spec", t, name)
    if extension.use_kernel("spectral_band_weight", spec.device):
        return torch.ops.specdiff.spectral_band_weight(spec, inner, outer, gain, float(temperature), width, kind)
    with extension.reference_scope("spectral_band_weight"):
        return spectral_band_weight_reference(spec, inner, outer, gain, float(temperature), width, kind)


if extension.is_loaded():

    @torch.library.register_fake("specdiff::spectral_band_weight")
    def _(spec, inner, outer, gain, temperature, width, kind):
        return spec.new_empty(spec.shape)

    register_band_backward_fake("_spectral_band_weight_backward")
