"""Denoising loss: targets, SNR weightings (incl. min-SNR-γ), coloured noise, the residual-loss hook."""

import functools
import math

import pytest
import torch

from specdiff.diffusion import diffusion_loss, make_schedule, mean_square, prediction_target, snr_weight
from specdiff.ops import spectral_band_mse

SNR = torch.tensor([1e-3, 0.2, 1.0, 5.0, 40.0, 1e4], dtype=torch.float64)


@pytest.mark.parametrize(
    ("weighting", "w"),
    [
        ("snr", SNR),
        ("sqrt_snr", SNR.sqrt()),
        ("min_snr", SNR.clamp(max=5.0)),
    ],
)
def test_weightings_are_the_same_x0_space_objective_for_every_prediction(weighting, w):
    # Hang et al. 2023: the weighting is defined on ||x0̂ - x0||². The weighted target MSE must equal
    # w(SNR)·||x0̂ - x0||² whatever the network predicts.
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 1, 4, 4, generator=g, dtype=torch.float64)
    noise = torch.randn(6, 1, 4, 4, generator=g, dtype=torch.float64)
    abar = SNR / (1 + SNR)
    a, s = abar.sqrt().view(-1, 1, 1, 1), (1 - abar).sqrt().view(-1, 1, 1, 1)
    x_t = a * x0 + s * noise
    x0_hat = x0 + 0.1 * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    noise_hat = (x_t - a * x0_hat) / s
    x0_error = mean_square(x0_hat - x0)
    for prediction in ("eps", "v", "x0"):
        residual = prediction_target(x0_hat, noise_hat, abar, prediction) - prediction_target(
            x0, noise, abar, prediction
        )
        weighted = snr_weight(SNR, prediction, weighting, gamma=5.0) * mean_square(residual)
        torch.testing.assert_close(weighted, w * x0_error)


