"""The true FFT bin frequencies of a half spectrum (SPEC.md conventions), and exact ring membership.

A bin of a half spectrum ``[H, W//2+1]`` has integer indices ``ky`` (``fftfreq`` order, signed) and
``kx >= 0``; its frequencies are ``fy = ky/H``, ``fx = kx/W`` cycles/pixel and its normalized radius is
``rho = sqrt(fy² + fx²) / sqrt(0.5)`` in [0, 1]. Floating-point rho is fine for smooth functions of the radius
(the analytic bands), but not for deciding which ring a bin falls in: many bins lie exactly on a ring edge
(``rho·K`` an integer), and ``floor`` of a float rho moves them between rings with a one-ulp difference in
``sqrt``, which differs between CPUs. :func:`radius_bins` decides membership exactly instead.

**Edge convention** (used by every caller that bins by rho): rings are half-open, ``e_{i-1} <= rho < e_i``; a
bin exactly on an edge belongs to the ring *above* it. The last ring is closed and holds rho = 1 (the diagonal
Nyquist corner).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from itertools import pairwise

import torch

Edge = Fraction | int | float
_MAX_LCM = 3_000_000_000


def frequency_radius(
    height: int, width: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """Normalized radius ``rho = sqrt(fy² + fx²) / sqrt(0.5)`` in [0, 1] of each half-spectrum bin.

    ``fy = fftfreq(height)`` and ``fx = rfftfreq(width)`` in cycles/pixel. Returns ``Tensor[height, width//2+1]``.
    """
    _check_size(height, width)
    fy = torch.fft.fftfreq(height, dtype=torch.float64, device=device)
    fx = torch.fft.rfftfreq(width, dtype=torch.float64, device=device)
    rho = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) / math.sqrt(0.5)
    return rho.to(dtype)


def radius_bins(
    height: int, width: int, edges: Sequence[Edge], *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Which ring of rho each half-spectrum bin lies in, decided exactly: ``int64 Tensor[height, width//2+1]``.

    ``edges`` are strictly increasing non-negative rationals (``Fraction``, int, or float taken at its exact
    binary value); bin ``(ky, kx)`` gets ``i`` = the number of edges ``e`` with ``e <= rho`` (module doc: a bin on
    an edge belongs to the ring above it), so ``len(edges) + 1`` rings ``0 .. len(edges)``.

    No floating point is involved: with ``L = lcm(H, W)``, ``a = ky·L/H`` and ``b = kx·L/W`` are integers and
    ``rho² = 2(a² + b²)/L²``, so ``rho >= p/q`` exactly when the integer ``a² + b²`` reaches the integer
    ``ceil(p²L² / (2q²))``.
    """
    return _radius_bins(height, width, _as_fractions(edges)).to(device, copy=True)


def ring_index(height: int, width: int, num_rings: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Ring ``k`` of ``num_rings`` equal-width rings, ``k/K <= rho < (k+1)/K`` (rho = 1 in ring ``K-1``), per
    half-spectrum bin, decided exactly (:func:`radius_bins` with edges ``1/K .. (K-1)/K``)."""
    if not isinstance(num_rings, int) or isinstance(num_rings, bool) or num_rings < 1:
        raise ValueError(f"num_rings must be an integer >= 1, got {num_rings!r}")
    edges = tuple(Fraction(j, num_rings) for j in range(1, num_rings))
    return _radius_bins(height, width, edges).to(device, copy=True)


def _check_size(height: int, width: int) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be >= 1, got {height}x{width}")


def _as_fractions(edges: Sequence[Edge]) -> tuple[Fraction, ...]:
    out = []
    for e in edges:
        if isinstance(e, bool) or not isinstance(e, (Fraction, int, float)) or not math.isfinite(e) or e < 0:
            raise ValueError(f"ring edges must be finite non-negative numbers, got {e!r}")
        out.append(Fraction(e))
    if any(b <= a for a, b in pairwise(out)):
        raise ValueError(f"ring edges must be strictly increasing, got {[str(e) for e in out]}")
    return tuple(out)


@lru_cache(maxsize=64)
def _radius_bins(height: int, width: int, edges: tuple[Fraction, ...]) -> torch.Tensor:
    _check_size(height, width)
    lcm = math.lcm(height, width)
    if lcm > _MAX_LCM:
        raise ValueError(f"exact ring membership needs lcm(H, W) <= {_MAX_LCM:,}, got {lcm:,} for {height}x{width}")
    top = lcm * lcm // 2  # the largest a² + b² (rho = 1), and with it every threshold, fits in int64
    ky = torch.arange(height, dtype=torch.int64)
    ky = torch.where(ky <= (height - 1) // 2, ky, ky - height)  # fftfreq's order: 0, 1, .., -2, -1
    kx = torch.arange(width // 2 + 1, dtype=torch.int64)
    a, b = ky * (lcm // height), kx * (lcm // width)
    s = a[:, None] ** 2 + b[None, :] ** 2
    # ceil(p²L² / (2q²)); an edge above 1 gets top + 1, which no bin reaches.
    thresholds = [min(-((-(e.numerator**2) * lcm * lcm) // (2 * e.denominator**2)), top + 1) for e in edges]
    bins = torch.searchsorted(torch.tensor(thresholds, dtype=torch.int64), s.flatten(), right=True)
    return bins.view(s.shape)
