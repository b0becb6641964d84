"""Samplers against the closed-form Gaussian oracle: convergence orders, distributions, parameterisations."""

import math

import oracle_table
import pytest
import torch
from gaussian_oracle import (
    GaussianOracle,
    LogSNRLinearSchedule,
    fitted_order,
    random_noise_matrix,
    whitened_moments,
)

from specdiff.diffusion import (
    Denoiser,
    UniformFrequencyNoise,
    available_samplers,
    get_sampler,
    make_schedule,
    make_timesteps,
    register_sampler,
    sample,
)
from specdiff.diffusion import samplers as samplers_module

SHAPE = (1, 2, 2)
BUILTIN = ("ancestral", "ddim", "ddpm", "dpm_solver++", "dpm_solver2")
# (sampler, options, fitted-order band with λ-uniform steps, band on the T = 1000 linspace grid). 3M's default D2
# (Lu et al.'s code, diffusers) leaves an O(h³) local error: its order falls towards 2 as the steps shrink (2.2 at
# 80-320 λ-uniform steps, oracle_table), above 2.5 only at these step counts; d2="taylor" is third order.
DETERMINISTIC = [
    ("ddim", {}, (0.8, 1.3), (0.8, 1.3)),
    ("dpm_solver++", {"order": 1}, (0.8, 1.3), (0.8, 1.3)),
    ("dpm_solver++", {"order": 2}, (1.6, 2.6), (1.6, 2.6)),
    ("dpm_solver++", {"order": 3}, (2.3, 2.9), (2.7, 3.4)),
    ("dpm_solver++", {"order": 3, "d2": "taylor"}, (3.0, 3.7), (2.5, 3.2)),
    ("dpm_solver2", {}, (1.6, 2.6), (1.6, 2.6)),
]


def _ids(cases):
    return [f"{name}-{opts.get('order', '')}{opts.get('d2', '')}" for name, opts, *_ in cases]


def _noise(n: int, seed: int, shape=SHAPE, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _exact_output(oracle: GaussianOracle, schedule, x_T: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """The exact PF-ODE solution from the first to the last visited timestep, then x0̂ there (the final step)."""
    abar_first = float(schedule.alpha_cumprod_at(timesteps[0]))
    abar_last = float(schedule.alpha_cumprod_at(timesteps[-1]))
    return oracle.posterior_mean(oracle.ode_flow(x_T, abar_first, abar_last), abar_last)


def _rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).mean().sqrt())


# --- convergence to the exact probability-flow ODE solution -------------------------------------------------


@pytest.mark.parametrize(("name", "options", "band", "_"), DETERMINISTIC, ids=_ids(DETERMINISTIC))
@pytest.mark.parametrize("coloured", [False, True], ids=["white", "coloured"])
def test_ode_order_in_log_snr_uniform_time(name, options, band, _, coloured):
    # Float timesteps on a λ-linear schedule give λ-uniform steps, where the order is cleanest. λ ends at 1,
    # not in the saturated clean regime, where the leading 3rd-order error term nearly cancels (slope ≈ 4).
    noise_matrix = random_noise_matrix(4, seed=5) if coloured else None
    oracle = GaussianOracle.random(SHAPE, seed=0, noise_matrix=noise_matrix)
    schedule = LogSNRLinearSchedule(lam_max=1.0, lam_min=-5.0)
    denoiser = Denoiser(oracle.model(schedule, "eps"), schedule, "eps")
    x_T = oracle.apply_noise_matrix(_noise(64, seed=1))
    steps = [20, 28, 40, 56, 80]
    errors = []
    for n in steps:
        timesteps = torch.linspace(1.0, 0.0, n, dtype=torch.float64)
        x0 = get_sampler(name)(denoiser, x_T, timesteps, **options)
        errors.append(_rms(x0, _exact_output(oracle, schedule, x_T, timesteps)))
    order = fitted_order(steps, errors)
    assert band[0] <= order <= band[1], (order, errors)


