"""Samplers: small no-grad functions with one shared signature, dispatched by name.

A sampler is `fn(denoiser, x, timesteps, *, noise_op, generator, callback, **options) -> x0` where
`denoiser(x_t, t) -> (x0̂, n̂)` is a `Denoiser`, `x` the initial state M ε at timesteps[0], and
`timesteps` the strictly decreasing model timesteps to visit. After the last visited timestep every
sampler takes one final step to ᾱ = 1 ("time -1"), which returns x0̂ there.

Coloured noise. With x_t = α_t x0 + σ_t M ε for a fixed invertible linear M, y = M⁻¹ x_t is an
ordinary white-noise diffusion of the data M⁻¹ x0. Every update below is linear in (x_t, x0̂, n̂) with
scalar coefficients from the schedule, so it commutes with M: running it on x_t with n̂ = E[M ε | x_t]
is running it on y and mapping back. Deterministic updates therefore need no change; fresh noise (x_T
and every injected z) must be M z, the whitened process's noise mapped back. Each sampler receives
`noise_op` for that.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import Any, Literal

import torch
from torch import Tensor

from specdiff.errors import InvalidValue
from specdiff.ops.frequency import radius_bins

from .denoiser import Denoiser, Model, Prediction
from .noise import NoiseOp, colour
from .schedules import NoiseSchedule, Schedule, Spacing, make_timesteps

SamplerFn = Callable[..., Tensor]
Callback = Callable[[dict[str, Any]], None]

_SHARED_OPTIONS = ("noise_op", "generator", "callback")
_SAMPLERS: dict[str, SamplerFn] = {}


def _steps(timesteps: Tensor) -> Iterator[tuple[int, Tensor, Tensor | None]]:
    """(i, t_i, t_{i+1}) over the visited timesteps; t_{i+1} is None for the final step to ᾱ = 1."""
    for i in range(len(timesteps)):
        yield i, timesteps[i], (timesteps[i + 1] if i + 1 < len(timesteps) else None)


def _alpha_cumprod(schedule: NoiseSchedule, t: Tensor | None) -> float:
    return 1.0 if t is None else float(schedule.alpha_cumprod_at(t))


def _alpha_sigma_lambda(schedule: NoiseSchedule, t: Tensor | None) -> tuple[float, float, float]:
    """α_t, σ_t and λ_t = log(α_t/σ_t), with λ = -inf at ᾱ = 0 and +inf at ᾱ = 1."""
    abar = _alpha_cumprod(schedule, t)
    alpha, sigma = math.sqrt(abar), math.sqrt(1.0 - abar)
    if sigma == 0.0:
        return alpha, sigma, math.inf
    if alpha == 0.0:
        return alpha, sigma, -math.inf
    return alpha, sigma, math.log(alpha) - math.log(sigma)


def _noise(x: Tensor, noise_op: NoiseOp | None, generator: torch.Generator | None) -> Tensor:
    return colour(torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype), noise_op)


def _report(callback: Callback | None, i: int, t: Tensor, x: Tensor, x0: Tensor) -> None:
    if callback is not None:
        callback({"i": i, "t": t.item(), "x": x, "x0_pred": x0})


@torch.no_grad()
def ddpm(
    denoiser: Denoiser,
    x: Tensor,
    timesteps: Tensor,
    *,
    noise_op: NoiseOp | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DDPM ancestral sampling from the posterior q(x_s | x_t, x0̂) (Ho et al. 2020, Eqs. 6-7).

    Each step's mean and variance are those of diffusers' DDPMScheduler (variance_type="fixed_small") stepping to
    the next visited timestep, as its ``previous_timestep`` does; ``clip_x0`` is its clip_sample.
    """
    for i, t, s in _steps(timesteps):
        x0, _ = denoiser(x, t)
        _report(callback, i, t, x, x0)
        x = _ddpm_step(denoiser.schedule, x, x0, t, s, noise_op, generator)
    return x


