"""Noise schedules and sampler timestep spacing.

The forward process is x_t = α_t x0 + σ_t ε with α_t = sqrt(ᾱ_t), σ_t = sqrt(1 - ᾱ_t) and integer
timesteps t in [0, T-1] (Ho et al. 2020). Samplers use the half log-SNR λ_t = log(α_t / σ_t)
(Lu et al. 2022, "DPM-Solver").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol

import torch
from torch import Tensor

from specdiff.errors import InvalidValue

ScheduleKind = Literal["linear", "cosine"]
Spacing = Literal["linspace", "leading", "trailing"]

SCHEDULE_KINDS: tuple[str, ...] = ("linear", "cosine")
SPACINGS: tuple[str, ...] = ("linspace", "leading", "trailing")


class NoiseSchedule(Protocol):
    """What samplers need from a schedule: ᾱ at a model timestep, and a timestep near a given λ."""

    def alpha_cumprod_at(self, t: Tensor) -> Tensor:
        """ᾱ_t in float64 for timesteps t (any shape)."""
        ...

    def timestep_near_lambda(self, lam: float, lo: Tensor, hi: Tensor) -> Tensor:
        """A timestep τ with lo <= τ < hi whose λ_τ is as close to `lam` as the schedule allows."""
        ...


@dataclass(frozen=True, eq=False, repr=False)
class Schedule:
    """Discrete variance-preserving schedule defined by its betas (float64, length T).

    `alphas` and `alphas_cumprod` are derived from `betas` (Ho et al. 2020, Eq. 4), so the three
    can never disagree. Build one with `make_schedule`.
    """

    betas: Tensor
    alphas: Tensor = field(init=False)
    alphas_cumprod: Tensor = field(init=False)

    def __post_init__(self) -> None:
        betas = torch.as_tensor(self.betas, dtype=torch.float64, device="cpu")
        if betas.ndim != 1 or betas.numel() < 2:
            raise ValueError(f"betas must be a 1-D sequence of at least 2 values, got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas <= 1)).all()):
            raise ValueError("betas must lie in (0, 1]")
        alphas = 1.0 - betas
        object.__setattr__(self, "betas", betas)
        object.__setattr__(self, "alphas", alphas)
        object.__setattr__(self, "alphas_cumprod", torch.cumprod(alphas, dim=0))

    def __repr__(self) -> str:
        return (
            f"Schedule(num_timesteps={self.num_timesteps}, "
            f"alphas_cumprod[0]={self.alphas_cumprod[0].item():.6g}, "
            f"alphas_cumprod[-1]={self.alphas_cumprod[-1].item():.6g})"
        )

    @property
    def num_timesteps(self) -> int:
        """T, the number of timesteps."""
        return self.betas.numel()

    @property
    def snr(self) -> Tensor:
        """Signal-to-noise ratio ᾱ_t / (1 - ᾱ_t), float64 [T]."""
        return self.alphas_cumprod / (1.0 - self.alphas_cumprod)

    @property
    def lambdas(self) -> Tensor:
        """Half log-SNR λ_t = log(α_t / σ_t) (Lu et al. 2022), float64 [T]; -inf where ᾱ_t = 0."""
        return 0.5 * (torch.log(self.alphas_cumprod) - torch.log1p(-self.alphas_cumprod))

    def last_timestep(self, sigma_max: float | None = None) -> int:
        """The largest timestep whose noise-to-signal ratio σ_t/α_t = sqrt((1 - ᾱ_t)/ᾱ_t) is at most
        ``sigma_max`` (Karras et al. 2022's σ_max: the same process seen as variance exploding); T - 1 for None.
        Decided as 1 - ᾱ_t <= σ_max² ᾱ_t in float64. InvalidValue when even t = 0 is noisier."""
        if sigma_max is None:
            return self.num_timesteps - 1
        check_sigma_max(sigma_max)
        within = ((1.0 - self.alphas_cumprod) <= sigma_max**2 * self.alphas_cumprod).nonzero()
        if within.numel() == 0:
            lowest = math.sqrt((1.0 - self.alphas_cumprod[0].item()) / self.alphas_cumprod[0].item())
            raise InvalidValue(f"sigma_max must be at least the schedule's σ/α at t = 0 ({lowest:.4g}), "
                               f"got {sigma_max}")
        return int(within.max())

    def alpha_cumprod_at(self, t: Tensor) -> Tensor:
        """ᾱ_t for integer timesteps t (any shape, any device), float64 on t's device."""
        if t.is_floating_point() or t.is_complex():
            raise TypeError(f"a discrete schedule takes integer timesteps, got dtype {t.dtype}")
        return self.alphas_cumprod.to(t.device)[t]

    def timestep_near_lambda(self, lam: float, lo: Tensor, hi: Tensor) -> Tensor:
        """The integer τ in [lo, hi - 1] whose λ_τ is nearest to `lam` (0-d int64)."""
        candidates = torch.arange(int(lo), int(hi), dtype=torch.int64)
        if candidates.numel() == 0:
            raise ValueError(f"no integer timestep in [{int(lo)}, {int(hi)})")
        return candidates[torch.argmin((self.lambdas[candidates] - lam).abs())]


def _rescale_zero_terminal_snr(alphas_cumprod: Tensor) -> Tensor:
    """Shift and scale sqrt(ᾱ) so the last is 0 and the first unchanged (Lin et al. 2024, Algorithm 1)."""
    sqrt_ab = alphas_cumprod.sqrt()
    first, last = sqrt_ab[0], sqrt_ab[-1]
    return ((sqrt_ab - last) * (first / (first - last))) ** 2


def _betas_from_alphas_cumprod(alphas_cumprod: Tensor) -> Tensor:
    alphas = alphas_cumprod / torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
    return 1.0 - alphas


def check_sigma_max(sigma_max: float | None) -> None:
    """``sigma_max`` must be None or a finite number > 0 (see :meth:`Schedule.last_timestep`)."""
    if sigma_max is None:
        return
    if isinstance(sigma_max, bool) or not isinstance(sigma_max, (int, float)) or not (
            math.isfinite(sigma_max) and sigma_max > 0):
        raise InvalidValue(f"sigma_max must be a finite number > 0 or None, got {sigma_max!r}")


def make_schedule(
    kind: ScheduleKind = "linear", num_timesteps: int = 1000, zero_terminal_snr: bool = False
) -> Schedule:
    """Build a noise schedule with T = `num_timesteps` steps.

    - "linear": β_t linear from 1e-4·1000/T to 0.02·1000/T (Ho et al. 2020, rescaled with T as in
      Nichol & Dhariwal 2021 so that ᾱ_{T-1} ≈ 0 for every T), clipped at 0.999.
    - "cosine": ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s)·π/2), s = 0.008, with
      β_t = min(1 - ᾱ(t+1)/ᾱ(t), 0.999) (Nichol & Dhariwal 2021, Eq. 17).
    - zero_terminal_snr: rescale sqrt(ᾱ) so ᾱ_{T-1} = 0 exactly (Lin et al. 2024, Algorithm 1);
      such a schedule needs prediction "v" or "x0".
    """
    if kind not in SCHEDULE_KINDS:
        raise ValueError(f"kind must be one of {SCHEDULE_KINDS}, got {kind!r}")
    if isinstance(num_timesteps, bool) or not isinstance(num_timesteps, int) or num_timesteps < 2:
        raise ValueError(f"num_timesteps must be an integer >= 2, got {num_timesteps!r}")
    if not isinstance(zero_terminal_snr, bool):
        raise ValueError(f"zero_terminal_snr must be a bool, got {zero_terminal_snr!r}")
    T = num_timesteps
    if kind == "linear":
        scale = 1000.0 / T
        betas = torch.linspace(1e-4 * scale, 0.02 * scale, T, dtype=torch.float64).clamp(max=0.999)
    else:
        s = 0.008
        steps = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((steps + s) / (1 + s) * (math.pi / 2)) ** 2
        betas = (1.0 - f[1:] / f[:-1]).clamp(max=0.999)
    if zero_terminal_snr:
        alphas_cumprod = _rescale_zero_terminal_snr(torch.cumprod(1.0 - betas, dim=0))
        betas = _betas_from_alphas_cumprod(alphas_cumprod)
    return Schedule(betas)


def _round_half_even(numerator: Tensor, denominator: int) -> Tensor:
    """numerator / denominator rounded to the nearest integer, ties to even (numpy.round's rule), exactly in int64."""
    q, r = numerator // denominator, numerator % denominator
    up = (2 * r > denominator) | ((2 * r == denominator) & (q % 2 == 1))
    return q + up.to(q.dtype)


def make_timesteps(num_timesteps: int, num_steps: int, spacing: Spacing = "trailing") -> Tensor:
    """Timesteps a sampler visits: strictly decreasing int64 [num_steps] in [0, T-1]. T may be the first T
    timesteps of a longer schedule (a grid cut at ``Schedule.last_timestep(sigma_max)``), down to T = 1.

    Spacings follow Lin et al. 2024, Table 2 (0-based), with k = N-1, ..., 0 for N = num_steps:
    linspace = round((T-1)·k/(N-1)) (T-1 for N = 1), leading = k·(T//N), trailing = round(T·(k+1)/N) - 1; for
    T = 1000 and 10 steps linspace = 999, 888, ..., 111, 0; leading = 900, 800, ..., 0; trailing = 999, 899, ..., 99.
    The rationals are rounded exactly (integer arithmetic), ties to even as numpy.round does, which keeps the
    values distinct whenever num_steps <= T.

    Against diffusers 0.42 ``set_timesteps(N)`` (``steps_offset=0``):
    - DDPMScheduler, DDIMScheduler and the integer spacings of EulerAncestralDiscreteScheduler: the same three
      formulas. ``leading`` coincides for every N. ``linspace`` and ``trailing`` coincide unless the exact grid
      has a half-integer point that diffusers' float ``np.linspace`` / ``np.arange`` lands beside, or its
      ``np.arange`` returns N + 1 timesteps (the last one -1, e.g. T = 1000, N = 61). For T = 1000 trailing
      coincides for 889 of N = 1..1000 (every N dividing T among them) and linspace for 907. With N = 1,
      diffusers' linspace visits t = 0 only.
    - DPMSolverMultistepScheduler: ``trailing`` is the formula above (same exceptions). Its ``linspace`` and
      ``leading`` take N + 1 points and drop the last (T = 1000, N = 10: linspace 999, 899, ..., 100; leading
      900, 810, ..., 90), which no spacing here reproduces; ``set_timesteps(timesteps=make_timesteps(...))``
      makes diffusers visit these ones.
    - DDIMScheduler steps from t to t - T//N, not to the next visited timestep; that is the step the samplers
      here take (to the next one, or to ᾱ = 1 after the last) only for ``leading`` and for ``trailing`` with
      N dividing T. EulerAncestralDiscreteScheduler's ``linspace`` is not rounded: fractional timesteps, which
      a discrete schedule here refuses.
    """
    if isinstance(num_timesteps, bool) or not isinstance(num_timesteps, int) or num_timesteps < 1:
        raise ValueError(f"num_timesteps must be an integer >= 1, got {num_timesteps!r}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= num_timesteps:
        raise InvalidValue(f"num_steps must be an integer in [1, {num_timesteps}], got {num_steps!r}")
    if spacing not in SPACINGS:
        raise InvalidValue(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    T, N = num_timesteps, num_steps
    k = torch.arange(N - 1, -1, -1, dtype=torch.int64)
    if spacing == "linspace":
        return _round_half_even((T - 1) * k, N - 1) if N > 1 else torch.tensor([T - 1], dtype=torch.int64)
    if spacing == "leading":
        return k * (T // N)
    return _round_half_even(T * (k + 1), N) - 1
