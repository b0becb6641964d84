"""Forward noising with optionally coloured noise, and the uniform-frequency-corruption operator.

A noise operator M is a linear map on Tensor[B, C, H, W]; the forward process becomes
x_t = α_t x0 + σ_t M ε with ε ~ N(0, I). Training targets and sampler updates then use n = M ε in
place of ε (see `specdiff.diffusion.samplers`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from specdiff.ops import frequency_radius, spectral_filter2d

from .schedules import NoiseSchedule

NoiseOp = Callable[[Tensor], Tensor]


def colour(eps: Tensor, noise_op: NoiseOp | None) -> Tensor:
    """M ε, or ε itself when there is no noise operator."""
    return eps if noise_op is None else noise_op(eps)


def q_sample(x0: Tensor, t: Tensor, eps: Tensor, schedule: NoiseSchedule, noise_op: NoiseOp | None = None) -> Tensor:
    """x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) M ε (Ho et al. 2020, Eq. 4, with coloured noise).

    x0, eps: Tensor[B, C, H, W]; t: timesteps [B]. Returns x_t [B, C, H, W].
    """
    abar = schedule.alpha_cumprod_at(t).to(device=x0.device, dtype=torch.float64)
    abar = abar.reshape(-1, *(1,) * (x0.ndim - 1))
    return abar.sqrt().to(x0.dtype) * x0 + (1.0 - abar).sqrt().to(x0.dtype) * colour(eps, noise_op)


@dataclass(frozen=True)
class UniformFrequencyNoise:
    """Noise coloured by a radial filter so that the SNR falls at the same rate at every frequency.

    Natural images have power spectra P(f) ∝ f^-α (α ≈ 2, van der Schaaf & van Hateren 1996). White
    noise has a flat spectrum, so the per-frequency SNR ᾱ P(f) / ((1 - ᾱ) |M(f)|²) drops first at high
    frequencies (coarse-to-fine corruption). With |M(rho)|² ∝ (rho + eps)^-α the per-frequency SNR is the
    same for all frequencies ("uniform frequency corruption"). M is normalised to unit mean power over
    the full H×W spectrum, so M ε has unit variance per pixel and the schedule's SNR keeps its meaning.
    alpha = 0 gives white noise. `eps` regularises DC; None uses one frequency bin, 1 / (max(H, W)·sqrt(0.5)).
    """

    alpha: float = 2.0
    eps: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.alpha) or self.alpha < 0:
            raise ValueError(f"alpha must be a finite number >= 0, got {self.alpha!r}")
        if self.eps is not None and not (math.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"eps must be a finite number > 0 or None, got {self.eps!r}")

    def weight(
        self, H: int, W: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> Tensor:
        """The real filter M(rho) on the half spectrum, Tensor[H, W//2+1], with unit mean power."""
        rho = frequency_radius(H, W, dtype=torch.float64, device=device)
        # The smallest non-zero radius is one bin along the longer axis; computed on the host (no sync).
        eps = self.eps if self.eps is not None else 1.0 / (max(H, W) * math.sqrt(0.5))
        m = (rho + eps) ** (-self.alpha / 2)
        # Columns 1 .. ceil(W/2)-1 of the half spectrum stand for two bins of the full spectrum.
        multiplicity = torch.full_like(m, 2.0)
        multiplicity[:, 0] = 1.0
        if W % 2 == 0:
            multiplicity[:, -1] = 1.0
        mean_power = (multiplicity * m**2).sum() / (H * W)
        return (m / mean_power.sqrt()).to(dtype)

    def __call__(self, x: Tensor) -> Tensor:
        """M x for x: Tensor[B, C, H, W] (real), via one spectral filter pass."""
        H, W = x.shape[-2:]
        return spectral_filter2d(x, self.weight(H, W, x.dtype, x.device))

    def whiten(self, x: Tensor, power: float = 1.0) -> Tensor:
        """M⁻ᵖ x with p = ``power``: the inverse colouring at p = 1 (M is real and positive on every bin), a partial
        one for 0 < p < 1, via one spectral filter pass."""
        H, W = x.shape[-2:]
        return spectral_filter2d(x, self.weight(H, W, torch.float64, x.device).pow(-power).to(x.dtype))