def test_min_snr_and_none_weights_explicitly():
    torch.testing.assert_close(snr_weight(SNR, "eps", "min_snr", 5.0), torch.minimum(SNR, torch.tensor(5.0)) / SNR)
    torch.testing.assert_close(snr_weight(SNR, "v", "min_snr", 5.0), torch.minimum(SNR, torch.tensor(5.0)) / (SNR + 1))
    torch.testing.assert_close(snr_weight(SNR, "x0", "min_snr", 1.0), SNR.clamp(max=1.0))
    for prediction in ("eps", "v", "x0"):
        torch.testing.assert_close(snr_weight(SNR, prediction, "none"), torch.ones_like(SNR))
    torch.testing.assert_close(snr_weight(SNR, "eps", "snr"), torch.ones_like(SNR))


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
@pytest.mark.parametrize("weighting", ["none", "min_snr"])
def test_diffusion_loss_with_coloured_noise(prediction, weighting):
    schedule = make_schedule("cosine", 100)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(4, 2, 4, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(4, 2, 4, 4, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 10, 50, 99])

    def noise_op(e):
        return 0.5 * e + e.roll(1, dims=-1)

    def model(x_t, t_in):
        assert t_in is t
        return 0.3 * x_t

    losses = diffusion_loss(
        model,
        x0,
        schedule,
        prediction=prediction,
        weighting=weighting,
        gamma=2.0,
        noise_op=noise_op,
        reduction="none",
        t=t,
        eps=eps,
    )
    abar = schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
    n = noise_op(eps)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * n
    target = {"eps": n, "x0": x0, "v": abar.sqrt() * n - (1 - abar).sqrt() * x0}[prediction]
    snr = schedule.snr[t]
    weight = snr_weight(snr, prediction, weighting, 2.0)
    expected = weight * (0.3 * x_t - target).pow(2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(losses, expected)
    mean = diffusion_loss(
        model, x0, schedule, prediction=prediction, weighting=weighting, gamma=2.0, noise_op=noise_op, t=t, eps=eps
    )
    torch.testing.assert_close(mean, expected.mean())


def test_spectral_band_mse_plugs_in_as_residual_loss():
    schedule = make_schedule("linear", 50)
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(3, 1, 8, 8, generator=g)
    eps = torch.randn(3, 1, 8, 8, generator=g)
    t = torch.tensor([3, 20, 49])
    band = functools.partial(spectral_band_mse, kind="bandpass", inner=0.3, outer=1.0, gain=2.0)
    losses = diffusion_loss(
        lambda x, t: torch.zeros_like(x), x0, schedule, residual_loss=band, reduction="none", t=t, eps=eps
    )
    torch.testing.assert_close(losses, band(-eps))
    assert not torch.allclose(losses, mean_square(eps))


def test_diffusion_loss_trains_a_model_and_is_seeded():
    schedule = make_schedule("linear", 100)
    model = torch.nn.Conv2d(1, 1, 3, padding=1)
    x0 = torch.rand(8, 1, 6, 6, generator=torch.Generator().manual_seed(3)) * 2 - 1
    losses = [
        diffusion_loss(
            lambda x, t: model(x),
            x0,
            schedule,
            prediction="v",
            weighting="min_snr",
            generator=torch.Generator().manual_seed(4),
        )
        for _ in range(2)
    ]
    assert losses[0].item() == losses[1].item()
    losses[0].backward()
    assert model.weight.grad is not None and model.weight.grad.abs().sum() > 0


def test_diffusion_loss_draws_timesteps_in_range():
    schedule = make_schedule("linear", 10)
    seen = []

    def model(x, t):
        seen.append(t)
        return torch.zeros_like(x)

    diffusion_loss(model, torch.zeros(512, 1, 2, 2), schedule, generator=torch.Generator().manual_seed(0))
    t = seen[0]
    assert t.dtype == torch.int64 and t.min() == 0 and t.max() == 9


def test_diffusion_loss_rejects_bad_arguments():
    schedule = make_schedule("linear", 10)
    x0 = torch.zeros(2, 1, 2, 2)

    def model(x, t):
        return x

    with pytest.raises(ValueError, match="weighting must be one of"):
        diffusion_loss(model, x0, schedule, weighting="p2")
    with pytest.raises(ValueError, match="gamma must be > 0"):
        diffusion_loss(model, x0, schedule, weighting="min_snr", gamma=0.0)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'none'"):
        diffusion_loss(model, x0, schedule, reduction="sum")
    with pytest.raises(ValueError, match="prediction must be one of"):
        diffusion_loss(model, x0, schedule, prediction="score")
    with pytest.raises(ValueError, match="one value per sample"):
        diffusion_loss(model, x0, schedule, residual_loss=lambda r: r.pow(2).mean())
    with pytest.raises(ValueError, match="zero-terminal-SNR"):
        diffusion_loss(model, x0, make_schedule("linear", 10, zero_terminal_snr=True))
    assert math.isfinite(
        diffusion_loss(model, x0, make_schedule("linear", 10, zero_terminal_snr=True), prediction="v").item()
    )


def test_whitened_loss_is_the_mse_of_the_white_noise():
    """With x_t = α x0 + σ M ε, the whitened residual loss of an ε-prediction error M(ε̂ - ε) is the plain MSE of
    ε̂ - ε, per sample; and diffusion_loss with it equals the MSE against the white ε of the same draw."""
    from specdiff.diffusion import UniformFrequencyNoise
    from specdiff.diffusion.losses import whitened_mean_square

    g = torch.Generator().manual_seed(5)
    op = UniformFrequencyNoise()
    err = torch.randn(4, 2, 8, 6, generator=g, dtype=torch.float64)
    torch.testing.assert_close(whitened_mean_square(op)(op(err)), mean_square(err), rtol=1e-12, atol=0)
    x0 = torch.randn(4, 2, 8, 6, generator=g, dtype=torch.float64)
    eps = torch.randn(4, 2, 8, 6, generator=g, dtype=torch.float64)
    t = torch.tensor([3, 10, 50, 90])
    schedule = make_schedule("cosine", 100)
    model = lambda x, tt: torch.zeros_like(x)  # noqa: E731 - the target alone makes the residual
    loss = diffusion_loss(model, x0, schedule, t=t, eps=eps, noise_op=op, residual_loss=whitened_mean_square(op),
                          reduction="none")
    torch.testing.assert_close(loss, mean_square(eps), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="needs a noise operator with a whiten method"):
        whitened_mean_square(None)


@pytest.mark.parametrize("power", [0.25, 0.5, 1.0])
@pytest.mark.parametrize("shape", [(3, 2, 8, 6), (2, 1, 7, 5)])
def test_partially_whitened_loss_weights_each_frequency_by_m_to_the_minus_2p(power, shape):
    """mean((M⁻ᵖ r)²) is Parseval's sum of |r̂(f)|² / M(f)²ᵖ over the full spectrum (half spectrum, interior
    columns counted twice), and two half whitenings make a whole one."""
    from specdiff.diffusion import UniformFrequencyNoise
    from specdiff.diffusion.losses import whitened_mean_square

    g = torch.Generator().manual_seed(7)
    op = UniformFrequencyNoise()
    r = torch.randn(*shape, generator=g, dtype=torch.float64)
    _, C, H, W = shape
    m = op.weight(H, W, torch.float64)
    multiplicity = torch.full((W // 2 + 1,), 2.0, dtype=torch.float64)
    multiplicity[0] = 1.0
    if W % 2 == 0:
        multiplicity[-1] = 1.0
    power_spectrum = torch.fft.rfft2(r, norm="ortho").abs().square()
    expected = (power_spectrum * multiplicity * m.pow(-2 * power)).sum(dim=(1, 2, 3)) / (C * H * W)
    torch.testing.assert_close(whitened_mean_square(op, power)(r), expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(op.whiten(op.whiten(r, 0.5), 0.5), op.whiten(r), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("power", [0.0, -0.5, 1.5, float("nan"), float("inf")])
def test_whitened_loss_rejects_powers_outside_0_1(power):
    from specdiff.diffusion import UniformFrequencyNoise
    from specdiff.diffusion.losses import whitened_mean_square

    with pytest.raises(ValueError, match=r"power must be a number in \(0, 1\]"):
        whitened_mean_square(UniformFrequencyNoise(), power)


def test_whitened_loss_needs_uniform_corruption_in_a_config():
    from specdiff.config import ConfigError, from_dict

    with pytest.raises(ConfigError, match="loss.spectral = 'whitened': needs diffusion.uniform_corruption: true"):
        from_dict({"loss": {"spectral": "whitened"}})
    assert from_dict({"loss": {"spectral": "whitened"}, "diffusion": {"uniform_corruption": True}}).loss.spectral \
        == "whitened"
    config = from_dict({"loss": {"spectral": "whitened", "power": 0.5}, "diffusion": {"uniform_corruption": True}})
    assert config.loss.power == 0.5
    from specdiff.diffusion import UniformFrequencyNoise
    from specdiff.diffusion.losses import whitened_mean_square
    from specdiff.train.trainer import build_residual_loss

    r = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(build_residual_loss(config)(r), whitened_mean_square(UniformFrequencyNoise(), 0.5)(r))
    assert not torch.allclose(build_residual_loss(config)(r), whitened_mean_square(UniformFrequencyNoise())(r))
    with pytest.raises(ConfigError, match=r"loss.power = 0.5: is only read when loss.spectral is 'whitened'"):
        from_dict({"loss": {"power": 0.5}})
    for bad in (0.0, 1.5):
        with pytest.raises(ConfigError, match=r"loss.power = .*: must be a number in \(0, 1\]"):
            from_dict({"loss": {"spectral": "whitened", "power": bad}, "diffusion": {"uniform_corruption": True}})


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_input_perturbation_perturbs_the_models_input_and_keeps_the_target(prediction):
    """x_t = α x0 + σ (n + γ M ξ) with ξ the generator's next draw, the target that of n (Ning et al. 2023)."""
    schedule = make_schedule("cosine", 100)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    t = torch.tensor([5, 40, 90])
    gamma = 0.25

    def noise_op(e):
        return 0.5 * e + e.roll(1, dims=-1)

    seen = []

    def model(x_t, t_in):
        seen.append(x_t)
        return 0.3 * x_t

    losses = diffusion_loss(model, x0, schedule, prediction=prediction, noise_op=noise_op, reduction="none", t=t,
                            eps=eps, generator=torch.Generator().manual_seed(5), input_perturbation=gamma)
    xi = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    abar = schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
    n = noise_op(eps)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * (n + gamma * noise_op(xi))
    torch.testing.assert_close(seen[0], x_t, rtol=1e-12, atol=1e-12)
    target = {"eps": n, "v": abar.sqrt() * n - (1 - abar).sqrt() * x0}[prediction]
    torch.testing.assert_close(losses, (0.3 * x_t - target).pow(2).mean(dim=(1, 2, 3)), rtol=1e-12, atol=0)


def test_input_perturbation_zero_draws_nothing_and_bad_values_are_refused():
    from specdiff.config import ConfigError, from_dict

    schedule = make_schedule("linear", 50)
    x0 = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    t, eps = torch.tensor([3, 30]), torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    before = g.get_state()
    off = diffusion_loss(lambda x, t: 0.5 * x, x0, schedule, t=t, eps=eps, generator=g, input_perturbation=0.0)
    assert torch.equal(g.get_state(), before)
    assert off.item() == diffusion_loss(lambda x, t: 0.5 * x, x0, schedule, t=t, eps=eps).item()
    on = diffusion_loss(lambda x, t: 0.5 * x, x0, schedule, t=t, eps=eps, generator=g, input_perturbation=0.1)
    assert not torch.equal(g.get_state(), before) and on.item() != off.item()
    for bad in (-0.1, 1.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"input_perturbation must be a number in \[0, 1\]"):
            diffusion_loss(lambda x, t: x, x0, schedule, input_perturbation=bad)
    assert from_dict({"loss": {"input_perturbation": 0.1}}).loss.input_perturbation == 0.1
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ConfigError, match=r"loss.input_perturbation = .*: must be a number in \[0, 1\]"):
            from_dict({"loss": {"input_perturbation": bad}})