def _ddpm_step(schedule: NoiseSchedule, x: Tensor, x0: Tensor, t: Tensor, s: Tensor | None,
               noise_op: NoiseOp | None, generator: torch.Generator | None) -> Tensor:
    """One posterior step from t to s (None: ᾱ = 1), respaced."""
    abar_t, abar_s = _alpha_cumprod(schedule, t), _alpha_cumprod(schedule, s)
    # Respacing (Nichol & Dhariwal 2021, §4): the β of a skipped stretch is 1 - ᾱ_t/ᾱ_s.
    beta = 1.0 - abar_t / abar_s
    coef_x0 = math.sqrt(abar_s) * beta / (1.0 - abar_t)
    coef_xt = math.sqrt(1.0 - beta) * (1.0 - abar_s) / (1.0 - abar_t)
    variance = (1.0 - abar_s) / (1.0 - abar_t) * beta
    x = coef_x0 * x0 + coef_xt * x
    if variance > 0.0:
        x = x + math.sqrt(variance) * _noise(x, noise_op, generator)
    return x


MASF_EDGES = (Fraction(1, 3), Fraction(2, 3))
"""masf's default band edges in rho: the evaluation bands (low / mid / high)."""
MASF_ALPHA = 0.5
"""masf's default moving-average weight, every band."""


@torch.no_grad()
def masf(
    denoiser: Denoiser,
    x: Tensor,
    timesteps: Tensor,
    *,
    noise_op: NoiseOp | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    alpha: float | Sequence[float] = MASF_ALPHA,
    edges: Sequence[float | Fraction] = MASF_EDGES,
) -> Tensor:
    """DDPM with a per-band moving average of the sample's spectrum before every model call ("masf").

    With ``X = rfft2(x, norm="ortho")`` and bands split at ``edges`` in rho (the true FFT bins; a bin on an
    edge belongs to the band above it, so the bands cover every bin, DC and the diagonal Nyquist corner
    included), each band b keeps ``E_b ← α_b·E_b + (1 − α_b)·X·M_b`` (``E = X`` at the first step), x is
    replaced by ``irfft2(Σ_b E_b)``, and the respaced DDPM step follows (``noise_op`` colours its noise).
    ``alpha``: one number for every band or one per band (``len(edges) + 1``), each in [0, 1); α = 0 is
    exactly ``ddpm``. A heuristic that smooths each band's trajectory, not a solver of the reverse process.
    """
    band = _masf_bands(x, alpha, edges)
    spectrum = None
    for i, t, s in _steps(timesteps):
        current = torch.fft.rfft2(x, norm="ortho")
        if spectrum is None:
            spectrum = current
        else:
            # E - X = A·(E_old - X): added to x as a correction, so α = 0 leaves x bit for bit unchanged.
            delta = band * (spectrum - current)
            spectrum = current + delta
            x = x + torch.fft.irfft2(delta, s=x.shape[-2:], norm="ortho")
        x0, _ = denoiser(x, t)
        _report(callback, i, t, x, x0)
        x = _ddpm_step(denoiser.schedule, x, x0, t, s, noise_op, generator)
    return x


def check_masf_options(alpha: float | Sequence[float] | None = None, edges: Sequence[float | Fraction] | None = None
                       ) -> tuple[tuple[float, ...], tuple[float | Fraction, ...]]:
    """masf's ``(alphas, edges)``, one α per band, validated (InvalidValue naming the option); None takes the
    default (:data:`MASF_ALPHA`, :data:`MASF_EDGES`)."""
    alpha = MASF_ALPHA if alpha is None else alpha
    edges = MASF_EDGES if edges is None else edges
    edges = tuple(edges) if isinstance(edges, (list, tuple)) else edges
    if not isinstance(edges, tuple) or not all(
            isinstance(e, (int, float, Fraction)) and not isinstance(e, bool) and 0 < e < 1 for e in edges):
        raise InvalidValue(f"masf edges must be a list of numbers in (0, 1), got {edges!r}")
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise InvalidValue(f"masf edges must be strictly increasing, got {list(edges)!r}")
    alphas = tuple(alpha) if isinstance(alpha, (list, tuple)) else (alpha,) * (len(edges) + 1)
    if len(alphas) != len(edges) + 1:
        raise InvalidValue(f"masf alpha must be one number or {len(edges) + 1} (one per band), got {len(alphas)}")
    for a in alphas:
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 <= a < 1:
            raise InvalidValue(f"masf alpha must be in [0, 1), got {a!r}")
    return alphas, edges


def _masf_bands(x: Tensor, alpha: float | Sequence[float], edges: Sequence[float | Fraction]) -> Tensor:
    """The per-bin α map ``[H, W//2+1]`` (x's real dtype) of masf's options, validated."""
    if x.dim() < 2:
        raise ValueError(f"masf needs images [..., H, W], got shape {tuple(x.shape)}")
    alphas, edges = check_masf_options(alpha, edges)
    index = radius_bins(x.shape[-2], x.shape[-1], edges, device=x.device)
    return torch.tensor(alphas, dtype=x.dtype, device=x.device)[index]