@pytest.mark.parametrize(("name", "options", "_", "band"), DETERMINISTIC, ids=_ids(DETERMINISTIC))
def test_ode_order_through_public_api_with_integer_timesteps(name, options, _, band):
    # T = 1000 linear schedule, linspace spacing (fixed end points 999 and 0), integer model timesteps.
    # Steps uniform in t are far from uniform in λ near t = 0, so 3M needs more steps to show its order.
    oracle = GaussianOracle.random(SHAPE, seed=0)
    schedule = make_schedule("linear", 1000)
    model = oracle.model(schedule, "eps")
    x_T = _noise(64, seed=1)
    steps = [80, 113, 160, 226, 320]
    errors = []
    for n in steps:
        x0 = sample(name, model, x_T, schedule, n, spacing="linspace", **options)
        timesteps = make_timesteps(1000, n, "linspace")
        errors.append(_rms(x0, _exact_output(oracle, schedule, x_T, timesteps)))
    order = fitted_order(steps, errors)
    assert band[0] <= order <= band[1], (order, errors)
    assert errors[-1] < 0.01


# --- the README's oracle table (scripts/sampler_oracle.py prints the same measurement) -----------------------

# (schedule, sampler): (RMS error at 20 steps, at 160 steps, order fitted on 80-320 steps), as reported.
REPORTED = {
    ("cosine", "ddim"): (0.047, 0.0066, 0.97),
    ("cosine", "dpm_solver++ 1"): (0.047, 0.0066, 0.97),
    ("cosine", "dpm_solver++ 2"): (0.0047, 0.00028, 1.68),
    ("cosine", "dpm_solver++ 3"): (0.0056, 9.6e-05, 2.24),
    ("cosine", "dpm_solver++ 3, d2=taylor"): (0.0092, 0.00022, 2.08),
    ("cosine", "dpm_solver2"): (0.004, 0.00029, 1.36),
    ("linear", "ddim"): (0.063, 0.01, 0.95),
    ("linear", "dpm_solver++ 1"): (0.063, 0.01, 0.95),
    ("linear", "dpm_solver++ 2"): (0.013, 0.0012, 1.64),
    ("linear", "dpm_solver++ 3"): (0.0059, 0.00013, 2.66),
    ("linear", "dpm_solver++ 3, d2=taylor"): (0.005, 0.00064, 1.97),
    ("linear", "dpm_solver2"): (0.0069, 0.00025, 1.82),
    ("lambda-uniform", "ddim"): (0.049, 0.006, 1.00),
    ("lambda-uniform", "dpm_solver++ 1"): (0.049, 0.006, 1.00),
    ("lambda-uniform", "dpm_solver++ 2"): (0.0015, 2.1e-05, 1.97),
    ("lambda-uniform", "dpm_solver++ 3"): (0.0027, 1.3e-05, 2.21),
    ("lambda-uniform", "dpm_solver++ 3, d2=taylor"): (0.0028, 3.3e-06, 3.09),
    ("lambda-uniform", "dpm_solver2"): (0.0042, 5.7e-05, 2.02),
}


@pytest.fixture(scope="module")
def table():
    return oracle_table.measure()


@pytest.mark.parametrize("key", list(REPORTED), ids=[f"{s}-{k}" for s, k in REPORTED])
def test_reported_oracle_figures(table, key):
    errors = table[key]
    at_20, at_160, order = REPORTED[key]
    assert at_20 / 1.1 < errors[oracle_table.STEPS.index(20)] < at_20 * 1.1, errors
    assert at_160 / 1.1 < errors[oracle_table.STEPS.index(160)] < at_160 * 1.1, errors
    assert abs(oracle_table.order(errors) - order) < 0.05, errors


def test_reported_oracle_comparisons(table):
    steps = oracle_table.STEPS
    lu, taylor, two = "dpm_solver++ 3", "dpm_solver++ 3, d2=taylor", "dpm_solver++ 2"
    # The default D2 beats "taylor" on the T = 1000 schedules: at every step count on cosine, all but 20 on linear.
    assert all(a < b for a, b in zip(table["cosine", lu], table["cosine", taylor], strict=True))
    assert [a < b for a, b in zip(table["linear", lu], table["linear", taylor], strict=True)] == [
        n != 20 for n in steps]
    # With steps uniform in λ "taylor" wins from 40 steps on, and only it is third order.
    assert [a < b for a, b in zip(table["lambda-uniform", taylor], table["lambda-uniform", lu], strict=True)] == [
        n >= 40 for n in steps]
    assert oracle_table.order(table["lambda-uniform", taylor]) > 2.9 > 2.4 > oracle_table.order(
        table["lambda-uniform", lu])
    # 3M beats 2M from 40 steps on the T = 1000 schedules and loses at 10.
    for schedule in ("cosine", "linear"):
        wins = [a < b for a, b in zip(table[schedule, lu], table[schedule, two], strict=True)]
        assert wins[0] is False and all(wins[steps.index(40):]), (schedule, wins)


