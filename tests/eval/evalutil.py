"""Image helpers shared by the evaluation tests."""

import os

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
