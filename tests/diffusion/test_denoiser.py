"""The ε / v / x0 denoiser wrapper and training targets."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from specdiff.diffusion import Denoiser, denoise, make_schedule, prediction_target


def _batch(seed: int, n: int = 6):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, 2, 3, 5, generator=g, dtype=torch.float64)
    noise = torch.randn(n, 2, 3, 5, generator=g, dtype=torch.float64)
    return x0, noise


@settings(deadline=None)
@given(abar=st.floats(1e-4, 1 - 1e-4), prediction=st.sampled_from(["eps", "v", "x0"]))
def test_target_then_denoise_recovers_x0_and_noise(abar, prediction):
    x0, noise = _batch(0)
    x_t = math.sqrt(abar) * x0 + math.sqrt(1 - abar) * noise
    output = prediction_target(x0, noise, abar, prediction)
    x0_hat, noise_hat = denoise(output, x_t, abar, prediction)
    torch.testing.assert_close(x0_hat, x0, rtol=0, atol=1e-8 / math.sqrt(abar))
    torch.testing.assert_close(noise_hat, noise, rtol=0, atol=1e-8 / math.sqrt(1 - abar))


def test_targets_follow_the_definitions():
    x0, noise = _batch(1)
    abar = torch.tensor([0.9, 0.5, 0.1, 0.99, 1e-3, 0.3], dtype=torch.float64)
    a, s = abar.sqrt().view(-1, 1, 1, 1), (1 - abar).sqrt().view(-1, 1, 1, 1)
    torch.testing.assert_close(prediction_target(x0, noise, abar, "eps"), noise)
    torch.testing.assert_close(prediction_target(x0, noise, abar, "x0"), x0)
    torch.testing.assert_close(prediction_target(x0, noise, abar, "v"), a * noise - s * x0)
    # Per-sample ᾱ [B] broadcasts over [B, C, H, W], for a 0-d tensor and a float alike.
    x_t = a * x0 + s * noise
    for prediction in ("eps", "v", "x0"):
        out = prediction_target(x0, noise, abar, prediction)
        x0_hat, noise_hat = denoise(out, x_t, abar, prediction)
        torch.testing.assert_close(x0_hat, x0)
        torch.testing.assert_close(noise_hat, noise)
    single = denoise(noise[:1], x_t[:1], torch.tensor(0.9), "eps")[0]
    torch.testing.assert_close(single, denoise(noise[:1], x_t[:1], 0.9, "eps")[0])


def test_v_prediction_is_exact_where_eps_cannot_be():
    # At ᾱ = 0 (zero terminal SNR) v still identifies x0 = -v and ε = x_t (Lin et al. 2024 §3.2).
    x0, noise = _batch(2)
    v = prediction_target(x0, noise, 0.0, "v")
    x0_hat, noise_hat = denoise(v, noise, 0.0, "v")
    torch.testing.assert_close(x0_hat, x0)
    torch.testing.assert_close(noise_hat, noise)


def test_float32_stays_float32():
    x0, noise = (t.float() for t in _batch(3))
    abar = torch.tensor([0.5] * 6, dtype=torch.float64)
    for prediction in ("eps", "v", "x0"):
        out = prediction_target(x0, noise, abar, prediction)
        assert out.dtype == torch.float32
        assert all(t.dtype == torch.float32 for t in denoise(out, x0, abar, prediction))


def test_denoiser_calls_model_with_int64_timesteps_and_schedule_alpha():
    schedule = make_schedule("cosine", 100)
    x0, noise = _batch(4)
    calls = []

    def model(x, t):
        calls.append(t)
        abar = schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
        return abar.sqrt() * noise - (1 - abar).sqrt() * x0

    t = torch.tensor(37)
    abar = schedule.alphas_cumprod[37]
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
    x0_hat, noise_hat = Denoiser(model, schedule, "v")(x_t, t)
    assert calls[0].dtype == torch.int64 and calls[0].tolist() == [37] * 6
    torch.testing.assert_close(x0_hat, x0)
    torch.testing.assert_close(noise_hat, noise)


def test_unknown_prediction_is_rejected():
    x0, noise = _batch(5)
    with pytest.raises(ValueError, match="prediction must be one of \\('eps', 'v', 'x0'\\), got 'score'"):
        denoise(x0, x0, 0.5, "score")
    with pytest.raises(ValueError, match="prediction must be one of"):
        prediction_target(x0, noise, 0.5, "epsilon")
    with pytest.raises(ValueError, match="prediction must be one of"):
        Denoiser(lambda x, t: x, make_schedule(), "sample")


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_clip_x0_clamps_and_keeps_the_pair_consistent(prediction):
    schedule = make_schedule("cosine", num_timesteps=100)
    g = torch.Generator().manual_seed(0)
    x_t = 3 * torch.randn(4, 1, 5, 5, generator=g, dtype=torch.float64)
    out = 3 * torch.randn(4, 1, 5, 5, generator=g, dtype=torch.float64)
    t = torch.tensor(90)
    plain = Denoiser(lambda x, tt: out, schedule, prediction)(x_t, t)
    x0, n = Denoiser(lambda x, tt: out, schedule, prediction, clip_x0=1.0)(x_t, t)
    assert x0.abs().max() <= 1.0 and plain[0].abs().max() > 1.0
    torch.testing.assert_close(x0, plain[0].clamp(-1, 1))
    abar = float(schedule.alpha_cumprod_at(t))
    torch.testing.assert_close(abar**0.5 * x0 + (1 - abar) ** 0.5 * n, x_t)
    with pytest.raises(ValueError, match="clip_x0"):
        Denoiser(lambda x, tt: out, schedule, prediction, clip_x0=0.0)