@torch.no_grad()
def ddim(
    denoiser: Denoiser,
    x: Tensor,
    timesteps: Tensor,
    *,
    noise_op: NoiseOp | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    eta: float = 0.0,
) -> Tensor:
    """DDIM with stochasticity η (Song et al. 2021, Eq. 12 with σ_t(η) of Eq. 16).

    Each step (mean and, for η > 0, the noise's std) is that of diffusers' DDIMScheduler (set_alpha_to_one=True)
    wherever its step from t to t - T//N lands on the next visited timestep (see :func:`make_timesteps`);
    ``clip_x0`` is its clip_sample with use_clipped_model_output=True.
    """
    if not 0.0 <= eta <= 1.0:
        raise InvalidValue(f"eta must be in [0, 1], got {eta!r}")
    for i, t, s in _steps(timesteps):
        x0, n = denoiser(x, t)
        _report(callback, i, t, x, x0)
        abar_t, abar_s = _alpha_cumprod(denoiser.schedule, t), _alpha_cumprod(denoiser.schedule, s)
        sigma = eta * math.sqrt((1.0 - abar_s) / (1.0 - abar_t) * (1.0 - abar_t / abar_s))
        x = math.sqrt(abar_s) * x0 + math.sqrt(max(1.0 - abar_s - sigma**2, 0.0)) * n
        if sigma > 0.0:
            x = x + sigma * _noise(x, noise_op, generator)
    return x


