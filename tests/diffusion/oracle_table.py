"""Deterministic samplers against the exact probability-flow ODE solution of the Gaussian oracle.

One measurement shared by tests/diffusion/test_samplers.py (which asserts its figures as bands) and
scripts/sampler_oracle.py (which prints it as the README's Markdown table): RMS error of each sampler's output
against the exact solution, over step counts, on T = 1000 schedules with trailing spacing (specdiff's default) and
on a continuous schedule with steps uniform in λ, plus the fitted convergence order.
"""

from __future__ import annotations

import torch
from gaussian_oracle import GaussianOracle, LogSNRLinearSchedule, fitted_order

from specdiff.diffusion import Denoiser, get_sampler, make_schedule, make_timesteps

SHAPE = (1, 2, 2)
STEPS = (10, 20, 40, 80, 160, 320)
ORDER_STEPS = (80, 160, 320)
"""The step counts the order is fitted on."""
SCHEDULES = ("cosine", "linear", "lambda-uniform")
SAMPLERS: dict[str, tuple[str, dict]] = {
    "ddim": ("ddim", {}),
    "dpm_solver++ 1": ("dpm_solver++", {"order": 1}),
    "dpm_solver++ 2": ("dpm_solver++", {"order": 2}),
    "dpm_solver++ 3": ("dpm_solver++", {"order": 3}),
    "dpm_solver++ 3, d2=taylor": ("dpm_solver++", {"order": 3, "d2": "taylor"}),
    "dpm_solver2": ("dpm_solver2", {}),
}


def _problem(schedule_name: str):
    oracle = GaussianOracle.random(SHAPE, seed=0)
    x_T = torch.randn(64, *SHAPE, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    if schedule_name == "lambda-uniform":
        schedule = LogSNRLinearSchedule(lam_max=1.0, lam_min=-5.0)

        def timesteps(n):
            return torch.linspace(1.0, 0.0, n, dtype=torch.float64)
    else:
        schedule = make_schedule(schedule_name, 1000)

        def timesteps(n):
            return make_timesteps(1000, n, "trailing")
    return oracle, schedule, x_T, timesteps


def ode_errors(sampler: str, schedule_name: str, steps=STEPS) -> list[float]:
    """RMS error against the exact PF-ODE solution from the first to the last visited timestep, then x0̂ there."""
    oracle, schedule, x_T, timesteps = _problem(schedule_name)
    name, options = SAMPLERS[sampler]
    denoiser = Denoiser(oracle.model(schedule, "eps"), schedule, "eps")
    errors = []
    for n in steps:
        ts = timesteps(n)
        abar_first, abar_last = (float(schedule.alpha_cumprod_at(ts[i])) for i in (0, -1))
        exact = oracle.posterior_mean(oracle.ode_flow(x_T, abar_first, abar_last), abar_last)
        x0 = get_sampler(name)(denoiser, x_T, ts, **options)
        errors.append(float((x0 - exact).pow(2).mean().sqrt()))
    return errors


def measure() -> dict[tuple[str, str], list[float]]:
    """{(schedule, sampler): errors at STEPS}."""
    return {(s, k): ode_errors(k, s) for s in SCHEDULES for k in SAMPLERS}


def order(errors: list[float]) -> float:
    """The order fitted on ORDER_STEPS."""
    return fitted_order(list(ORDER_STEPS), [errors[STEPS.index(n)] for n in ORDER_STEPS])


def markdown(results: dict[tuple[str, str], list[float]]) -> str:
    header = ["schedule", "sampler", *(f"{n} steps" for n in STEPS), f"order ({ORDER_STEPS[0]}-{ORDER_STEPS[-1]})"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (schedule, sampler), errors in results.items():
        cells = [schedule, sampler, *(f"{e:.2g}" for e in errors), f"{order(errors):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
