"""Noise schedules and timestep spacing, checked against values computed here from the papers' formulas."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from specdiff.diffusion import Schedule, make_schedule, make_timesteps


def _linear_alpha_cumprod(T: int, t: int) -> float:
    """ᾱ_t = Π_{i<=t} (1 - β_i), β linear from 1e-4·1000/T to 0.02·1000/T, clipped at 0.999."""
    lo, hi = 0.1 / T, 20.0 / T
    return math.prod(1 - min(lo + (hi - lo) * i / (T - 1), 0.999) for i in range(t + 1))


def _cosine_alpha_cumprod(T: int, t: int, s: float = 0.008) -> float:
    """ᾱ at timestep index t is f(t+1)/f(0), f(u) = cos²((u/T + s)/(1 + s)·π/2), while no β is clipped."""

    def f(u: float) -> float:
        return math.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2

    return f(t + 1) / f(0)


@pytest.mark.parametrize("T", [10, 250, 1000])
def test_linear_schedule_values(T):
    schedule = make_schedule("linear", T)
    assert schedule.betas[0].item() == pytest.approx(0.1 / T, rel=1e-12)
    assert schedule.betas[-1].item() == pytest.approx(min(20.0 / T, 0.999), rel=1e-12)
    for t in (0, 1, T // 2, T - 1):
        assert schedule.alphas_cumprod[t].item() == pytest.approx(_linear_alpha_cumprod(T, t), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("T", [50, 1000])
def test_cosine_schedule_values(T):
    schedule = make_schedule("cosine", T)
    for t in (0, 1, T // 3, T - 2):
        assert schedule.alphas_cumprod[t].item() == pytest.approx(_cosine_alpha_cumprod(T, t), rel=1e-9)
    # The last β would be 1 (f(T) = 0); Nichol & Dhariwal clip it at 0.999.
    assert schedule.betas[-1].item() == pytest.approx(0.999)
    assert schedule.betas.max().item() <= 0.999


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("T", [10, 100, 1000])
def test_terminal_snr_near_zero_for_every_T(kind, T):
    # A linear schedule not rescaled with T would end at ᾱ ≈ 0.37 for T = 100 and ≈ 0.9 for T = 10.
    schedule = make_schedule(kind, T)
    assert schedule.snr[-1].item() < 1e-3
    assert schedule.snr[0].item() > 30


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("T", [2, 10, 1000])
@pytest.mark.parametrize("zero_terminal_snr", [False, True])
def test_schedule_is_consistent_and_decreasing(kind, T, zero_terminal_snr):
    schedule = make_schedule(kind, T, zero_terminal_snr=zero_terminal_snr)
    assert schedule.num_timesteps == T
    for tensor in (schedule.betas, schedule.alphas, schedule.alphas_cumprod):
        assert tensor.dtype == torch.float64 and tensor.shape == (T,)
    assert ((schedule.betas > 0) & (schedule.betas <= 1)).all()
    torch.testing.assert_close(schedule.alphas, 1 - schedule.betas)
    torch.testing.assert_close(schedule.alphas_cumprod, torch.cumprod(schedule.alphas, 0))
    assert (schedule.alphas_cumprod[1:] < schedule.alphas_cumprod[:-1]).all()
    finite = schedule.alphas_cumprod > 0
    torch.testing.assert_close(schedule.lambdas[finite], 0.5 * schedule.snr[finite].log())


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("T", [10, 100, 1000])
def test_zero_terminal_snr_rescales_sqrt_alpha_cumprod(kind, T):
    base = make_schedule(kind, T)
    rescaled = make_schedule(kind, T, zero_terminal_snr=True)
    assert rescaled.alphas_cumprod[-1].item() == 0.0
    assert rescaled.snr[-1].item() == 0.0
    assert rescaled.lambdas[-1].item() == -math.inf
    # Lin et al. 2024, Algorithm 1: sqrt(ᾱ) shifted and scaled so the first is kept and the last is 0.
    old = base.alphas_cumprod.sqrt()
    expected = (old - old[-1]) * old[0] / (old[0] - old[-1])
    torch.testing.assert_close(rescaled.alphas_cumprod.sqrt(), expected, rtol=1e-10, atol=1e-12)


def test_alpha_cumprod_at_and_timestep_near_lambda():
    schedule = make_schedule("cosine", 100)
    t = torch.tensor([[0, 5], [99, 42]])
    torch.testing.assert_close(schedule.alpha_cumprod_at(t), schedule.alphas_cumprod[t])
    with pytest.raises(TypeError, match="integer timesteps"):
        schedule.alpha_cumprod_at(torch.tensor([1.5]))
    lam = schedule.lambdas
    for target in (-3.0, 0.0, 2.5, lam[30].item() + 1e-9):
        tau = int(schedule.timestep_near_lambda(target, torch.tensor(20), torch.tensor(60)))
        assert 20 <= tau < 60
        assert abs(lam[tau] - target) == (lam[20:60] - target).abs().min()
    assert int(schedule.timestep_near_lambda(lam[30].item(), torch.tensor(20), torch.tensor(60))) == 30
    with pytest.raises(ValueError, match="no integer timestep"):
        schedule.timestep_near_lambda(0.0, torch.tensor(5), torch.tensor(5))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "quadratic"}, "kind must be one of \\('linear', 'cosine'\\), got 'quadratic'"),
        ({"num_timesteps": 1}, "num_timesteps must be an integer >= 2, got 1"),
        ({"num_timesteps": 100.0}, "num_timesteps must be an integer >= 2, got 100.0"),
        ({"num_timesteps": True}, "num_timesteps must be an integer >= 2"),
        ({"zero_terminal_snr": "yes"}, "zero_terminal_snr must be a bool, got 'yes'"),
    ],
)
def test_make_schedule_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_schedule(**kwargs)


def test_schedule_rejects_bad_betas():
    with pytest.raises(ValueError, match="betas must lie in \\(0, 1\\]"):
        Schedule(torch.tensor([0.1, 1.5]))
    with pytest.raises(ValueError, match="at least 2 values"):
        Schedule(torch.tensor([0.1]))


# --- timestep spacing -----------------------------------------------------------------------------------------


def test_spacing_matches_lin_et_al_table_2():
    assert make_timesteps(1000, 10, "trailing").tolist() == list(range(999, 0, -100))
    assert make_timesteps(1000, 10, "leading").tolist() == list(range(900, -1, -100))
    assert make_timesteps(1000, 10, "linspace").tolist() == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert make_timesteps(1000, 3, "trailing").tolist() == [999, 666, 332]
    assert make_timesteps(1000, 3, "leading").tolist() == [666, 333, 0]
    assert make_timesteps(1000, 1, "linspace").tolist() == [999]


def test_spacing_rounds_exact_ties_to_even():
    # numpy.round's rule, so diffusers' set_timesteps agrees where its floats are exact: T/N = 62.5 puts
    # 937.5, 812.5, ... on the trailing grid, (T-1)/(N-1) = 166.5 puts 832.5, 499.5, 166.5 on the linspace one.
    trailing = make_timesteps(1000, 16, "trailing").tolist()
    assert trailing[:4] == [999, 937, 874, 811] and trailing[-1] == 61
    assert make_timesteps(1000, 7, "linspace").tolist() == [999, 832, 666, 500, 333, 166, 0]


@settings(deadline=None)
@given(T=st.integers(2, 3000), data=st.data(), spacing=st.sampled_from(["linspace", "leading", "trailing"]))
def test_spacing_is_strictly_decreasing_and_in_range(T, data, spacing):
    n = data.draw(st.integers(1, T))
    ts = make_timesteps(T, n, spacing)
    assert ts.dtype == torch.int64 and ts.shape == (n,)
    assert (ts[1:] < ts[:-1]).all()
    assert 0 <= ts.min() and ts.max() <= T - 1
    if spacing in ("linspace", "trailing"):
        assert ts[0] == T - 1
    if spacing in ("linspace", "leading"):
        assert ts[-1] == 0 or n == 1


@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
def test_every_step_visits_every_timestep(spacing):
    assert make_timesteps(37, 37, spacing).tolist() == list(range(36, -1, -1))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((1000, 1001, "trailing"), "num_steps must be an integer in \\[1, 1000\\], got 1001"),
        ((1000, 0, "trailing"), "num_steps must be an integer in \\[1, 1000\\], got 0"),
        ((1000, 10, "uniform"), "spacing must be one of \\('linspace', 'leading', 'trailing'\\), got 'uniform'"),
        ((0, 1, "trailing"), "num_timesteps must be an integer >= 1"),
        ((1, 2, "trailing"), "num_steps must be an integer in \\[1, 1\\], got 2"),
    ],
)
def test_make_timesteps_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        make_timesteps(*args)


@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
def test_make_timesteps_over_one_timestep_visits_t0(spacing):
    assert make_timesteps(1, 1, spacing).tolist() == [0]


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_last_timestep_is_the_last_within_sigma_max(kind):
    """σ/α increases with t; between two neighbours' ratios the answer is the lower one, decided on 1 - ᾱ <= σ² ᾱ."""
    schedule = make_schedule(kind, 1000)
    ratio = ((1 - schedule.alphas_cumprod) / schedule.alphas_cumprod).sqrt()
    assert schedule.last_timestep(None) == 999
    assert schedule.last_timestep(float(ratio[-1]) * 2) == 999
    for t in (0, 1, 500, 900, 998):
        between = math.sqrt(float(ratio[t]) * float(ratio[t + 1]))
        assert schedule.last_timestep(between) == t
    exact = schedule.alphas_cumprod
    for t in (1, 300, 700):  # at σ_max with σ_max² ᾱ_t >= 1 - ᾱ_t in float64, t itself is within
        sigma = float(ratio[t])
        if (1 - exact[t]) <= sigma**2 * exact[t]:
            assert schedule.last_timestep(sigma) == t
        else:
            assert schedule.last_timestep(sigma) == t - 1
