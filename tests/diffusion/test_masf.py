"""The masf sampler: DDPM with a per-band moving average of the sample's spectrum."""

import math
from fractions import Fraction

import pytest
import torch
from gaussian_oracle import GaussianOracle, whitened_moments

from specdiff.diffusion import UniformFrequencyNoise, make_schedule, sample
from specdiff.diffusion import samplers as samplers_module


def _noise(n, seed, shape=(1, 8, 8)):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _exact_band(h, w, ky, kx, edges):
    rho2 = Fraction(2 * ky * ky, h * h) + Fraction(2 * kx * kx, w * w)
    return sum(1 for e in edges if Fraction(e) ** 2 <= rho2)


def _signed(n):
    return [k if k <= (n - 1) // 2 else k - n for k in range(n)]


@pytest.mark.parametrize("prediction", ["eps", "v"])
@pytest.mark.parametrize("coloured", [False, True], ids=["white", "coloured"])
def test_alpha_zero_is_exactly_ddpm(prediction, coloured):
    # 40 of T = 1000 steps: the respaced DDPM steps; the coloured case draws every noise through noise_op.
    shape = (1, 8, 8)
    oracle = GaussianOracle.random(shape, seed=3)
    schedule = make_schedule("cosine", 1000)
    noise_op = UniformFrequencyNoise(alpha=1.5) if coloured else None
    runs = [sample(name, oracle.model(schedule, prediction), _noise(6, seed=4), schedule, 40, prediction=prediction,
                   noise_op=noise_op, generator=torch.Generator().manual_seed(5), **opts)
            for name, opts in (("ddpm", {}), ("masf", {"alpha": 0.0}), ("masf", {"alpha": [0.0, 0.0, 0.0]}))]
    torch.testing.assert_close(runs[1], runs[0], rtol=0, atol=0)
    torch.testing.assert_close(runs[2], runs[0], rtol=0, atol=0)


@pytest.mark.parametrize("h, w", [(1, 1), (2, 2), (8, 8), (9, 12), (16, 11)])
def test_bands_partition_every_bin(h, w):
    alphas = (0.1, 0.2, 0.3, 0.4)
    edges = (Fraction(1, 4), 0.5, Fraction(3, 4))
    got = samplers_module._masf_bands(torch.zeros(1, 1, h, w, dtype=torch.float64), alphas, edges)
    assert got.shape == (h, w // 2 + 1)
    expected = [[alphas[_exact_band(h, w, ky, kx, edges)] for kx in range(w // 2 + 1)] for ky in _signed(h)]
    assert got.tolist() == expected
    assert got[0, 0].item() == 0.1  # DC: the lowest band
    if h % 2 == 0 and w % 2 == 0:
        assert got[h // 2, w // 2].item() == 0.4  # the diagonal Nyquist corner rho = 1: the highest band


def test_each_band_is_a_moving_average_of_the_spectrum(monkeypatch):
    # F(x_i) = A·F(x_{i-1}) + (1 - A)·F(raw_i) per bin of the full spectrum, where x_i is what the model sees at
    # step i and raw_i the DDPM step's output from x_{i-1}; A is α of the bin's band.
    raw = []
    step = samplers_module._ddpm_step

    def recording_step(*args):
        out = step(*args)
        raw.append(out.clone())
        return out

    monkeypatch.setattr(samplers_module, "_ddpm_step", recording_step)
    seen = []
    oracle = GaussianOracle.random((1, 8, 6), seed=8)
    schedule = make_schedule("linear", 1000)
    alphas = (0.2, 0.5, 0.9)
    sample("masf", oracle.model(schedule, "eps"), _noise(3, seed=9, shape=(1, 8, 6)), schedule, 12,
           generator=torch.Generator().manual_seed(1), alpha=list(alphas), callback=lambda d: seen.append(d["x"]))
    assert len(seen) == len(raw) == 12
    a = torch.tensor([[alphas[_exact_band(8, 6, ky, kx, (Fraction(1, 3), Fraction(2, 3)))] for kx in _signed(6)]
                      for ky in _signed(8)], dtype=torch.float64)
    for i in range(1, 12):
        expected = a * torch.fft.fft2(seen[i - 1]) + (1 - a) * torch.fft.fft2(raw[i - 1])
        torch.testing.assert_close(torch.fft.fft2(seen[i]), expected, rtol=0, atol=1e-12)


def test_oracle_moments_are_reported(record_property):
    # The averaging mixes partly independent noise across steps, so masf is under-dispersed: on this exact
    # Gaussian oracle (250 of 1000 linear steps, 4x4 images, 5000 samples) the whitened variance falls from
    # ddpm's 0.94-0.99 to 0.44-0.57 at alpha = 0.5 (0.33-0.61 at 0.9), the per-pixel std from 0.97-1.00 of the
    # data's to 0.66-0.72, and the largest mean error grows from 0.022 (sampling noise) to 0.18.
    shape = (1, 4, 4)
    oracle = GaussianOracle.random(shape, seed=11, std_range=(0.8, 1.2))
    schedule = make_schedule("linear", 1000)
    x_T = _noise(5000, seed=12, shape=shape)
    moments = {}
    for alpha in (0.0, 0.5):
        x = sample("masf", oracle.model(schedule, "eps"), x_T, schedule, 250,
                   generator=torch.Generator().manual_seed(13), alpha=alpha)
        flat = x.reshape(len(x), -1)
        _, cov = whitened_moments(oracle, x)
        moments[alpha] = ((flat.mean(0) - oracle.mean).abs().max().item(), cov.diagonal().min().item(),
                          cov.diagonal().max().item())
        record_property(f"masf_alpha{alpha}_mean_err_var_min_max", moments[alpha])
    assert moments[0.0][0] < 5 / math.sqrt(5000) and moments[0.0][1] > 0.9
    assert moments[0.5][2] < 0.8 and moments[0.5][0] > 0.1


@pytest.mark.parametrize(("options", "match"), [
    ({"alpha": 1.0}, "alpha must be in \\[0, 1\\), got 1.0"),
    ({"alpha": -0.1}, "alpha must be in"),
    ({"alpha": True}, "alpha must be in"),
    ({"alpha": [0.1, 0.2]}, "one number or 3 \\(one per band\\), got 2"),
    ({"edges": [0.5, 0.25]}, "strictly increasing"),
    ({"edges": [0.0, 0.5]}, "edges must be a list of numbers in \\(0, 1\\)"),
    ({"edges": [0.5, 1.2]}, "edges must be a list of numbers in \\(0, 1\\)"),
    ({"edges": "low"}, "edges must be a list"),
    ({"eta": 0.5}, "'masf' does not take option.*eta.*it takes: alpha, edges"),
])
def test_bad_options_raise(options, match):
    schedule = make_schedule("linear", 20)
    with pytest.raises(ValueError, match=match):
        sample("masf", lambda x, t: torch.zeros_like(x), _noise(1, seed=0), schedule, 5, **options)


def test_one_band_and_float32():
    schedule = make_schedule("cosine", 50)
    oracle = GaussianOracle.random((1, 4, 4), seed=0)
    x = sample("masf", oracle.model(schedule, "eps"), _noise(4, seed=1, shape=(1, 4, 4)).float(), schedule, 10,
               generator=torch.Generator().manual_seed(0), alpha=[0.3], edges=[])
    assert x.dtype == torch.float32 and torch.isfinite(x).all()