# --- the prediction type is honoured --------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("prediction", ["v", "x0"])
def test_samplers_honour_prediction_type(name, prediction):
    # The same exact model in three parameterisations must give the same samples (same noise draws); a sampler
    # that read a v or x0 output as ε would be far off.
    oracle = GaussianOracle.random(SHAPE, seed=2)
    schedule = make_schedule("cosine", 200)
    x_T = _noise(32, seed=3)
    runs = {}
    for p in ("eps", prediction):
        g = torch.Generator().manual_seed(7)
        runs[p] = sample(name, oracle.model(schedule, p), x_T, schedule, 25, prediction=p, generator=g)
    torch.testing.assert_close(runs[prediction], runs["eps"], rtol=0, atol=1e-9)
    assert runs["eps"].abs().max() < 10


# --- stochastic samplers reproduce the data distribution ------------------------------------------------------


def _check_distribution(oracle: GaussianOracle, x: torch.Tensor, num_steps: int) -> None:
    """Whitened mean 0 and covariance I within 5 standard errors.

    Samplers that plug E[x0|x_t] into the Gaussian posterior are under-dispersed by O(1/N) (they drop the
    Var[x0|x_t] term; Bao et al. 2022, "Analytic-DPM"), about 10/N in variance for this data, so the diagonal
    may fall short of 1 by 12/N more.
    """
    n = x.shape[0]
    mean, cov = whitened_moments(oracle, x)
    D = mean.numel()
    se_mean, se_var, se_cov = 1 / math.sqrt(n), math.sqrt(2 / n), 1 / math.sqrt(n)
    assert mean.abs().max() < 5 * se_mean, mean
    off_diagonal = cov - torch.diag(torch.diagonal(cov))
    assert off_diagonal.abs().max() < 5 * se_cov, cov
    var = torch.diagonal(cov)
    assert (var < 1 + 5 * se_var).all() and (var > 1 - 12 / num_steps - 5 * se_var).all(), (var, D)


STOCHASTIC = [("ddpm", {}), ("ancestral", {}), ("ddim", {"eta": 0.5})]


@pytest.mark.parametrize(("name", "options"), STOCHASTIC, ids=["ddpm", "ancestral", "ddim-eta0.5"])
def test_stochastic_samplers_match_data_mean_and_covariance(name, options):
    # 250 of T = 1000 steps: DDPM must be respaced (β of each skipped stretch from ᾱ) to get this right.
    oracle = GaussianOracle.random(SHAPE, seed=11, std_range=(0.8, 1.2))
    schedule = make_schedule("linear", 1000)
    x = sample(
        name,
        oracle.model(schedule, "eps"),
        _noise(20000, seed=12),
        schedule,
        250,
        generator=torch.Generator().manual_seed(13),
        **options,
    )
    _check_distribution(oracle, x, 250)


def test_naive_ddpm_without_respacing_fails_the_distribution_check(monkeypatch):
    # Control: the pitfall (β_t of the full schedule used across skipped steps) is caught by the same check.
    monkeypatch.setattr(samplers_module, "_SAMPLERS", dict(samplers_module._SAMPLERS))

    @torch.no_grad()
    def naive_ddpm(denoiser, x, timesteps, *, noise_op=None, generator=None, callback=None):
        schedule = denoiser.schedule
        for t in timesteps:
            x0, _ = denoiser(x, t)
            abar_t = float(schedule.alphas_cumprod[t])
            abar_prev = float(schedule.alphas_cumprod[t - 1]) if t > 0 else 1.0
            beta = float(schedule.betas[t])
            mean = (math.sqrt(abar_prev) * beta * x0 + math.sqrt(1 - beta) * (1 - abar_prev) * x) / (1 - abar_t)
            var = (1 - abar_prev) / (1 - abar_t) * beta
            x = mean + math.sqrt(var) * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return x

    register_sampler("naive_ddpm", naive_ddpm)
    oracle = GaussianOracle.random(SHAPE, seed=11, std_range=(0.8, 1.2))
    schedule = make_schedule("linear", 1000)
    x = sample(
        "naive_ddpm",
        oracle.model(schedule, "eps"),
        _noise(20000, seed=12),
        schedule,
        250,
        generator=torch.Generator().manual_seed(13),
    )
    with pytest.raises(AssertionError):
        _check_distribution(oracle, x, 250)


