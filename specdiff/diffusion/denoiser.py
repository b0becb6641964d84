"""The one place where the network's parameterisation (ε, v or x0 prediction) is interpreted.

With x_t = α x0 + σ n (α = sqrt(ᾱ), σ = sqrt(1 - ᾱ), n the possibly coloured noise M ε):
  eps: the network predicts n;          x0 = (x_t - σ n) / α
  v:   the network predicts α n - σ x0 (Salimans & Ho 2022, §4); x0 = α x_t - σ v, n = σ x_t + α v
  x0:  the network predicts x0;         n = (x_t - α x0) / σ
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from .schedules import NoiseSchedule

Prediction = Literal["eps", "v", "x0"]
PREDICTIONS: tuple[str, ...] = ("eps", "v", "x0")

Model = Callable[[Tensor, Tensor], Tensor]


def check_prediction(prediction: str) -> None:
    """Raise ValueError unless `prediction` is one of "eps", "v", "x0"."""
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")


def _alpha_sigma(alpha_cumprod: Tensor | float, x: Tensor) -> tuple[Tensor | float, Tensor | float]:
    """α = sqrt(ᾱ), σ = sqrt(1 - ᾱ) computed in float64, broadcastable to x ([B] -> [B, 1, ..., 1])."""
    if isinstance(alpha_cumprod, Tensor) and alpha_cumprod.ndim > 0:
        abar = alpha_cumprod.to(device=x.device, dtype=torch.float64).reshape(-1, *(1,) * (x.ndim - 1))
        return abar.sqrt().to(x.dtype), (1.0 - abar).sqrt().to(x.dtype)
    abar = float(alpha_cumprod)
    return math.sqrt(abar), math.sqrt(1.0 - abar)


def denoise(
    output: Tensor, x_t: Tensor, alpha_cumprod: Tensor | float, prediction: Prediction
) -> tuple[Tensor, Tensor]:
    """Convert a network output to (x0̂, n̂), the predicted clean data and noise.

    output, x_t: Tensor[B, ...]; alpha_cumprod: ᾱ_t as a float, 0-d tensor or Tensor[B].
    """
    check_prediction(prediction)
    alpha, sigma = _alpha_sigma(alpha_cumprod, x_t)
    if prediction == "eps":
        return (x_t - sigma * output) / alpha, output
    if prediction == "v":
        return alpha * x_t - sigma * output, sigma * x_t + alpha * output
    return output, (x_t - alpha * output) / sigma


def prediction_target(x0: Tensor, noise: Tensor, alpha_cumprod: Tensor | float, prediction: Prediction) -> Tensor:
    """The regression target for `prediction`: n, α n - σ x0 or x0 (Tensor[B, ...]).

    `noise` is the noise actually added to x0, i.e. M ε when a noise operator colours it.
    """
    check_prediction(prediction)
    if prediction == "eps":
        return noise
    if prediction == "x0":
        return x0
    alpha, sigma = _alpha_sigma(alpha_cumprod, x0)
    return alpha * noise - sigma * x0


@dataclass(frozen=True)
class Denoiser:
    """A model bound to its schedule and parameterisation: (x_t, t) -> (x0̂, n̂).

    `model(x_t, t)` takes x_t [B, ...] and timesteps t [B] (int64 for a discrete schedule).
    """

    model: Model
    schedule: NoiseSchedule
    prediction: Prediction = "eps"
    clip_x0: float | None = None

    def __post_init__(self) -> None:
        check_prediction(self.prediction)
        if self.clip_x0 is not None and not (math.isfinite(self.clip_x0) and self.clip_x0 > 0):
            raise ValueError(f"clip_x0 must be a finite number > 0 or None, got {self.clip_x0!r}")

    def __call__(self, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Denoise x_t [B, ...] at one timestep t (0-d tensor); returns (x0̂, n̂), each [B, ...].

        With ``clip_x0 = c``, x0̂ is clamped to [-c, c] and n̂ recomputed from it, n̂ = (x_t - α x0̂)/σ, so the
        pair stays consistent (the "clipped denoised" x0 of Ho et al. 2020's sampler). Near ᾱ = 0 an ε model's
        x0̂ = (x_t - σ ε̂)/α amplifies its error by 1/α; clipping keeps early steps inside the data range."""
        alpha_cumprod = self.schedule.alpha_cumprod_at(t)
        output = self.model(x_t, t.expand(x_t.shape[0]).to(x_t.device))
        x0, noise = denoise(output, x_t, alpha_cumprod, self.prediction)
        if self.clip_x0 is None:
            return x0, noise
        alpha, sigma = _alpha_sigma(alpha_cumprod, x_t)
        x0 = x0.clamp(-self.clip_x0, self.clip_x0)
        return x0, (x_t - alpha * x0) / sigma  # σ_t > 0 at every t: ᾱ_t < 1 for all schedules