@torch.no_grad()
def ancestral(
    denoiser: Denoiser,
    x: Tensor,
    timesteps: Tensor,
    *,
    noise_op: NoiseOp | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Euler ancestral sampling: the step of diffusers' EulerAncestralDiscreteScheduler (k-diffusion's
    ``sample_euler_ancestral``, Karras et al. 2022's sampler family), computed as DDIM with η = 1.

    In its variables x̃ = x/α, σ̃ = σ/α a step is x̃_s = x0̂ + σ_down (x̃_t - x0̂)/σ̃_t + σ_up z with
    σ_up² = σ̃_s²(σ̃_t² - σ̃_s²)/σ̃_t² and σ_down² = σ̃_s² - σ_up². Times α_s this is exactly DDIM with η = 1
    (Song et al. 2021, Eq. 16: α_s σ_up = σ_t(1)), which is also DDPM's posterior step; computed in that form it
    holds at ᾱ = 0 (zero terminal SNR), where σ̃ is infinite.
    """
    return ddim(denoiser, x, timesteps, noise_op=noise_op, generator=generator, callback=callback, eta=1.0)


MultistepD2 = Literal["lu", "taylor"]
MULTISTEP_D2: tuple[str, ...] = ("lu", "taylor")

_LOWER_ORDER_FINAL_BELOW = 15
"""With fewer visited timesteps than this, lower_order_final caps the last two steps at orders 1 and 2 (diffusers'
rule; Lu et al.'s code uses 10)."""


def check_multistep_options(order: int = 2, d2: str = "lu") -> None:
    """dpm_solver++'s ``order`` and ``d2`` validated (InvalidValue naming the option)."""
    if order not in (1, 2, 3):
        raise InvalidValue(f"order must be 1, 2 or 3, got {order!r}")
    if d2 not in MULTISTEP_D2:
        raise InvalidValue(f"d2 must be one of {MULTISTEP_D2}, got {d2!r}")


@torch.no_grad()
def dpm_solver_pp(
    denoiser: Denoiser,
    x: Tensor,
    timesteps: Tensor,
    *,
    noise_op: NoiseOp | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    order: int = 2,
    lower_order_final: bool = True,
    d2: MultistepD2 = "lu",
) -> Tensor:
    """Multistep DPM-Solver++(1M/2M/3M) in data prediction (Lu et al. 2022, "DPM-Solver++", Alg. 2).

    By default each step is that of diffusers' DPMSolverMultistepScheduler (algorithm_type="dpmsolver++",
    solver_type="midpoint", final_sigmas_type="zero"): order 1 at the first step, at most 2 at the second, order 1
    on the step to ᾱ = 1, and with ``lower_order_final`` and fewer than 15 timesteps at most 2 on the one before.
    ``d2`` is 3M's second divided difference: "lu" (default), D2 = (D1_0 - D1_1)/(r0 + r1), as in Lu et al.'s code
    and diffusers; "taylor", twice that, the h²·x0̂'' that the φ₃ term of the Taylor expansion needs. "lu" leaves
    an O(h³) local error (3M is second order as h → 0) yet is the more accurate on the Gaussian oracle with the
    T = 1000 cosine and linear schedules, trailing spacing, 10-320 steps (all but linear at 20 steps); "taylor" is
    third order and the more accurate there with steps uniform in λ from 40 steps (scripts/sampler_oracle.py).
    """
    check_multistep_options(order, d2)
    num_steps = len(timesteps)
    history: list[tuple[float, Tensor]] = []
    for i, t, s in _steps(timesteps):
        x0, _ = denoiser(x, t)
        _report(callback, i, t, x, x0)
        _, sigma_t, lam_t = _alpha_sigma_lambda(denoiser.schedule, t)
        alpha_s, sigma_s, lam_s = _alpha_sigma_lambda(denoiser.schedule, s)
        h = lam_s - lam_t
        k = min(order, len(history) + 1)
        if s is None:
            # The step to ᾱ = 1 has h = ∞; its first-order update is exactly x = x0̂.
            k = 1
        elif lower_order_final and num_steps < _LOWER_ORDER_FINAL_BELOW:
            k = min(k, num_steps - i)
        phi_1 = math.expm1(-h)
        x = (sigma_s / sigma_t) * x - (alpha_s * phi_1) * x0
        # D1 ≈ h x0̂' and D2 ≈ h² x0̂'' (taylor) by divided differences of past predictions, the terms of the
        # Taylor expansion of x0̂ in λ (Lu et al. 2022b, §4).
        if k >= 2:
            lam_1, x0_1 = history[-1]
            r0 = (lam_t - lam_1) / h
            D1_0 = (x0 - x0_1) / r0
            if k == 2:
                x = x - (0.5 * alpha_s * phi_1) * D1_0
            else:
                lam_2, x0_2 = history[-2]
                r1 = (lam_1 - lam_2) / h
                D1_1 = (x0_1 - x0_2) / r1
                D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1)
                D2 = ((2.0 if d2 == "taylor" else 1.0) / (r0 + r1)) * (D1_0 - D1_1)
                phi_2 = phi_1 / h + 1.0
                phi_3 = phi_2 / h - 0.5
                x = x + (alpha_s * phi_2) * D1 - (alpha_s * phi_3) * D2
        history.append((lam_t, x0))
        if len(history) >= order:
            history.pop(0)
    return x


@torch.no_grad()
def dpm_solver2(
    denoiser: Denoiser,
    x: Tensor,
    timesteps: Tensor,
    *,
    noise_op: NoiseOp | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Singlestep DPM-Solver-2 in noise prediction (Lu et al. 2022, "DPM-Solver", Alg. 1)."""
    schedule = denoiser.schedule
    for i, t, s in _steps(timesteps):
        x0, n = denoiser(x, t)
        _report(callback, i, t, x, x0)
        if s is None:
            x = x0
            break
        alpha_t, sigma_t, lam_t = _alpha_sigma_lambda(schedule, t)
        if alpha_t == 0.0:
            raise ValueError(
                "dpm_solver2 integrates x_t/α_t and cannot start at ᾱ=0 (zero terminal SNR); "
                "use 'dpm_solver++' or 'ddim', or a spacing that does not visit the last timestep"
            )
        alpha_s, sigma_s, lam_s = _alpha_sigma_lambda(schedule, s)
        h = lam_s - lam_t
        # The intermediate time s1 sits at the λ-midpoint. A discrete schedule rounds it to the integer
        # timestep nearest in λ (in [s, t)) and the update uses that timestep's own r1 = (λ_s1 - λ_t)/h:
        # the general-r1 DPM-Solver-2 of Lu et al.'s appendix is second order for any r1 in (0, 1].
        s1 = schedule.timestep_near_lambda(lam_t + 0.5 * h, s, t)
        alpha_1, sigma_1, lam_1 = _alpha_sigma_lambda(schedule, s1)
        r1 = (lam_1 - lam_t) / h
        u = (alpha_1 / alpha_t) * x - (sigma_1 * math.expm1(r1 * h)) * n
        _, n_1 = denoiser(u, s1)
        expm1_h = math.expm1(h)
        x = (alpha_s / alpha_t) * x - (sigma_s * expm1_h) * n - (sigma_s / (2 * r1) * expm1_h) * (n_1 - n)
    return x


def register_sampler(name: str, fn: SamplerFn) -> None:
    """Register `fn` (the shared sampler signature) under `name`; a taken name raises ValueError."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"sampler name must be a non-empty string, got {name!r}")
    if name in _SAMPLERS:
        raise ValueError(f"sampler {name!r} is already registered")
    if not callable(fn):
        raise TypeError(f"sampler {name!r} must be callable, got {type(fn).__name__}")
    _SAMPLERS[name] = fn


def available_samplers() -> tuple[str, ...]:
    """Names of the registered samplers, sorted."""
    return tuple(sorted(_SAMPLERS))


def get_sampler(name: str) -> SamplerFn:
    """The sampler registered under `name`; an unknown name raises InvalidValue listing the registered ones."""
    if name not in _SAMPLERS:
        raise InvalidValue(f"unknown sampler {name!r}; registered: {', '.join(available_samplers())}")
    return _SAMPLERS[name]


def check_options(name: str, fn: SamplerFn, options: dict[str, Any]) -> None:
    """InvalidValue naming the options of ``options`` that sampler ``name`` (function ``fn``) does not take."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY and p not in _SHARED_OPTIONS]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidValue(
            f"sampler {name!r} does not take option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(accepted) if accepted else 'no options'}"
        )


@torch.no_grad()
def sample(
    name: str,
    model: Model,
    x_T: Tensor,
    schedule: Schedule,
    num_steps: int,
    *,
    prediction: Prediction = "eps",
    eta: float | None = None,
    spacing: Spacing = "trailing",
    noise_op: NoiseOp | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    clip_x0: float | None = None,
    sigma_max: float | None = None,
    **options: Any,
) -> Tensor:
    """Draw x0 [B, C, H, W] with the sampler registered as `name` in `num_steps` model steps.

    x_T: standard normal noise ε [B, C, H, W]; sampling starts from M ε (M = `noise_op`, identity if
    None), the same operator the model was trained with. `model(x_t, t)` takes int64 timesteps t [B].
    Timesteps follow `make_timesteps(T, num_steps, spacing)`. With `sigma_max` they follow
    `make_timesteps(t_max + 1, num_steps, spacing)` instead, t_max = `schedule.last_timestep(sigma_max)` (the
    last timestep with σ/α <= sigma_max), and sampling starts from σ_{t_max} M ε: the grid skips the
    timesteps where α is so small that an ε model's x0̂ = (x_t - σ n̂)/α is mostly its error times 1/α (for
    the cosine schedule α_{T-1} = 5e-5), at the cost of ignoring the α_{t_max} x0 part of x_{t_max} (Karras
    et al. 2022 start at σ_max = 80). `eta` (None: the sampler's default) and
    `options` (e.g. `order` for dpm_solver++) go to the sampler; ones it does not take raise ValueError.
    `callback` receives {"i", "t", "x", "x0_pred"} at every visited timestep. `clip_x0` (e.g. 1.0 for data in
    [-1, 1]) clamps every x0 prediction through the denoiser wrapper (see :class:`Denoiser`); None: exact solver.
    """
    fn = get_sampler(name)
    if eta is not None:
        options["eta"] = eta
    check_options(name, fn, options)
    top = schedule.last_timestep(sigma_max)
    timesteps = make_timesteps(top + 1, num_steps, spacing)
    denoiser = Denoiser(model, schedule, prediction, clip_x0)
    if prediction == "eps" and bool((schedule.alpha_cumprod_at(timesteps) == 0).any()):
        raise InvalidValue(
            "prediction='eps' cannot sample from ᾱ=0 (zero terminal SNR): x0 is not recoverable from ε "
            "there (Lin et al. 2024 §3.2); use 'v' or 'x0'"
        )
    x = colour(x_T, noise_op)
    if sigma_max is not None:
        x = x * math.sqrt(1.0 - schedule.alphas_cumprod[top].item())
    return fn(denoiser, x, timesteps, noise_op=noise_op, generator=generator, callback=callback, **options)


for _name, _fn in (
    ("ddpm", ddpm),
    ("ddim", ddim),
    ("ancestral", ancestral),
    ("dpm_solver++", dpm_solver_pp),
    ("dpm_solver2", dpm_solver2),
    ("masf", masf),
):
    register_sampler(_name, _fn)
