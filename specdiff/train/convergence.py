"""Convergence metrics of a loss history: when the smoothed loss first falls below a threshold, and an
exponential fit ``L(s) = a·exp(−k·s) + c`` over the steps."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def smoothed(losses: Sequence[float], decay: float) -> np.ndarray:
    """The trainer's running average ``m_i = decay·m_{i-1} + (1 − decay)·L_i`` with ``m_0 = L_0``."""
    out = np.empty(len(losses), dtype=np.float64)
    m = None
    for i, value in enumerate(losses):
        m = float(value) if m is None else decay * m + (1.0 - decay) * float(value)
        out[i] = m
    return out


def threshold_crossing(steps: Sequence[int], losses: Sequence[float], seconds: Sequence[float], threshold: float,
                       decay: float) -> tuple[int | None, float | None]:
    """``(step, training seconds)`` of the first record whose smoothed loss (:func:`smoothed`) is below
    ``threshold``; ``(None, None)`` when it never is."""
    below = np.flatnonzero(smoothed(losses, decay) < threshold)
    if below.size == 0:
        return None, None
    i = int(below[0])
    return int(steps[i]), float(seconds[i])


def exponential_fit(steps: Sequence[int], losses: Sequence[float]) -> dict[str, float] | None:
    """Least-squares fit of ``L(s) = a·exp(−k·s) + c`` to the history: ``{"a", "k", "c", "r2"}`` (k per step).

    For a fixed k the model is linear in (a, c), so the fit searches k alone (variable projection): a log grid
    of ``k·span`` over [1e-3, 1e4], then a bounded scalar refinement (scipy) around the best grid point.
    ``r2 = 1 − SSE / Σ(L − mean L)²``. None with fewer than 4 records or a constant loss.
    """
    s = np.asarray(steps, dtype=np.float64)
    y = np.asarray(losses, dtype=np.float64)
    if len(s) < 4 or not np.all(np.isfinite(y)):
        return None
    sst = float(np.sum((y - y.mean()) ** 2))
    span = float(s.max() - s.min())
    if sst == 0.0 or span == 0.0:
        return None
    u = (s - s.min()) / span

    def solve(log_k: float) -> tuple[float, float, float]:
        basis = np.stack([np.exp(-math.exp(log_k) * u), np.ones_like(u)], axis=1)
        (a, c), *_ = np.linalg.lstsq(basis, y, rcond=None)
        return float(np.sum((basis @ np.array([a, c]) - y) ** 2)), float(a), float(c)

    from scipy.optimize import minimize_scalar

    grid = np.linspace(math.log(1e-3), math.log(1e4), 141)
    sse = [solve(g)[0] for g in grid]
    best = int(np.argmin(sse))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    log_k = float(minimize_scalar(lambda g: solve(g)[0], bounds=(lo, hi), method="bounded",
                                  options={"xatol": 1e-10}).x)
    error, a, c = solve(log_k)
    k = math.exp(log_k) / span
    # The fit ran on steps shifted to start at 0; a is the amplitude at step 0.
    return {"a": a * math.exp(min(k * float(s.min()), 700.0)), "k": k, "c": c, "r2": 1.0 - error / sst}
