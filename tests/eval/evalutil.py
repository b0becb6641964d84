"""Image helpers shared by the evaluation tests."""

import os
from fractions import Fraction

import torch

from specdiff.data.images import save_image


def quantized(shape, seed, low=-1.0, high=1.0):
    """Random images on the 8-bit grid (``u / 127.5 - 1``), so a PNG round trip gives them back exactly."""
    g = torch.Generator().manual_seed(seed)
    lo, hi = round((low + 1) * 127.5), round((high + 1) * 127.5)
    return torch.randint(lo, hi + 1, shape, generator=g).double() / 127.5 - 1.0


def smooth_images(n, seed, channels=3, size=32, amplitude=0.3):
    """Spatially correlated random images (low-passed noise), float64 in about [-0.5, 0.5]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, channels, size // 4, size // 4, generator=g, dtype=torch.float64)
    fine = torch.randn(n, channels, size, size, generator=g, dtype=torch.float64)
    up = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return amplitude * up + 0.05 * fine


def write_folder(folder, images, names=None):
    """Saves ``Tensor[N, C, H, W]`` as PNGs named ``names`` (default ``000.png`` …); returns the folder."""
    os.makedirs(folder, exist_ok=True)
    names = names or [f"{i:03d}.png" for i in range(len(images))]
    for name, image in zip(names, images, strict=True):
        save_image(image, os.path.join(folder, name))
    return str(folder)


def fft_indices(n):
    """The signed integer bin indices of ``fftfreq(n)``: 0, 1, .., -2, -1."""
    return [k if k <= (n - 1) // 2 else k - n for k in range(n)]


def exact_rho_squared(h, w, ky, kx):
    """``rho² = 2·((ky/H)² + (kx/W)²)`` as an exact fraction."""
    return Fraction(2 * ky * ky, h * h) + Fraction(2 * kx * kx, w * w)


def exact_ring(h, w, ky, kx, edges):
    """The ring of bin (ky, kx): the number of edges ``e <= rho``, decided on exact fractions."""
    rho2 = exact_rho_squared(h, w, ky, kx)
    return sum(1 for e in edges if Fraction(e) ** 2 <= rho2)


def ring_edges(num_rings):
    return [Fraction(j, num_rings) for j in range(1, num_rings)]
