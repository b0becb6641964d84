"""Forward noising with coloured noise and the uniform-frequency-corruption operator."""

import math

import pytest
import torch

from specdiff.diffusion import UniformFrequencyNoise, make_schedule, q_sample


def _operator_matrix(op, shape) -> torch.Tensor:
    D = math.prod(shape)
    basis = torch.eye(D, dtype=torch.float64).reshape(D, *shape)
    return op(basis).reshape(D, D).T


def test_q_sample_follows_the_forward_process():
    schedule = make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 1, 4, 4, generator=g)
    eps = torch.randn(3, 1, 4, 4, generator=g)
    t = torch.tensor([0, 500, 999])
    abar = schedule.alphas_cumprod[t].float().view(-1, 1, 1, 1)
    torch.testing.assert_close(q_sample(x0, t, eps, schedule), abar.sqrt() * x0 + (1 - abar).sqrt() * eps)

    def colour(e):
        return 2.0 * e.flip(-1)

    expected = abar.sqrt() * x0 + (1 - abar).sqrt() * colour(eps)
    torch.testing.assert_close(q_sample(x0, t, eps, schedule, noise_op=colour), expected)
    assert q_sample(x0, t, eps, schedule).dtype == torch.float32


@pytest.mark.parametrize(("H", "W"), [(8, 8), (7, 9), (6, 5), (1, 4)])
@pytest.mark.parametrize("alpha", [1.0, 2.0, 3.0])
def test_uniform_frequency_noise_is_unit_power_symmetric_positive_definite(H, W, alpha):
    op = UniformFrequencyNoise(alpha=alpha)
    M = _operator_matrix(op, (1, H, W))
    # Unit mean power: M ε has unit variance per pixel on average, E|Mε|²/D = tr(M Mᵀ)/D = 1.
    assert torch.trace(M @ M.T).item() / (H * W) == pytest.approx(1.0, rel=1e-10)
    # A real, radially symmetric positive filter is a symmetric positive definite (invertible) convolution.
    torch.testing.assert_close(M, M.T, rtol=0, atol=1e-12)
    assert torch.linalg.eigvalsh(M).min() > 0


def test_uniform_frequency_noise_weights_follow_the_fft_frequencies():
    op = UniformFrequencyNoise(alpha=2.0, eps=0.05)
    w = op.weight(8, 8, torch.float64)
    assert w.shape == (8, 5)
    # fftfreq rows: 0, 1/8, ..., 3/8, -1/2, -3/8, ..., -1/8; rfftfreq columns: 0 .. 1/2.
    fy = torch.tensor([0, 1, 2, 3, -4, -3, -2, -1], dtype=torch.float64) / 8
    fx = torch.arange(5, dtype=torch.float64) / 8
    rho = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) / math.sqrt(0.5)
    # |M|² ∝ (rho + eps)^-alpha: with signal power ∝ (rho + eps)^-alpha the per-frequency SNR is constant.
    ratio = w**2 * (rho + 0.05) ** 2.0
    torch.testing.assert_close(ratio, torch.full_like(ratio, ratio[0, 0].item()))
    assert w[0, 0] == w.max() and w[4, 4] == w.min()
    assert w[1, 0] == w[7, 0] == w[0, 1]


def test_uniform_frequency_noise_flattens_power_law_snr():
    # Empirically: noise from the operator has the radial power profile (rho + eps)^-alpha of the data it is
    # matched to, so signal/noise power is the same in a low and a high frequency band.
    op = UniformFrequencyNoise(alpha=2.0)
    g = torch.Generator().manual_seed(0)
    noise = op(torch.randn(2000, 1, 16, 16, generator=g, dtype=torch.float64))
    power = torch.fft.rfft2(noise, norm="ortho").abs().square().mean(0)[0]
    target = op.weight(16, 16, torch.float64) ** 2
    low, high = (slice(1, 3), slice(1, 3)), (slice(6, 9), slice(6, 9))
    for band in (low, high):
        assert power[band].mean() / target[band].mean() == pytest.approx(1.0, rel=0.05)
    assert target[low].mean() > 5 * target[high].mean()


def test_alpha_zero_is_white_noise():
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    torch.testing.assert_close(UniformFrequencyNoise(alpha=0.0)(x), x)


def test_uniform_frequency_noise_rejects_bad_arguments():
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0, got -1"):
        UniformFrequencyNoise(alpha=-1.0)
    with pytest.raises(ValueError, match="eps must be a finite number > 0 or None, got 0"):
        UniformFrequencyNoise(eps=0.0)
