"""Paired (full-reference) image metrics: each generated image against the reference image it pairs with.

Images are ``Tensor[B, C, H, W]`` in [-1, 1], so the data range is ``L = 2`` wherever a formula needs one.
Every function returns one value per image (``Tensor[B]``, float64); callers average over images.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

DATA_RANGE = 2.0
"""Peak-to-peak range of [-1, 1] images: the ``MAX``/``L`` of PSNR and SSIM."""

MIN_MSE = 1e-10
"""PSNR floor on the per-image MSE, so identical images give a finite ``10·log10(4 / 1e-10) ≈ 106.02`` dB."""

SSIM_SIGMA = 1.5
SSIM_WINDOW = 2 * int(3.5 * SSIM_SIGMA + 0.5) + 1
"""Side of the Gaussian SSIM window, 11: truncated at 3.5σ, the rule of both scikit-image and torchmetrics."""
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(x: Tensor, y: Tensor) -> None:
    if x.dim() != 4 or x.shape != y.shape:
        raise ValueError(f"expected two Tensor[B, C, H, W] of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def mse(x: Tensor, y: Tensor) -> Tensor:
    """Mean squared error per image: ``mean_{c,h,w} (x - y)²`` -> ``Tensor[B]``."""
    _check_pair(x, y)
    return (x.double() - y.double()).square().mean(dim=(1, 2, 3))


def mae(x: Tensor, y: Tensor) -> Tensor:
    """Mean absolute error per image: ``mean_{c,h,w} |x - y|`` -> ``Tensor[B]``."""
    _check_pair(x, y)
    return (x.double() - y.double()).abs().mean(dim=(1, 2, 3))


def psnr(x: Tensor, y: Tensor, data_range: float = DATA_RANGE) -> Tensor:
    """Peak signal-to-noise ratio per image in dB: ``10·log10(L² / max(MSE, 1e-10))`` with ``L = 2`` for [-1, 1].

    Computed per image (then averaged by the caller), not from the MSE of the whole set.
    """
    return 10.0 * torch.log10(data_range**2 / mse(x, y).clamp_min(MIN_MSE))


def ssim(
    x: Tensor,
    y: Tensor,
    *,
    data_range: float = DATA_RANGE,
    sigma: float = SSIM_SIGMA,
    k1: float = SSIM_K1,
    k2: float = SSIM_K2,
) -> Tensor:
    """Structural similarity per image (Wang, Bovik, Sheikh & Simoncelli 2004, eq. 13) -> ``Tensor[B]``.

    Local statistics use a Gaussian window (σ = 1.5, truncated at 3.5σ: ``11×11``) over the *valid* positions
    only; ``C1 = (0.01·L)²``, ``C2 = (0.03·L)²`` with ``L = 2``; population (not sample) variances. The SSIM map
    ``((2μxμy + C1)(2σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2))`` is averaged over positions and channels.
    Matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=2, channel_axis=...)``.

    The map comes from torchmetrics in float64. Its own mean also counts the border positions, whose windows
    reach into a reflection padding; scikit-image crops those ``(win − 1) // 2`` pixels, and so does this
    function, so only windows inside the image are averaged.
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    _check_pair(x, y)
    window = 2 * int(3.5 * sigma + 0.5) + 1
    h, w = x.shape[-2:]
    if min(h, w) < window:
        raise ValueError(f"SSIM needs images of at least {window}x{window} pixels, got {h}x{w}")
    _, ssim_map = structural_similarity_index_measure(
        x.double(),
        y.double(),
        gaussian_kernel=True,
        sigma=sigma,
        data_range=data_range,
        k1=k1,
        k2=k2,
        reduction="none",
        return_full_image=True,
    )
    pad = (window - 1) // 2
    return ssim_map[..., pad : h - pad, pad : w - pad].mean(dim=(1, 2, 3))


def psnr_cap(data_range: float = DATA_RANGE) -> float:
    """The largest PSNR :func:`psnr` reports (identical images), in dB."""
    return 10.0 * math.log10(data_range**2 / MIN_MSE)
