"""Radial power spectrum, spectral distance and per-band metrics against full-spectrum numpy computations,
Parseval identities and pure cosines of known frequency."""

import functools
import math

import numpy as np
import pytest
import torch
from evalutil import exact_ring, fft_indices, quantized, ring_edges

from specdiff.eval.paired import mse
from specdiff.eval.spectral import (
    band_energy,
    band_error,
    band_power_db,
    default_num_bins,
    mean_log_spectrum,
    radial_power_spectrum,
    spectral_distance,
)


def radial_full_numpy(image: np.ndarray, num_bins: int) -> np.ndarray:
    """Mean |FFT|² (orthonormal) per rho ring over the *full* spectrum ``[H, W]`` of one ``[H, W]`` image."""
    h, w = image.shape
    power = np.abs(np.fft.fft2(image) / math.sqrt(h * w)) ** 2
    return np.array([power[full_rings(h, w, num_bins) == k].mean() for k in range(num_bins)])


@functools.lru_cache
def full_rings(h, w, num_bins):
    """The ring of every bin of the *full* spectrum, from exact fractions (a bin on an edge: the ring above)."""
    edges = ring_edges(num_bins)
    return np.array([[min(exact_ring(h, w, ky, kx, edges), num_bins - 1) for kx in fft_indices(w)]
                     for ky in fft_indices(h)])


def cosine(h, w, ky, kx, channels=1):
    """``cos(2π (ky·y/H + kx·x/W))``: all its power at fy = ky/H, fx = kx/W."""
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return torch.cos(2 * math.pi * (ky * y / h + kx * x / w)).expand(1, channels, h, w).clone()


@pytest.mark.parametrize("h, w, bins", [(8, 8, 4), (9, 12, 4), (16, 11, 5), (32, 32, None)])
def test_radial_spectrum_matches_full_spectrum_ring_means(h, w, bins):
    images = quantized((2, 3, h, w), seed=h * w)
    got = radial_power_spectrum(images, bins)
    k = bins or default_num_bins(h, w)
    assert got.shape == (2, 3, k)
    expected = np.stack([[radial_full_numpy(images[b, c].numpy(), k) for c in range(3)] for b in range(2)])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-14)


def test_cosine_power_lands_in_its_ring():
    # fx = 8/32 = 0.25, fy = 0 -> rho = 0.25 / sqrt(0.5) = 0.354 -> ring floor(0.354·16) = 5 of 16.
    spectrum = radial_power_spectrum(cosine(32, 32, 0, 8), 16)[0, 0]
    assert spectrum.argmax().item() == 5
    assert spectrum[torch.arange(16) != 5].abs().max() < 1e-20
    # Parseval: the ring's weighted bin count times its mean power is the image energy 0.5·H·W.
    ring_bins = (full_rings(32, 32, 16) == 5).sum().item()
    assert spectrum[5].item() * ring_bins == pytest.approx(0.5 * 32 * 32, rel=1e-12)


@pytest.mark.parametrize("ky, kx, band", [(0, 4, "low"), (5, 6, "mid"), (16, 16, "high"), (15, 14, "high")])
def test_band_energy_of_a_cosine(ky, kx, band):
    # rho of (ky, kx) / 32: (0, 4) -> 0.177 low; (5, 6) -> 0.345 mid; (16, 16) -> 1.0 and (15, 14) -> 0.906 high.
    image = cosine(32, 32, ky, kx, channels=3)
    energy = band_energy(image)
    total = image.square().mean().item()
    assert energy[band].item() == pytest.approx(total, rel=1e-12)
    assert sum(v.item() for k, v in energy.items() if k != band) == pytest.approx(0.0, abs=1e-20)


@pytest.mark.parametrize("h, w", [(16, 16), (15, 10)])
def test_band_error_sums_to_mse(h, w):
    x, y = quantized((3, 3, h, w), seed=11), quantized((3, 3, h, w), seed=12)
    bands = band_error(x, y)
    total = bands["low"] + bands["mid"] + bands["high"]
    torch.testing.assert_close(total, mse(x, y), rtol=1e-12, atol=0)
    assert all((v > 0).all() for v in bands.values())


def test_band_error_sees_where_the_error_is():
    x = quantized((2, 1, 32, 32), seed=13, low=-0.5, high=0.5)
    bands = band_error(x + 0.1 * cosine(32, 32, 15, 15), x)
    assert bands["high"].tolist() == pytest.approx([0.1**2 / 2] * 2, rel=1e-12)
    assert bands["low"].max() < 1e-25 and bands["mid"].max() < 1e-25


def test_spectral_distance_of_a_scaled_set_is_the_gain_in_db():
    x = quantized((5, 3, 16, 16), seed=14, low=-0.4, high=0.4)
    assert spectral_distance(x, x) == 0.0
    assert spectral_distance(2 * x, x) == pytest.approx(20 * math.log10(2), rel=1e-6)
    assert spectral_distance(0.5 * x, x) == pytest.approx(20 * math.log10(2), rel=1e-6)


def test_spectral_distance_is_independent_of_set_sizes_and_batching():
    x = quantized((7, 3, 12, 12), seed=15)
    y = quantized((4, 3, 12, 12), seed=16, low=-0.5, high=0.5)
    d = spectral_distance(x, y, batch_size=256)
    assert d == pytest.approx(spectral_distance(x, y, batch_size=3), rel=1e-12)
    s_x = (10 * np.log10(np.stack([[radial_full_numpy(i[c].numpy(), 6) for c in range(3)] for i in x]) + 1e-10))
    s_y = (10 * np.log10(np.stack([[radial_full_numpy(i[c].numpy(), 6) for c in range(3)] for i in y]) + 1e-10))
    expected = math.sqrt(((s_x.mean((0, 1)) - s_y.mean((0, 1))) ** 2).mean())
    assert d == pytest.approx(expected, rel=1e-9)
    expected_log = torch.from_numpy(s_x.mean((0, 1)))
    torch.testing.assert_close(mean_log_spectrum(x, batch_size=2), expected_log, rtol=1e-9, atol=0)


def test_band_power_db():
    x = quantized((4, 3, 16, 16), seed=17, low=-0.4, high=0.4)
    for value in band_power_db(2 * x, x).values():
        assert value == pytest.approx(10 * math.log10(4), rel=1e-7)  # 1e-10 added to the energies
    # A Nyquist checkerboard (rho = 1) added to every image raises the high band only.
    noisy = x + 0.2 * cosine(16, 16, 8, 8)
    db = band_power_db(noisy, x, batch_size=3)
    e_high = band_energy(x)["high"].mean().item()
    e_noisy = band_energy(noisy)["high"].mean().item()
    assert db["high"] == pytest.approx(10 * math.log10(e_noisy / e_high), rel=1e-7)
    assert db["high"] > 1.0
    assert db["low"] == pytest.approx(0.0, abs=1e-9) and db["mid"] == pytest.approx(0.0, abs=1e-9)


def test_sets_must_share_image_size():
    with pytest.raises(ValueError, match="differ"):
        spectral_distance(torch.zeros(2, 3, 16, 16), torch.zeros(2, 3, 16, 12))
