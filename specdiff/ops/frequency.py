"""The true FFT bin frequencies of a half spectrum (SPEC.md conventions)."""

from __future__ import annotations

import math

import torch


def frequency_radius(
    height: int, width: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """Normalized radius ``rho = sqrt(fy² + fx²) / sqrt(0.5)`` in [0, 1] of each half-spectrum bin.

    ``fy = fftfreq(height)`` and ``fx = rfftfreq(width)`` in cycles/pixel. Returns ``Tensor[height, width//2+1]``.
    """
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be >= 1, got {height}x{width}")
    fy = torch.fft.fftfreq(height, dtype=torch.float64, device=device)
    fx = torch.fft.rfftfreq(width, dtype=torch.float64, device=device)
    rho = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) / math.sqrt(0.5)
    return rho.to(dtype)