def test_dpm_solver_pp_first_order_is_ddim():
    # Lu et al. 2022b: DPM-Solver++(1) is exactly DDIM (η = 0), here with integer timesteps and the x0̂ jump.
    oracle = GaussianOracle.random(SHAPE, seed=6)
    schedule = make_schedule("linear", 1000)
    model = oracle.model(schedule, "eps")
    x_T = _noise(16, seed=7)
    ddim_x0 = sample("ddim", model, x_T, schedule, 13)
    torch.testing.assert_close(sample("dpm_solver++", model, x_T, schedule, 13, order=1), ddim_x0, rtol=0, atol=1e-12)


def test_ddpm_ancestral_and_ddim_eta_1_are_the_same_process():
    # DDPM's posterior (Ho et al. Eq. 7), DDIM with η = 1 (Song et al. Eq. 16) and Euler ancestral ("ancestral",
    # diffusers' EulerAncestralDiscreteScheduler, computed as DDIM η = 1) are one kernel: with the same noise draws
    # the samples agree to rounding.
    oracle = GaussianOracle.random(SHAPE, seed=4)
    schedule = make_schedule("cosine", 1000)
    model = oracle.model(schedule, "eps")
    x_T = _noise(16, seed=5)
    a = sample("ddpm", model, x_T, schedule, 37, generator=torch.Generator().manual_seed(1))
    b = sample("ancestral", model, x_T, schedule, 37, generator=torch.Generator().manual_seed(1))
    c = sample("ddim", model, x_T, schedule, 37, eta=1.0, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    torch.testing.assert_close(c, b, rtol=0, atol=0)


# --- coloured noise -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ddpm", "ancestral"])
def test_stochastic_samplers_with_coloured_noise(name):
    # Data and model use noise M ε; the sampler must draw x_T and every injected noise as M z.
    M = random_noise_matrix(4, seed=21)
    oracle = GaussianOracle.random(SHAPE, seed=22, noise_matrix=M, std_range=(0.8, 1.2))
    schedule = make_schedule("linear", 1000)
    x = sample(
        name,
        oracle.model(schedule, "v"),
        _noise(20000, seed=23),
        schedule,
        250,
        prediction="v",
        noise_op=oracle.apply_noise_matrix,
        generator=torch.Generator().manual_seed(24),
    )
    _check_distribution(oracle, x, 250)


def test_white_injected_noise_fails_the_coloured_distribution_check():
    # Control: ignoring noise_op for the injected noise (only colouring x_T) is detected.
    M = random_noise_matrix(4, seed=21)
    oracle = GaussianOracle.random(SHAPE, seed=22, noise_matrix=M, std_range=(0.8, 1.2))
    schedule = make_schedule("linear", 1000)
    denoiser = Denoiser(oracle.model(schedule, "v"), schedule, "v")
    x_T = oracle.apply_noise_matrix(_noise(20000, seed=23))
    x = get_sampler("ddpm")(denoiser, x_T, make_timesteps(1000, 250), generator=torch.Generator().manual_seed(24))
    with pytest.raises(AssertionError):
        _check_distribution(oracle, x, 250)


def _operator_matrix(op, shape) -> torch.Tensor:
    """The D×D matrix of a linear operator on [B, *shape], column j = op(e_j)."""
    D = math.prod(shape)
    basis = torch.eye(D, dtype=torch.float64).reshape(D, *shape)
    return op(basis).reshape(D, D).T


def test_uniform_frequency_noise_sampling_end_to_end():
    # The real spectral noise operator on 4×4 images: deterministic sampling converges to the exact ODE
    # solution and ancestral sampling reproduces the data distribution.
    shape = (1, 4, 4)
    op = UniformFrequencyNoise(alpha=2.0)
    M = _operator_matrix(op, shape)
    oracle = GaussianOracle.random(shape, seed=31, noise_matrix=M, std_range=(0.8, 1.2))
    schedule = make_schedule("cosine", 1000)
    model = oracle.model(schedule, "eps")
    x_T = _noise(64, seed=32, shape=shape)
    x0 = sample("dpm_solver++", model, x_T, schedule, 100, noise_op=op, order=2, spacing="linspace")
    exact = _exact_output(oracle, schedule, op(x_T), make_timesteps(1000, 100, "linspace"))
    assert _rms(x0, exact) < 2e-3
    x = sample(
        "ancestral",
        model,
        _noise(4000, seed=33, shape=shape),
        schedule,
        250,
        noise_op=op,
        generator=torch.Generator().manual_seed(34),
    )
    _check_distribution(oracle, x, 250)


# --- timesteps visited, model calls, callback -----------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
def test_visits_timesteps_strictly_decreasing(name, spacing):
    schedule = make_schedule("linear", 100)
    oracle = GaussianOracle.random(SHAPE, seed=0)
    exact_model = oracle.model(schedule, "eps")
    seen_by_model = []

    def model(x, t):
        assert t.dtype == torch.int64 and t.shape == (x.shape[0],) and bool((t == t[0]).all())
        seen_by_model.append(int(t[0]))
        return exact_model(x, t)

    steps = []
    sample(
        name,
        model,
        _noise(4, seed=0),
        schedule,
        7,
        spacing=spacing,
        callback=steps.append,
        generator=torch.Generator().manual_seed(0),
    )
    visited = [s["t"] for s in steps]
    assert visited == make_timesteps(100, 7, spacing).tolist()
    assert all(a > b for a, b in zip(visited, visited[1:], strict=False))
    assert [s["i"] for s in steps] == list(range(7))
    assert all(set(s) == {"i", "t", "x", "x0_pred"} for s in steps)
    expected_calls = 2 * 7 - 1 if name == "dpm_solver2" else 7
    assert len(seen_by_model) == expected_calls
    assert all(0 <= t <= 99 for t in seen_by_model)


def test_dpm_solver2_intermediate_point_is_the_log_snr_midpoint():
    # Continuous time: the second evaluation of each step is exactly at λ = (λ_t + λ_s)/2 (r1 = 1/2).
    schedule = LogSNRLinearSchedule(lam_max=3.0, lam_min=-3.0)
    oracle = GaussianOracle.random(SHAPE, seed=0)
    exact_model = oracle.model(schedule, "eps")
    calls = []

    def model(x, t):
        calls.append(float(t[0]))
        return exact_model(x, t)

    timesteps = torch.tensor([1.0, 0.7, 0.2, 0.0], dtype=torch.float64)
    get_sampler("dpm_solver2")(Denoiser(model, schedule, "eps"), _noise(2, seed=0), timesteps)
    assert calls[0::2] == pytest.approx(timesteps.tolist())
    assert calls[1::2] == pytest.approx([0.85, 0.45, 0.1])


def test_dpm_solver2_rounds_the_midpoint_to_the_nearest_integer_timestep_in_log_snr():
    schedule = make_schedule("linear", 1000)
    oracle = GaussianOracle.random(SHAPE, seed=0)
    exact_model = oracle.model(schedule, "eps")
    calls = []

    def model(x, t):
        calls.append(int(t[0]))
        return exact_model(x, t)

    sample("dpm_solver2", model, _noise(2, seed=0), schedule, 4, spacing="linspace")
    lam = schedule.lambdas
    visited = make_timesteps(1000, 4, "linspace").tolist()
    assert calls[0::2] == visited
    for t, s, s1 in zip(visited[:-1], visited[1:], calls[1::2], strict=True):
        candidates = torch.arange(s, t)
        nearest = candidates[torch.argmin((lam[candidates] - (lam[t] + lam[s]) / 2).abs())]
        assert s1 == int(nearest)


# --- zero terminal SNR ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "options"), [("ddim", {}), ("dpm_solver++", {"order": 3}), ("ddpm", {})])
def test_zero_terminal_snr_sampling_with_v_prediction(name, options):
    # Lin et al. 2024: start at ᾱ = 0 (trailing spacing visits T-1) with v-prediction. ε is exactly x_T there.
    oracle = GaussianOracle.random(SHAPE, seed=8)
    schedule = make_schedule("cosine", 1000, zero_terminal_snr=True)
    model = oracle.model(schedule, "v")
    x_T = _noise(64, seed=9)
    x0 = sample(name, model, x_T, schedule, 100, prediction="v", generator=torch.Generator().manual_seed(0), **options)
    assert torch.isfinite(x0).all()
    if name != "ddpm":
        assert _rms(x0, _exact_output(oracle, schedule, x_T, make_timesteps(1000, 100))) < 0.02


def test_zero_terminal_snr_rejects_eps_prediction_and_dpm_solver2():
    oracle = GaussianOracle.random(SHAPE, seed=8)
    schedule = make_schedule("linear", 100, zero_terminal_snr=True)
    with pytest.raises(ValueError, match="zero terminal SNR"):
        sample("ddim", oracle.model(schedule, "eps"), _noise(2, seed=0), schedule, 10)
    with pytest.raises(ValueError, match="dpm_solver2.*ᾱ=0"):
        sample("dpm_solver2", oracle.model(schedule, "v"), _noise(2, seed=0), schedule, 10, prediction="v")
    x0 = sample(
        "dpm_solver2",
        oracle.model(schedule, "v"),
        _noise(2, seed=0),
        schedule,
        10,
        prediction="v",
        spacing="leading",
    )
    assert torch.isfinite(x0).all()


# --- sigma_max: a grid that starts below T - 1 ------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
def test_sigma_max_starts_the_grid_at_the_last_timestep_within_it(name, spacing):
    """The grid is make_timesteps(t_max + 1, N) and the first model call sees σ_{t_max} times the noise."""
    schedule = make_schedule("cosine", 100)
    top = schedule.last_timestep(10.0)
    assert 0 < top < 99
    oracle = GaussianOracle.random(SHAPE, seed=0)
    exact_model = oracle.model(schedule, "eps")
    calls = []

    def model(x, t):
        calls.append((int(t[0]), x.clone()))
        return exact_model(x, t)

    steps = []
    x_T = _noise(4, seed=0)
    sample(name, model, x_T, schedule, 7, spacing=spacing, sigma_max=10.0, callback=steps.append,
           generator=torch.Generator().manual_seed(0))
    assert [s["t"] for s in steps] == make_timesteps(top + 1, 7, spacing).tolist()
    assert calls[0][0] == steps[0]["t"]
    sigma = math.sqrt(1.0 - schedule.alphas_cumprod[top].item())
    assert torch.equal(calls[0][1], x_T * sigma)
    assert all(t <= top for t, _ in calls)


def test_sigma_max_lets_eps_prediction_sample_a_zero_terminal_snr_schedule():
    """Without ᾱ = 0 on the grid an ε model has an x0 to recover; the ODE solution from t_max is the exact one
    (the start drops the α_{t_max} x0 part of x_{t_max}, so compare with the flow from σ_{t_max} x_T)."""
    oracle = GaussianOracle.random(SHAPE, seed=8)
    schedule = make_schedule("cosine", 1000, zero_terminal_snr=True)
    top = schedule.last_timestep(10.0)
    x_T = _noise(64, seed=9)
    x0 = sample("dpm_solver++", oracle.model(schedule, "eps"), x_T, schedule, 100, sigma_max=10.0, order=2)
    start = x_T * math.sqrt(1.0 - schedule.alphas_cumprod[top].item())
    assert _rms(x0, _exact_output(oracle, schedule, start, make_timesteps(top + 1, 100))) < 0.02


def test_sigma_max_bad_values_raise():
    schedule = make_schedule("cosine", 100)
    model = GaussianOracle.random(SHAPE, seed=0).model(schedule, "eps")
    lowest = math.sqrt((1 - schedule.alphas_cumprod[0].item()) / schedule.alphas_cumprod[0].item())
    with pytest.raises(ValueError, match="sigma_max must be at least the schedule's σ/α at t = 0"):
        sample("ddim", model, _noise(2, seed=0), schedule, 1, sigma_max=lowest / 2)
    for bad in (0.0, -1.0, math.inf, math.nan, True, "10"):
        with pytest.raises(ValueError, match="sigma_max must be a finite number > 0 or None"):
            sample("ddim", model, _noise(2, seed=0), schedule, 5, sigma_max=bad)
    top = schedule.last_timestep(1.0)
    with pytest.raises(ValueError, match=rf"num_steps must be an integer in \[1, {top + 1}\]"):
        sample("ddim", model, _noise(2, seed=0), schedule, top + 2, sigma_max=1.0)
    x0 = sample("ddim", model, _noise(2, seed=0), schedule, 1, sigma_max=lowest * (1 + 1e-9))  # only t = 0
    assert torch.isfinite(x0).all()


# --- registry and options -------------------------------------------------------------------------------------


def test_registry_lists_builtins_and_rejects_unknown_names():
    assert set(BUILTIN) <= set(available_samplers())
    with pytest.raises(ValueError, match="unknown sampler 'euler'; registered: ancestral, ddim, ddpm"):
        get_sampler("euler")
    schedule = make_schedule("linear", 10)
    with pytest.raises(ValueError, match="dpm_solver\\+\\+, dpm_solver2"):
        sample("heun", lambda x, t: x, _noise(1, seed=0), schedule, 3)


def test_register_sampler_adds_one_and_refuses_duplicates(monkeypatch):
    monkeypatch.setattr(samplers_module, "_SAMPLERS", dict(samplers_module._SAMPLERS))
    seen = {}

    def first_step_only(denoiser, x, timesteps, *, noise_op=None, generator=None, callback=None, scale=1.0):
        """Returns x0̂ at the first visited timestep, scaled."""
        seen["timesteps"] = timesteps
        return scale * denoiser(x, timesteps[0])[0]

    register_sampler("first_step_only", first_step_only)
    assert "first_step_only" in available_samplers()
    schedule = make_schedule("linear", 50)
    oracle = GaussianOracle.random(SHAPE, seed=0)
    x_T = _noise(3, seed=0)
    out = sample("first_step_only", oracle.model(schedule, "x0"), x_T, schedule, 5, prediction="x0", scale=2.0)
    torch.testing.assert_close(out, 2 * oracle.posterior_mean(x_T, schedule.alphas_cumprod[49]))
    assert seen["timesteps"].tolist() == make_timesteps(50, 5).tolist()
    with pytest.raises(ValueError, match="already registered"):
        register_sampler("ddim", first_step_only)
    with pytest.raises(ValueError, match="non-empty string"):
        register_sampler("", first_step_only)
    with pytest.raises(TypeError, match="callable"):
        register_sampler("not_callable", 3)
    with pytest.raises(ValueError, match="does not take option.*eta.*it takes: scale"):
        sample("first_step_only", oracle.model(schedule, "x0"), x_T, schedule, 5, eta=0.5)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("dpm_solver++", {"order": 4}, "order must be 1, 2 or 3, got 4"),
        ("dpm_solver++", {"order": 0}, "order must be 1, 2 or 3"),
        (
            "dpm_solver++",
            {"eta": 0.5},
            "'dpm_solver\\+\\+' does not take option.*eta.*it takes: order, lower_order_final, d2",
        ),
        ("dpm_solver++", {"d2": "half"}, "d2 must be one of \\('lu', 'taylor'\\), got 'half'"),
        ("dpm_solver2", {"order": 2}, "'dpm_solver2' does not take option.*order.*it takes: no options"),
        ("ancestral", {"eta": 0.3}, "'ancestral' does not take option.*eta"),
        ("ddpm", {"eta": 1.0}, "'ddpm' does not take option.*eta"),
        ("ddim", {"eta": 1.5}, "eta must be in \\[0, 1\\], got 1.5"),
        ("ddim", {"etta": 0.1}, "'ddim' does not take option.*etta.*it takes: eta"),
        ("ddim", {"prediction": "score"}, "prediction must be one of"),
        ("ddim", {"spacing": "uniform"}, "spacing must be one of"),
    ],
)
def test_bad_options_raise(name, kwargs, match):
    schedule = make_schedule("linear", 20)
    with pytest.raises(ValueError, match=match):
        sample(name, lambda x, t: torch.zeros_like(x), _noise(1, seed=0), schedule, 5, **kwargs)


def test_num_steps_beyond_num_timesteps_raises():
    schedule = make_schedule("linear", 20)
    with pytest.raises(ValueError, match="num_steps must be an integer in \\[1, 20\\], got 21"):
        sample("ddim", lambda x, t: torch.zeros_like(x), _noise(1, seed=0), schedule, 21)


def test_all_steps_and_float32_inputs():
    # num_steps = T visits every timestep; float32 in, float32 out, no NaN at either end of the schedule.
    schedule = make_schedule("cosine", 50)
    oracle = GaussianOracle.random(SHAPE, seed=0)
    model = oracle.model(schedule, "eps")
    for name in BUILTIN:
        out = sample(
            name,
            model,
            _noise(8, seed=0, dtype=torch.float32),
            schedule,
            50,
            generator=torch.Generator().manual_seed(0),
        )
        assert out.dtype == torch.float32 and out.shape == (8, *SHAPE) and torch.isfinite(out).all()
