"""Offline feature extractor, FID and KID (torchmetrics) against independent numpy formulas and expected trends."""

import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from evalutil import exact_ring, fft_indices, ring_edges, smooth_images

from specdiff.eval.distribution import extract_features, frechet_distance, kernel_distance, kid_subset_size
from specdiff.eval.features import (
    _OPPONENT,
    INCEPTION_ENV,
    FilterBankExtractor,
    build_feature_extractor,
    torch_fidelity_available,
)


def pattern():
    """A fixed analytic RGB image (no random numbers), 24×40."""
    c = torch.arange(3, dtype=torch.float64)[:, None, None]
    i = torch.arange(24, dtype=torch.float64)[None, :, None]
    j = torch.arange(40, dtype=torch.float64)[None, None, :]
    image = 0.5 * torch.sin(2 * math.pi * (i * (c + 1) / 16 + j / 8)) + 0.2 * torch.cos(2 * math.pi * i * j / 97)
    return (image - 0.1 * c)[None].float()


def fid_numpy(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of two Gaussians fitted to rows of ``a`` and ``b``; the matrix square root goes through
    the symmetric form ``sqrt(Σa)·Σb·sqrt(Σa)`` and ``eigh`` (not torchmetrics' ``eigvals(Σa·Σb)``)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    root_trace = np.sqrt(np.clip(inner, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * root_trace)


def kid_numpy(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD² with k(x, y) = (x·y / D + 1)³ over the whole sets (equal sizes)."""
    d, m = a.shape[1], a.shape[0]
    k_aa, k_bb, k_ab = ((a @ a.T) / d + 1) ** 3, ((b @ b.T) / d + 1) ** 3, ((a @ b.T) / d + 1) ** 3
    off = lambda k: k.sum() - np.trace(k)  # noqa: E731
    return float((off(k_aa) + off(k_bb)) / (m * (m - 1)) - 2 * k_ab.sum() / m**2)


@pytest.fixture(scope="module")
def extractor():
    return FilterBankExtractor()


@pytest.fixture(scope="module")
def reference_set():
    return smooth_images(48, seed=0).float()


def test_offline_extractor_is_pinned_and_rng_free(extractor):
    """The v2 definition is frozen: a change to these numbers must come with a new extractor version."""
    torch.manual_seed(123)
    first = FilterBankExtractor()(pattern())[0].double()
    torch.manual_seed(456)
    torch.testing.assert_close(FilterBankExtractor()(pattern())[0].double(), first, rtol=0, atol=0)
    assert extractor.num_features == first.numel() == 107
    assert extractor.version == 2
    assert first.sum().item() == pytest.approx(-9.958092572167516, abs=1e-4)
    expected = {0: 0.050889741629362106, 17: 0.06524752080440521, 40: 0.0635611042380333, 48: 0.22173109650611877,
                50: 0.18814043700695038, 60: 0.16627800464630127, 75: 0.10944441705942154, 98: 0.07856156677007675,
                99: -0.04831111058592796, 100: -0.3439374566078186, 103: -3.011315107345581,
                106: -5.2186760902404785}
    for index, value in expected.items():
        assert first[index].item() == pytest.approx(value, rel=1e-4, abs=1e-6), index


def test_offline_extractor_spectrum_uses_exact_rings(extractor):
    """The 8 spectrum features are the luminance's full-spectrum ring means with rings from exact fractions (at
    64x64, 18 bins lie exactly on one of the 8 rings' edges; they belong to the ring above)."""
    x = F.interpolate(pattern().double(), size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
    luminance = (x[0] * torch.tensor(_OPPONENT[0], dtype=torch.float64)[:, None, None]).sum(0).numpy()
    power = np.abs(np.fft.fft2(luminance) / 64) ** 2
    edges = ring_edges(8)
    rings = np.array([[min(exact_ring(64, 64, ky, kx, edges), 7) for kx in fft_indices(64)] for ky in fft_indices(64)])
    expected = np.log10(np.array([power[rings == k].mean() for k in range(8)]) + 1e-8)
    got = extractor(pattern())[0, 99:].double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_offline_extractor_grey_equals_replicated_rgb_and_any_size(extractor):
    grey = smooth_images(3, seed=1, channels=1, size=20).float()
    torch.testing.assert_close(extractor(grey), extractor(grey.expand(-1, 3, -1, -1)), rtol=0, atol=0)
    assert extractor(torch.zeros(2, 3, 8, 13)).shape == (2, 107)
    assert extractor(torch.zeros(1, 1, 100, 64)).isfinite().all()
    with pytest.raises(ValueError, match="at least 8x8"):
        extractor(torch.zeros(1, 3, 7, 32))
    with pytest.raises(ValueError, match="C in"):
        extractor(torch.zeros(1, 2, 16, 16))


def test_extract_features_is_batch_independent(extractor, reference_set):
    a = extract_features(reference_set[:10], extractor, batch_size=3)
    b = extract_features(reference_set[:10], extractor, batch_size=64)
    assert a.dtype == torch.float64 and a.shape == (10, 107)
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_fid_matches_numpy_and_is_zero_for_the_same_set(extractor, reference_set):
    ref = extract_features(reference_set, extractor)
    gen = extract_features(smooth_images(40, seed=2, amplitude=0.4).float(), extractor)
    assert frechet_distance(gen, ref) == pytest.approx(fid_numpy(gen.numpy(), ref.numpy()), rel=1e-6)
    assert abs(frechet_distance(ref, ref)) < 1e-6  # round-off of eigvals on a rank-deficient covariance
    assert frechet_distance(gen, ref) > 1e-3


@pytest.mark.parametrize("shift", ["brightness", "noise"])
def test_fid_grows_with_the_size_of_a_distribution_shift(extractor, reference_set, shift):
    ref = extract_features(reference_set, extractor)
    other = smooth_images(48, seed=3).float()
    g = torch.Generator().manual_seed(4)
    noise = torch.randn(other.shape, generator=g)
    values = []
    for size in (0.0, 0.05, 0.1, 0.2, 0.4):
        shifted = other + size if shift == "brightness" else other + size * noise
        values.append(frechet_distance(extract_features(shifted, extractor), ref))
    assert all(a < b for a, b in zip(values[:-1], values[1:], strict=True)), values
    assert values[-1] > 10 * values[0]


def test_kid_matches_numpy_and_vanishes_for_the_same_distribution(extractor, reference_set):
    ref = extract_features(reference_set, extractor)
    gen = extract_features(reference_set + 0.2, extractor)
    # With subset_size = N every subset is a permutation of the whole set, so KID is the full-set estimate.
    mean, std = kernel_distance(gen, ref, subsets=3, subset_size=len(ref))
    assert mean == pytest.approx(kid_numpy(gen.numpy(), ref.numpy()), rel=1e-9)
    assert std < 1e-9 * abs(mean)
    same, _ = kernel_distance(ref, ref, subsets=3, subset_size=len(ref))
    assert same == pytest.approx(kid_numpy(ref.numpy(), ref.numpy()), rel=1e-9)
    assert abs(same) < 0.1 * mean  # the unbiased estimate of identical sets is -O(1/N), not exactly 0
    unrelated = extract_features(smooth_images(48, seed=5).float(), extractor)
    assert abs(kernel_distance(unrelated, ref)[0]) < 0.1 * mean


def test_kid_subsets_are_seeded_and_leave_the_global_rng_alone(extractor, reference_set):
    ref = extract_features(reference_set, extractor)
    gen = extract_features(reference_set[:30] + 0.1, extractor)
    state = torch.get_rng_state()
    a = kernel_distance(gen, ref, subsets=20, subset_size=10, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert kernel_distance(gen, ref, subsets=20, subset_size=10, seed=7) == a
    assert kernel_distance(gen, ref, subsets=20, subset_size=10, seed=8) != a
    assert a[1] > 0


def test_kid_subset_size_adapts_to_small_sets():
    assert kid_subset_size(5000, 3000) == 1000
    assert kid_subset_size(12, 40) == 12
    assert kid_subset_size(2, 2) == 2
    with pytest.raises(ValueError, match="at least 2"):
        kid_subset_size(1, 50)
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(torch.zeros(1, 4, dtype=torch.float64), torch.zeros(5, 4, dtype=torch.float64))


def test_extractor_choice_never_downloads(tmp_path, monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    module, kind, notes = build_feature_extractor()
    assert kind == "offline" and isinstance(module, FilterBankExtractor)
    assert INCEPTION_ENV in notes[0] and "not comparable" in notes[0]

    missing = str(tmp_path / "pt_inception.pth")
    monkeypatch.setenv(INCEPTION_ENV, missing)
    module, kind, notes = build_feature_extractor()
    assert kind == "offline" and missing in notes[0]
    with pytest.raises(FileNotFoundError, match="pt_inception.pth"):
        build_feature_extractor(missing)


@pytest.mark.skipif(torch_fidelity_available(), reason="torch-fidelity is installed")
def test_explicit_inception_weights_without_torch_fidelity_is_an_error(tmp_path):
    weights = tmp_path / "pt_inception.pth"
    weights.write_bytes(b"not used")
    with pytest.raises(ModuleNotFoundError, match="torch-fidelity"):
        build_feature_extractor(str(weights))


@pytest.mark.skipif(not (torch_fidelity_available() and os.path.isfile(os.environ.get(INCEPTION_ENV, ""))),
                    reason=f"needs torch-fidelity and Inception weights at ${INCEPTION_ENV}")
def test_inception_extractor_when_installed(reference_set):
    module, kind, _ = build_feature_extractor()
    assert kind == "inception"
    features = extract_features(reference_set[:4], module)
    assert features.shape == (4, 2048) and features.isfinite().all()
    assert features.std(0).max() > 0
