"""Spectral metrics that need no learned weights.

Conventions (SPEC.md): half spectra ``X = rfft2(x, norm="ortho")``; bin frequencies ``fy = fftfreq(H)``,
``fx = rfftfreq(W)``; normalized radius ``rho = sqrt(fy² + fx²) / sqrt(0.5)`` in [0, 1]. A half-spectrum bin
with ``0 < fx < 0.5`` stands for itself and its conjugate twin, so it counts twice (``multiplicity``); with that
weight, sums over the half spectrum equal sums over the full spectrum and, by Parseval,
``Σ_bins m·|X|² = Σ_pixels x²``.

Frequency bands split rho at :data:`BAND_EDGES`: low ``rho < 1/3`` (includes DC), mid ``1/3 <= rho < 2/3``,
high ``rho >= 2/3`` (the corners up to the diagonal Nyquist frequency). Ring and band membership is decided
exactly from the integer bin indices (:func:`specdiff.ops.frequency.radius_bins`; a bin on an edge belongs to
the ring above it), so every metric here is the same on every CPU.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
from torch import Tensor

from specdiff.ops.frequency import radius_bins, ring_index

BAND_EDGES = (Fraction(1, 3), Fraction(2, 3))
"""The rho edges of the low / mid / high bands, exact rationals."""
BANDS = ("low", "mid", "high")
LOG_EPS = 1e-10
"""Added to powers before ``log10`` so an empty (all-zero) band gives a finite value."""


def multiplicity(height: int, width: int, *, device: torch.device | str | None = None) -> Tensor:
    """How many full-spectrum bins each half-spectrum bin stands for: 1 for ``fx = 0`` and (even ``width``)
    ``fx = 0.5``, else 2. ``Tensor[height, width//2+1]`` float64."""
    m = torch.full((height, width // 2 + 1), 2.0, dtype=torch.float64, device=device)
    m[:, 0] = 1.0
    if width % 2 == 0:
        m[:, -1] = 1.0
    return m


def default_num_bins(height: int, width: int) -> int:
    """``min(H, W) // 2`` radial bins: each is about one frequency step wide, so none is empty."""
    return max(1, min(height, width) // 2)


def _check_images(images: Tensor) -> None:
    if images.dim() != 4:
        raise ValueError(f"expected images Tensor[B, C, H, W], got shape {tuple(images.shape)}")


def radial_power_spectrum(images: Tensor, num_bins: int | None = None) -> Tensor:
    """Radially averaged power spectrum ``Tensor[B, C, num_bins]`` (float64).

    ``P(k) = Σ_{bins in ring k} m·|X|² / Σ_{same bins} m`` with ``K = num_bins`` (default
    :func:`default_num_bins`): the mean power over the full-spectrum bins in the ring ``k/K <= rho < (k+1)/K``
    (rho = 1 in ring ``K-1``; membership exact, :func:`specdiff.ops.frequency.ring_index`). A ring with no bin
    (only possible with a large ``num_bins``) is NaN.
    """
    _check_images(images)
    b, c, h, w = images.shape
    k = num_bins or default_num_bins(h, w)
    power = torch.fft.rfft2(images.double(), norm="ortho").abs().square()
    index = ring_index(h, w, k, device=images.device).flatten()
    m = multiplicity(h, w, device=images.device).flatten()
    weighted = (power * m.view(h, -1)).reshape(b * c, -1)
    sums = torch.zeros(b * c, k, dtype=torch.float64, device=images.device).index_add_(1, index, weighted)
    counts = torch.zeros(k, dtype=torch.float64, device=images.device).index_add_(0, index, m)
    return (sums / counts).view(b, c, k)


def mean_log_spectrum(images: Tensor, num_bins: int | None = None, *, batch_size: int = 256) -> Tensor:
    """``S(k) = mean_{images, channels} 10·log10(P(k) + 1e-10)`` in dB -> ``Tensor[num_bins]`` (float64, on the
    images' device), computed ``batch_size`` images at a time."""
    _check_images(images)
    k = num_bins or default_num_bins(*images.shape[-2:])
    total = torch.zeros(k, dtype=torch.float64, device=images.device)
    for i in range(0, len(images), batch_size):
        total += (10.0 * torch.log10(radial_power_spectrum(images[i:i + batch_size], k) + LOG_EPS)).sum(dim=(0, 1))
    return total / (len(images) * images.shape[1])


def spectral_distance(generated: Tensor, reference: Tensor, num_bins: int | None = None, *,
                      batch_size: int = 256) -> float:
    """Root-mean-square difference in dB between the mean log radial spectra of two image sets:

    ``D = sqrt( mean_k (S_gen(k) - S_ref(k))² )`` with ``S`` from :func:`mean_log_spectrum` over the same
    ``K`` bins (empty rings ignored). 0 for identical spectra; scaling every generated image by ``a`` gives
    ``|20·log10 a|``. The sets need the same ``H×W`` but not the same size or pairing.
    """
    _check_same_size(generated, reference)
    h, w = generated.shape[-2:]
    k = num_bins or default_num_bins(h, w)
    diff = mean_log_spectrum(generated, k, batch_size=batch_size) - mean_log_spectrum(
        reference, k, batch_size=batch_size)
    diff = diff[~torch.isnan(diff)]
    return math.sqrt(diff.square().mean().item())


def band_masks(height: int, width: int, *, device: torch.device | str | None = None) -> dict[str, Tensor]:
    """Boolean half-spectrum masks ``Tensor[height, width//2+1]`` of the low / mid / high bands (see module doc)."""
    band = radius_bins(height, width, BAND_EDGES, device=device)
    return {name: band == i for i, name in enumerate(BANDS)}


def band_energy(images: Tensor) -> dict[str, Tensor]:
    """Energy per pixel in each band, per image: ``E_band = Σ_{c, bins in band} m·|X|² / (C·H·W)`` ->
    ``{band: Tensor[B]}``. By Parseval the three bands sum to ``mean_{c,h,w} x²``."""
    _check_images(images)
    _, c, h, w = images.shape
    weighted = torch.fft.rfft2(images.double(), norm="ortho").abs().square() * multiplicity(h, w, device=images.device)
    return {
        name: (weighted * mask).sum(dim=(1, 2, 3)) / (c * h * w)
        for name, mask in band_masks(h, w, device=images.device).items()
    }


def band_error(generated: Tensor, reference: Tensor) -> dict[str, Tensor]:
    """Paired error per frequency band, per image: :func:`band_energy` of ``generated - reference``.

    ``band_error_low + band_error_mid + band_error_high = MSE`` exactly (Parseval), so the bands say where
    in frequency the pixel error sits. Returns ``{band: Tensor[B]}``.
    """
    _check_same_size(generated, reference)
    if generated.shape != reference.shape:
        raise ValueError(f"paired images need one shape, got {tuple(generated.shape)} and {tuple(reference.shape)}")
    return band_energy(generated.double() - reference.double())


def band_power_db(generated: Tensor, reference: Tensor, *, batch_size: int = 256) -> dict[str, float]:
    """Distribution-level log power ratio per band in dB: ``10·log10(mean_i E_band(gen_i) / mean_i E_band(ref_i))``
    (:func:`band_energy`, 1e-10 added to both means). Positive = the generated images carry more energy in that
    band than the reference (e.g. +3 dB of high-frequency noise); needs no pairing."""
    _check_same_size(generated, reference)
    gen, ref = _batched_band_energy(generated, batch_size), _batched_band_energy(reference, batch_size)
    return {
        name: 10.0 * math.log10((gen[name].mean().item() + LOG_EPS) / (ref[name].mean().item() + LOG_EPS))
        for name in BANDS
    }


def _batched_band_energy(images: Tensor, batch_size: int) -> dict[str, Tensor]:
    parts = [band_energy(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    return {name: torch.cat([p[name] for p in parts]) for name in BANDS}


def _check_same_size(generated: Tensor, reference: Tensor) -> None:
    _check_images(generated)
    _check_images(reference)
    if generated.shape[1:] != reference.shape[1:]:
        raise ValueError(
            f"image sets differ in [C, H, W]: {tuple(generated.shape[1:])} vs {tuple(reference.shape[1:])}"
        )
