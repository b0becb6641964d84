"""Denoising loss with SNR weighting and a pluggable (e.g. spectral) residual loss."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from .denoiser import Model, Prediction, check_prediction, prediction_target
from .noise import NoiseOp, colour, q_sample
from .schedules import Schedule

Weighting = Literal["none", "snr", "sqrt_snr", "min_snr"]
WEIGHTINGS: tuple[str, ...] = ("none", "snr", "sqrt_snr", "min_snr")
Reduction = Literal["mean", "none"]

ResidualLoss = Callable[[Tensor], Tensor]


def mean_square(residual: Tensor) -> Tensor:
    """Per-sample mean of squares: Tensor[B, ...] -> Tensor[B]."""
    return residual.pow(2).flatten(1).mean(dim=1)


def whitened_mean_square(noise_op: NoiseOp, power: float = 1.0) -> ResidualLoss:
    """The residual loss ``mean((M⁻ᵖ r)²)`` of a coloured forward process x_t = α x0 + σ M ε, p = ``power``.

    At p = 1 it weights frequency f by ``1 / |M(f)|²``, which makes an ε-prediction loss the MSE of the white ε
    rather than of M ε; p = 0 would be the plain MSE, which weights every frequency of the x0 error alike. With
    uniform frequency corruption M carries little power at high frequencies, so a plain MSE barely penalises
    errors there relative to the data's own power, and the sampler multiplies them by σ/α on the way to x0;
    0 < p < 1 sits between the two. ``noise_op`` needs a ``whiten(x, power)`` method
    (:class:`~specdiff.diffusion.UniformFrequencyNoise`)."""
    whiten = getattr(noise_op, "whiten", None)
    if whiten is None:
        raise ValueError(f"a whitened loss needs a noise operator with a whiten method, got {noise_op!r}")
    if not (math.isfinite(power) and 0 < power <= 1):
        raise ValueError(f"power must be a number in (0, 1], got {power!r}")

    def residual_loss(residual: Tensor) -> Tensor:
        return mean_square(whiten(residual, power))

    return residual_loss


def snr_weight(snr: Tensor, prediction: Prediction, weighting: Weighting, gamma: float = 5.0) -> Tensor:
    """Per-sample factor on the MSE of `prediction`'s target, for SNR [B] (float64 in, float64 out).

    Weightings w(SNR) are defined on the x0 error ||x0̂ - x0||², as in Hang et al. 2023 ("Efficient
    diffusion training via Min-SNR weighting strategy"): "snr" w = SNR (the ε-MSE of Ho et al.
    2020), "sqrt_snr" w = sqrt(SNR), "min_snr" w = min(SNR, γ); "none" applies no factor to the target's
    MSE. Because ||n̂ - n||² = SNR ||x0̂ - x0||² and ||v̂ - v||² = (SNR + 1) ||x0̂ - x0||², the factor on
    the target MSE is w / SNR (eps), w / (SNR + 1) (v) or w (x0).
    """
    check_prediction(prediction)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if weighting == "min_snr" and not gamma > 0:
        raise ValueError(f"gamma must be > 0 for min_snr weighting, got {gamma!r}")
    if weighting == "none":
        return torch.ones_like(snr)
    if weighting == "snr":
        w = snr
    elif weighting == "sqrt_snr":
        w = snr.sqrt()
    else:
        w = snr.clamp(max=gamma)
    if prediction == "eps":
        return w / snr
    if prediction == "v":
        return w / (snr + 1.0)
    return w


def diffusion_loss(
    model: Model,
    x0: Tensor,
    schedule: Schedule,
    *,
    prediction: Prediction = "eps",
    weighting: Weighting = "none",
    gamma: float = 5.0,
    noise_op: NoiseOp | None = None,
    residual_loss: ResidualLoss = mean_square,
    reduction: Reduction = "mean",
    t: Tensor | None = None,
    eps: Tensor | None = None,
    generator: torch.Generator | None = None,
    input_perturbation: float = 0.0,
) -> Tensor:
    """Weighted denoising loss for one batch x0: Tensor[B, C, H, W].

    Draws t ~ U{0, ..., T-1} and ε ~ N(0, I) unless given (t: int64 [B], eps like x0), forms
    x_t = α_t x0 + σ_t M ε, and regresses model(x_t, t) on the target of `prediction` (with n = M ε).
    The per-sample loss is snr_weight(SNR_t) · residual_loss(output - target); `residual_loss` maps
    Tensor[B, C, H, W] -> Tensor[B] (default: mean of squares; a spectral band MSE plugs in here).
    Returns the batch mean ("mean") or the per-sample losses [B] ("none").

    ``input_perturbation`` γ > 0 perturbs the model's input only (Ning et al. 2023, "Input Perturbation Reduces
    Exposure Bias in Diffusion Models"): x_t = α_t x0 + σ_t (n + γ M ξ) with a second draw ξ ~ N(0, I), while
    the target stays that of n. A sampler feeds the model an x_t built from its own predictions, not from
    x0; training on slightly wrong inputs narrows that gap. γ = 0 draws nothing extra.
    """
    check_prediction(prediction)
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if not (math.isfinite(input_perturbation) and 0 <= input_perturbation <= 1):
        raise ValueError(f"input_perturbation must be a number in [0, 1] (0: off), got {input_perturbation!r}")
    if prediction == "eps" and float(schedule.alphas_cumprod[-1]) == 0.0:
        raise ValueError(
            "prediction='eps' cannot be used with a zero-terminal-SNR schedule (x0 is not recoverable "
            "from ε at ᾱ=0, Lin et al. 2024 §3.2); use 'v' or 'x0'"
        )
    B = x0.shape[0]
    if t is None:
        t = torch.randint(0, schedule.num_timesteps, (B,), generator=generator, device=x0.device)
    if eps is None:
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    noise = colour(eps, noise_op)
    seen = noise
    if input_perturbation > 0:
        xi = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        seen = noise + input_perturbation * colour(xi, noise_op)
    x_t = q_sample(x0, t, seen, schedule)
    abar = schedule.alpha_cumprod_at(t).to(x0.device)
    target = prediction_target(x0, noise, abar, prediction)
    per_sample = residual_loss(model(x_t, t) - target)
    if per_sample.shape != (B,):
        raise ValueError(f"residual_loss must return one value per sample, shape ({B},), got {tuple(per_sample.shape)}")
    weight = snr_weight(abar / (1.0 - abar), prediction, weighting, gamma).to(per_sample.dtype)
    losses = weight * per_sample
    return losses.mean() if reduction == "mean" else losses
