"""MSE / MAE / PSNR / SSIM against independent computations and exact identities."""

import math

import numpy as np
import pytest
import torch
from evalutil import quantized

from specdiff.eval.paired import SSIM_WINDOW, mae, mse, psnr, psnr_cap, ssim


def ssim_loop(x: np.ndarray, y: np.ndarray, size=11, sigma=1.5, data_range=2.0) -> float:
    """Wang et al. SSIM written as explicit weighted sums over every valid 11×11 window (centered moments),
    independently of torchmetrics. ``x, y``: ``[C, H, W]``."""
    k = np.arange(size) - (size - 1) / 2
    g = np.exp(-(k**2) / (2 * sigma**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - size + 1):
            for j in range(x.shape[2] - size + 1):
                a, b = x[c, i:i + size, j:j + size], y[c, i:i + size, j:j + size]
                mu_a, mu_b = (window * a).sum(), (window * b).sum()
                var_a = (window * (a - mu_a) ** 2).sum()
                var_b = (window * (b - mu_b) ** 2).sum()
                cov = (window * (a - mu_a) * (b - mu_b)).sum()
                num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
                values.append(num / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
    return float(np.mean(values))


def test_ssim_matches_explicit_window_sums():
    x = quantized((2, 3, 14, 13), seed=1)
    y = (x + 0.3 * quantized((2, 3, 14, 13), seed=2)).clamp(-1, 1)
    got = ssim(x, y)
    expected = [ssim_loop(x[i].numpy(), y[i].numpy()) for i in range(2)]
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-10, atol=1e-12)
    assert 0.05 < got.min() < got.max() < 0.95


def test_ssim_matches_scikit_image_per_image():
    metrics = pytest.importorskip("skimage.metrics")
    x = quantized((2, 3, 24, 20), seed=3).float()
    y = (0.7 * x + 0.2 * quantized((2, 3, 24, 20), seed=4).float()).clamp(-1, 1)
    y[1] = quantized((3, 24, 20), seed=10).float()  # a second, unrelated pair: values are per image
    expected = [
        metrics.structural_similarity(
            x[i].double().numpy(), y[i].double().numpy(), gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, data_range=2.0, channel_axis=0)
        for i in range(2)
    ]
    got = ssim(x, y)
    assert got.dtype == torch.float64 and got.shape == (2,)
    assert got.tolist() == pytest.approx(expected, rel=1e-9)
    assert abs(expected[0] - expected[1]) > 0.3


def test_ssim_identities():
    x = quantized((3, 1, 16, 16), seed=5)
    torch.testing.assert_close(ssim(x, x), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)
    y = quantized((3, 1, 16, 16), seed=6)
    torch.testing.assert_close(ssim(x, y), ssim(y, x), rtol=1e-12, atol=0)
    # Constant images: every σ is 0, so SSIM = (2·a·b + C1) / (a² + b² + C1) with C1 = (0.01·2)².
    a, b = 0.5, -0.25
    c1 = 0.02**2
    got = ssim(torch.full((1, 3, 12, 12), a), torch.full((1, 3, 12, 12), b))
    assert got.item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-6)


def test_ssim_rejects_images_smaller_than_the_window():
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.zeros(1, 1, 10, 20), torch.zeros(1, 1, 10, 20))


def test_ssim_window_is_11():
    # 2·⌊3.5σ + 0.5⌋ + 1 with σ = 1.5: the 11×11 window of Wang et al. (2004).
    assert SSIM_WINDOW == 11


def test_mse_mae_psnr_against_numpy():
    x, y = quantized((4, 3, 9, 7), seed=7), quantized((4, 3, 9, 7), seed=8)
    diff = (x - y).numpy().reshape(4, -1)
    torch.testing.assert_close(mse(x, y), torch.from_numpy((diff**2).mean(1)), rtol=1e-12, atol=0)
    torch.testing.assert_close(mae(x, y), torch.from_numpy(np.abs(diff).mean(1)), rtol=1e-12, atol=0)
    torch.testing.assert_close(psnr(x, y), torch.from_numpy(10 * np.log10(4.0 / (diff**2).mean(1))), rtol=1e-12, atol=0)


def test_psnr_of_a_known_constant_error_and_identical_images():
    x = quantized((2, 3, 8, 8), seed=9, low=-0.8, high=0.8)
    # |error| = 0.1 everywhere: MSE = 0.01 and PSNR = 10·log10(2² / 0.01) = 26.0206 dB (data range 2).
    assert psnr(x, x + 0.1).tolist() == pytest.approx([10 * math.log10(400)] * 2, rel=1e-9)
    assert psnr(x, x).tolist() == [psnr_cap()] * 2
    assert psnr_cap() == pytest.approx(10 * math.log10(4e10))


def test_psnr_is_per_image():
    x = torch.zeros(2, 1, 4, 4)
    y = torch.cat([torch.full((1, 1, 4, 4), 0.1), torch.full((1, 1, 4, 4), 0.4)])
    per_image = psnr(x, y)
    assert per_image.tolist() == pytest.approx([10 * math.log10(4 / 0.01), 10 * math.log10(4 / 0.16)])
    pooled = 10 * math.log10(4 / ((0.01 + 0.16) / 2))
    assert per_image.mean().item() != pytest.approx(pooled, abs=0.1)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="one shape"):
        mse(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
