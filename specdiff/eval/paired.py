"""Paired (full-reference) image metrics: each generated image against the reference image it pairs with.

Images are ``Tensor[B, C, H, W]`` in [-1, 1], so the data range is ``L = 2`` wherever a formula needs one.
Every function returns one value per image (``Tensor[B]``, float64); callers average over images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

DATA_RANGE = 2.0
"""Peak-to-peak range of [-1, 1] images: the ``MAX``/``L`` of PSNR and SSIM."""

MIN_MSE = 1e-10
"""PSNR floor on the per-image MSE, so identical images give a finite ``10·log10(4 / 1e-10) ≈ 106.02`` dB."""

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
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


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """Normalized 2-D Gaussian ``Tensor[size, size]`` (float64, sums to 1), the SSIM window of Wang et al. (2004)."""
    k = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(k**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(
    x: Tensor,
    y: Tensor,
    *,
    data_range: float = DATA_RANGE,
    window_size: int = SSIM_WINDOW,
    sigma: float = SSIM_SIGMA,
    k1: float = SSIM_K1,
    k2: float = SSIM_K2,
) -> Tensor:
    """Structural similarity per image (Wang, Bovik, Sheikh & Simoncelli 2004, eq. 13) -> ``Tensor[B]``.

    Local statistics use an ``11×11`` Gaussian window (σ = 1.5) over the *valid* positions only (no padding);
    ``C1 = (0.01·L)²``, ``C2 = (0.03·L)²`` with ``L = 2``; population (not sample) variances. The SSIM map
    ``((2μxμy + C1)(2σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2))`` is averaged over positions and channels.
    Matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=2, channel_axis=...)``.
    """
    _check_pair(x, y)
    _, c, h, w = x.shape
    if min(h, w) < window_size:
        raise ValueError(f"SSIM needs images of at least {window_size}x{window_size} pixels, got {h}x{w}")
    x, y = x.double(), y.double()
    window = gaussian_window(window_size, sigma).to(x.device).expand(c, 1, window_size, window_size)

    def local_mean(t: Tensor) -> Tensor:
        return F.conv2d(t, window, groups=c)

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x**2
    var_y = local_mean(y * y) - mu_y**2
    cov_xy = local_mean(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(1, 2, 3))


def psnr_cap(data_range: float = DATA_RANGE) -> float:
    """The largest PSNR :func:`psnr` reports (identical images), in dB."""
    return 10.0 * math.log10(data_range**2 / MIN_MSE)
