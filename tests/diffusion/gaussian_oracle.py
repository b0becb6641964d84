"""Closed-form oracle for Gaussian data: exact denoiser and exact probability-flow ODE solution.

Data x0 ~ N(μ, S) on D = C·H·W dimensions, noise n = M ε (Σ = M Mᵀ), x_t = a x0 + σ n with a = sqrt(ᾱ),
σ = sqrt(1 - ᾱ). In the coordinates w = A x with A = Uᵀ Σ^(-1/2), where Σ^(-1/2) S Σ^(-1/2) = U diag(s²) Uᵀ,
the noise is white and the data independent per coordinate: w0 ~ N(A μ, diag(s²)). There
  E[w0 | w_t] = Aμ + a s² / (a² s² + σ²) (w_t - a Aμ),
and the probability-flow ODE keeps z = (w_t - a Aμ) / sqrt(a² s² + σ²) constant. The PF-ODE in x maps to
the white-noise PF-ODE in w because A Σ Aᵀ = I, so both closed forms carry back through A⁻¹.
Everything is float64 and independent of the package's denoiser wrapper.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class GaussianOracle:
    """Gaussian data of `shape` (C, H, W) with mean μ [D], covariance S [D, D] and noise matrix M [D, D]."""

    def __init__(self, mean: Tensor, cov: Tensor, shape: tuple[int, ...], noise_matrix: Tensor | None = None):
        D = math.prod(shape)
        self.shape = shape
        self.mean = mean.to(torch.float64).reshape(D)
        self.cov = cov.to(torch.float64)
        self.noise_matrix = torch.eye(D, dtype=torch.float64) if noise_matrix is None else noise_matrix.double()
        noise_cov = self.noise_matrix @ self.noise_matrix.T
        evals, evecs = torch.linalg.eigh(noise_cov)
        inv_sqrt = evecs @ torch.diag(evals.rsqrt()) @ evecs.T
        sqrt = evecs @ torch.diag(evals.sqrt()) @ evecs.T
        s2, U = torch.linalg.eigh(inv_sqrt @ self.cov @ inv_sqrt)
        self.s2 = s2
        self.A = U.T @ inv_sqrt
        self.A_inv = sqrt @ U
        self.mean_w = self.A @ self.mean

    @classmethod
    def random(
        cls,
        shape: tuple[int, ...],
        seed: int,
        noise_matrix: Tensor | None = None,
        std_range: tuple[float, float] = (0.3, 1.2),
    ) -> GaussianOracle:
        """A random correlated Gaussian: mean in [-0.5, 0.5], principal stds in `std_range`."""
        g = torch.Generator().manual_seed(seed)
        D = math.prod(shape)
        mean = torch.rand(D, generator=g, dtype=torch.float64) - 0.5
        lo, hi = std_range
        std = lo + (hi - lo) * torch.rand(D, generator=g, dtype=torch.float64)
        Q = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))[0]
        return cls(mean, Q @ torch.diag(std**2) @ Q.T, shape, noise_matrix)

    def _flat(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1).to(torch.float64)

    def _unflat(self, w: Tensor, like: Tensor) -> Tensor:
        return (w @ self.A_inv.T).reshape(like.shape).to(like.dtype)

    def apply_noise_matrix(self, x: Tensor) -> Tensor:
        """M x for x [B, *shape]: the linear noise operator this oracle assumes."""
        return (self._flat(x) @ self.noise_matrix.T).reshape(x.shape).to(x.dtype)

    def sample_data(self, n: int, generator: torch.Generator) -> Tensor:
        """n draws of x0 [n, *shape]."""
        z = torch.randn(n, self.mean.numel(), generator=generator, dtype=torch.float64)
        w = self.mean_w + z * self.s2.sqrt()
        return (w @ self.A_inv.T).reshape(n, *self.shape)

    def posterior_mean(self, x: Tensor, abar: Tensor | float) -> Tensor:
        """E[x0 | x_t = x] for x [B, *shape] and ᾱ (float or [B])."""
        a2 = torch.as_tensor(abar, dtype=torch.float64).reshape(-1, 1)
        a, sig2 = a2.sqrt(), 1.0 - a2
        w = self._flat(x) @ self.A.T
        w0 = self.mean_w + a * self.s2 / (a2 * self.s2 + sig2) * (w - a * self.mean_w)
        return self._unflat(w0, x)

    def ode_flow(self, x: Tensor, abar_from: float, abar_to: float) -> Tensor:
        """Exact probability-flow ODE solution from ᾱ = abar_from to ᾱ = abar_to for x [B, *shape]."""
        a1, a2 = math.sqrt(abar_from), math.sqrt(abar_to)
        w = self._flat(x) @ self.A.T
        scale = torch.sqrt(abar_to * self.s2 + 1 - abar_to) / torch.sqrt(abar_from * self.s2 + 1 - abar_from)
        return self._unflat(a2 * self.mean_w + scale * (w - a1 * self.mean_w), x)

    def model(self, schedule, prediction: str):
        """The exact network model(x_t, t) -> eps, v or x0 output for a schedule with `alpha_cumprod_at`."""

        def model(x: Tensor, t: Tensor) -> Tensor:
            abar = schedule.alpha_cumprod_at(t).to(torch.float64)
            x0 = self.posterior_mean(x, abar)
            shape = (-1,) + (1,) * (x.ndim - 1)
            a, s = abar.sqrt().reshape(shape).to(x.dtype), (1 - abar).sqrt().reshape(shape).to(x.dtype)
            noise = (x - a * x0) / s
            return {"eps": noise, "v": a * noise - s * x0, "x0": x0}[prediction]

        return model


class LogSNRLinearSchedule:
    """Continuous-time schedule on t in [0, 1] with λ(t) = log(α/σ) linear from lam_max to lam_min.

    Float timesteps make the samplers' steps uniform in λ, where ODE convergence orders are cleanest.
    """

    def __init__(self, lam_max: float = 5.0, lam_min: float = -5.0):
        self.lam_max, self.lam_min = lam_max, lam_min

    def alpha_cumprod_at(self, t: Tensor) -> Tensor:
        lam = self.lam_max + (self.lam_min - self.lam_max) * t.to(torch.float64)
        return torch.sigmoid(2 * lam)

    def timestep_near_lambda(self, lam: float, lo: Tensor, hi: Tensor) -> Tensor:
        return torch.tensor((lam - self.lam_max) / (self.lam_min - self.lam_max), dtype=torch.float64)


def random_noise_matrix(D: int, seed: int) -> Tensor:
    """An invertible, non-symmetric D×D matrix (rotation times scales in [0.5, 1.5]) to colour noise."""
    g = torch.Generator().manual_seed(seed)
    Q = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))[0]
    return Q @ torch.diag(torch.linspace(0.5, 1.5, D, dtype=torch.float64))


def whitened_moments(oracle: GaussianOracle, x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean [D] and covariance [D, D] of samples x [B, *shape] in coordinates where the data is N(0, I)."""
    z = (oracle._flat(x) @ oracle.A.T - oracle.mean_w) / oracle.s2.sqrt()
    return z.mean(0), torch.cov(z.T)


def fitted_order(steps: list[int], errors: list[float]) -> float:
    """Convergence order: minus the least-squares slope of log(error) against log(steps)."""
    log_n = torch.tensor(steps, dtype=torch.float64).log()
    log_e = torch.tensor(errors, dtype=torch.float64).log()
    log_n = log_n - log_n.mean()
    return float(-(log_n * (log_e - log_e.mean())).sum() / (log_n**2).sum())
