"""SpectralAdapter: bands on the true FFT frequencies, every argument read, no host synchronisation."""

import math

import pytest
import torch
from nnutil import RecordOps, needs_kernels, perturb_, use_backend

from specdiff.nn import SpectralAdapter


def cosine(h, w, ky, kx, batch=1, channels=1):
    """cos(2π (ky·y/H + kx·x/W)): one frequency pair ±(ky/H, kx/W) in cycles/pixel."""
    y = torch.arange(h, dtype=torch.float64)[:, None]
    x = torch.arange(w, dtype=torch.float64)[None, :]
    img = torch.cos(2 * math.pi * (ky * y / h + kx * x / w))
    return img.expand(batch, channels, h, w).clone()


def bandpass(rho, inner, outer, gain, temperature):
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    return gain * sig(temperature * (rho - inner)) * (1 - sig(temperature * (rho - outer)))


@pytest.mark.parametrize("h, w, ky, kx", [(15, 12, 2, 3), (16, 16, 5, 1), (9, 20, 4, 7)])
def test_band_is_a_function_of_the_true_fft_frequency(h, w, ky, kx):
    """A pure cosine comes out scaled by W(rho) with rho = |(ky/H, kx/W)| / sqrt(0.5): the FFT bin frequency.
    A mask on a linspace(-1, 1) grid of the half spectrum gives another factor at these sizes."""
    x = cosine(h, w, ky, kx)
    rho = math.hypot(ky / h, kx / w) / math.sqrt(0.5)
    adapter = SpectralAdapter("bandpass", inner=0.2, outer=0.5, temperature=12.0, gain=1.5)
    torch.testing.assert_close(adapter(x), bandpass(rho, 0.2, 0.5, 1.5, 12.0) * x)
    radial = SpectralAdapter("radial", gain=2.0)
    torch.testing.assert_close(radial(x), 2.0 * rho * x)


def test_none_is_the_identity_and_radial_removes_the_mean():
    x = torch.randn(2, 3, 8, 8)
    assert SpectralAdapter("none")(x) is x
    torch.testing.assert_close(SpectralAdapter("radial")(torch.ones(1, 1, 8, 8)), torch.zeros(1, 1, 8, 8),
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "weighting, arg",
    [("none", "inner"), ("none", "gain"), ("none", "cond_dim"), ("radial", "inner"), ("radial", "outer"),
     ("radial", "temperature"), ("radial", "cond_dim"), ("bandpass", "cond_dim")],
)
def test_arguments_the_weighting_does_not_read_are_rejected(weighting, arg):
    with pytest.raises(ValueError, match=f"does not use {arg}"):
        SpectralAdapter(weighting, **{arg: 3})


def test_unknown_weighting_and_bad_temperature_are_rejected():
    with pytest.raises(ValueError, match="weighting must be one of"):
        SpectralAdapter("lowpass")
    with pytest.raises(ValueError, match="temperature"):
        SpectralAdapter("bandpass", temperature=0.0)


@pytest.mark.parametrize(
    "weighting, arg, value",
    [("radial", "gain", 0.5), ("bandpass", "inner", 0.3), ("bandpass", "outer", 0.4),
     ("bandpass", "temperature", 3.0), ("bandpass", "gain", 2.0), ("learnable", "inner", 0.3),
     ("learnable", "outer", 0.4), ("learnable", "temperature", 3.0), ("learnable", "gain", 2.0)],
)
def test_every_band_argument_changes_the_output(weighting, arg, value):
    x = torch.randn(2, 3, 12, 10, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(SpectralAdapter(weighting)(x), SpectralAdapter(weighting, **{arg: value})(x))


def test_learnable_band_gets_gradients():
    adapter = SpectralAdapter("learnable", inner=0.1, outer=0.6)
    x = torch.randn(2, 3, 12, 12)
    adapter(x).square().sum().backward()
    for name in ("inner", "outer", "gain"):
        grad = getattr(adapter, name).grad
        assert grad is not None and grad.abs().item() > 0, name


def test_time_conditioned_band_is_per_sample():
    torch.manual_seed(0)
    adapter = SpectralAdapter("learnable", inner=0.1, outer=0.6, cond_dim=16)
    x = torch.randn(1, 2, 10, 10).expand(3, 2, 10, 10)
    emb = torch.randn(3, 16)
    same = adapter(x, emb)  # the MLP's last layer starts at zero: the unconditioned band for every sample
    torch.testing.assert_close(same, SpectralAdapter("learnable", inner=0.1, outer=0.6)(x))
    perturb_(adapter.cond, scale=0.5)
    out = adapter(x, emb)
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])
    out.square().sum().backward()
    assert adapter.cond[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="pass emb"):
        adapter(x)


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("kwargs", [{"weighting": "none"}, {"weighting": "radial"}, {"weighting": "bandpass"},
                                    {"weighting": "learnable", "cond_dim": 8}])
def test_adapter_never_synchronises_with_the_host(backend, kwargs):
    adapter = perturb_(SpectralAdapter(**kwargs))
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    emb = torch.randn(2, 8)
    with use_backend(backend), RecordOps() as rec:
        adapter(x, emb).square().sum().backward()
    assert rec.host_syncs() == []


@needs_kernels
@pytest.mark.parametrize("kwargs", [{"weighting": "radial", "gain": 0.7}, {"weighting": "bandpass", "inner": 0.2},
                                    {"weighting": "learnable", "cond_dim": 8}])
def test_adapter_kernel_and_reference_agree(kwargs):
    adapter = perturb_(SpectralAdapter(**kwargs))
    x, emb = torch.randn(3, 4, 15, 12), torch.randn(3, 8)
    with use_backend("kernel"), RecordOps() as rec:
        k = adapter(x, emb)
    assert rec.count("specdiff::spectral_band_filter2d") == 1
    with use_backend("reference"):
        r = adapter(x, emb)
    torch.testing.assert_close(k, r, rtol=1e-5, atol=1e-5)
