"""specdiff diagnose: the per-band denoising error and gain against exact values for oracle and null models, the
trajectory record, and the run-level command writing its tables and figures."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from specdiff.diffusion import UniformFrequencyNoise, make_schedule
from specdiff.errors import InvalidValue
from specdiff.eval.diagnose import band_denoising_error, filter_locality, trajectory_bands
from specdiff.eval.spectral import BANDS, band_energy


def images(n=6, c=2, h=8, w=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, c, h, w, generator=gen, dtype=torch.float64) * 2 - 1).cumsum(-1).clamp(-1, 1)


@pytest.mark.parametrize("noise_op", [None, UniformFrequencyNoise()])
def test_a_null_eps_model_errs_by_exactly_the_scaled_noise_per_band(noise_op):
    """ε̂ = 0 gives x0̂ = x_t / α, so x0̂ - x0 = (σ/α)·n with n the (coloured) noise of the seeded draw."""
    x0 = images()
    schedule = make_schedule("cosine", 100)
    rows = band_denoising_error(lambda x, t: torch.zeros_like(x), schedule, x0, [5, 50, 90], noise_op=noise_op, seed=3)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3), dtype=x0.dtype)
    noise = eps if noise_op is None else noise_op(eps)
    for row in rows:
        abar = row["alpha_cumprod"]
        assert abar == pytest.approx(float(schedule.alphas_cumprod[row["t"]]), rel=1e-15)
        expected = {b: float(e.mean()) * (1 - abar) / abar for b, e in band_energy(noise).items()}
        for b in BANDS:
            assert row[f"error_{b}"] == pytest.approx(expected[b], rel=1e-9)
        assert row["error_total"] == pytest.approx(sum(row[f"error_{b}"] for b in BANDS), rel=1e-12)


def test_an_oracle_has_no_error_and_a_gain_of_zero_db():
    x0 = images()
    schedule = make_schedule("linear", 50)
    rows = band_denoising_error(lambda x, t: x0, schedule, x0, [0, 10, 49], prediction="x0")
    for row in rows:
        assert row["error_total"] == 0.0
        assert all(abs(row[f"gain_db_{b}"]) < 1e-9 for b in BANDS)


def test_a_shrinking_model_has_the_gain_of_its_factor():
    x0 = images()
    rows = band_denoising_error(lambda x, t: 0.5 * x0, make_schedule("cosine", 20), x0, [3], prediction="x0")
    for b in BANDS:  # (0.5)² of the energy in every band: -6.02 dB (1e-10 is added to both powers before the log)
        assert rows[0][f"gain_db_{b}"] == pytest.approx(20 * math.log10(0.5), abs=1e-7)


def test_bad_timesteps_and_images_raise_clearly():
    schedule = make_schedule("cosine", 20)
    with pytest.raises(ValueError, match=r"timesteps must lie in \[0, 19\], got 20"):
        band_denoising_error(lambda x, t: x, schedule, images(), [20])
    with pytest.raises(ValueError, match="non-empty Tensor"):
        band_denoising_error(lambda x, t: x, schedule, images()[:0], [3])


def test_trajectory_records_every_step_with_the_x0_predictions_power():
    """A model predicting the reference images themselves (x0-parameterised): its predictions carry exactly the
    data's band energy (0 dB) at every visited timestep, which the sampler visits strictly decreasing."""
    ref = images(n=4, c=1)
    schedule = make_schedule("cosine", 100)
    x_T = torch.randn(ref.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rows = trajectory_bands(lambda x, t: ref, schedule, x_T, ref, sampler="ddim", steps=7, prediction="x0",
                            clip_x0=None)
    assert [r["i"] for r in rows] == list(range(7))
    assert all(a["t"] > b["t"] for a, b in zip(rows, rows[1:], strict=False))
    for row in rows:
        assert all(abs(row[f"x0_db_{b}"]) < 1e-9 for b in BANDS)
        assert all(math.isfinite(row[f"xt_db_{b}"]) for b in BANDS)


def test_diagnose_command_writes_tables_and_figures(tmp_path):
    from specdiff.config import load_config
    from specdiff.train import train

    root = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "smoke")
    run = train(load_config(os.path.join(root, "spectral_unet.yaml"), ["training.steps=2"]),
                output_dir=str(tmp_path), run_id="d", progress=False)
    out = tmp_path / "diag"
    proc = subprocess.run([sys.executable, "-m", "specdiff", "diagnose", "--run-dir", run.run_dir, "--name", "su",
                           "--timesteps", "5,50", "--num-images", "8", "--num-samples", "4", "--steps", "3",
                           "--output-dir", str(out), "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "diagnose.json").read_text())["runs"]["su"]
    assert [r["t"] for r in result["denoising"]] == [5, 50] and len(result["trajectory"]) == 3
    assert result["model"] == "spectral_unet" and result["num_images"] == 8
    text = (out / "diagnose.md").read_text()
    assert "## su" in text and "error low" in text and "Global filters: " in text
    assert result["filters"]["radius"] == 1 and result["filters"]["share"] == pytest.approx(1.0, abs=0.1)
    for stem in ("denoising_error", "trajectory"):
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").stat().st_size > 0


def test_filter_locality_is_the_share_of_kernel_energy_near_the_origin():
    from specdiff.nn.global_filter import GlobalFilter, _kernel_to_response

    fresh = GlobalFilter(3, (8, 10)).double()  # starts as 3x3 kernels
    assert filter_locality(fresh)["share"] == pytest.approx(1.0, abs=1e-12)
    # Channel 0: taps 1 at the origin and 2 three rows away (wrapping, offset -3); channel 1: a tap 1 at (1, -1).
    # Energies 1 + 4 and 1: within the 3x3 neighbourhood 1 + 1 of 6, within distance 3 all of it.
    kernel = torch.zeros(2, 7, 7, dtype=torch.float64)
    kernel[0, 3, 3], kernel[0, 0, 3], kernel[1, 4, 2] = 1.0, 2.0, 1.0
    known = GlobalFilter(2, (8, 10)).double()
    with torch.no_grad():
        known.weight.copy_(torch.view_as_real(_kernel_to_response(kernel, 8, 10)))
    result = filter_locality(known)
    assert result["share"] == pytest.approx(2 / 6, abs=1e-12)
    assert [f["share"] for f in result["filters"]] == pytest.approx([2 / 6], abs=1e-12)
    assert result["filters"][0]["channels"] == 2 and result["filters"][0]["size"] == [8, 10]
    assert filter_locality(known, radius=3)["share"] == pytest.approx(1.0, abs=1e-12)
    assert filter_locality(known, radius=0)["share"] == pytest.approx(1 / 6, abs=1e-12)


def test_filter_locality_covers_the_bases_of_spectral_convolutions():
    """A SpectralConv's nine bases start as the 3x3 shifts: all their energy within radius 1, a ninth (the centre
    shift's) at the origin; a basis moved to offset (-4, 0) on the padded 12x12 grid counts from radius 4."""
    from specdiff.nn.spectral_conv import SpectralConv, shift_bases

    layer = SpectralConv(2, 3, (8, 8), padding=4).double()
    with torch.no_grad():  # the shifts in float64 (the parameter starts in float32)
        layer.basis.copy_(torch.view_as_real(shift_bases(12, 12)))
    result = filter_locality(layer)
    assert result["share"] == pytest.approx(1.0, abs=1e-12)
    assert result["filters"][0]["channels"] == 9 and result["filters"][0]["size"] == [12, 12]
    assert filter_locality(layer, radius=0)["share"] == pytest.approx(1 / 9, abs=1e-12)
    kernels = torch.fft.irfft2(torch.view_as_complex(layer.basis.detach()), s=(12, 12))
    kernels[0] = 0.0
    kernels[0, -4, 0] = 1.0
    with torch.no_grad():
        layer.basis.copy_(torch.view_as_real(torch.fft.rfft2(kernels)))
    assert filter_locality(layer)["share"] == pytest.approx(8 / 9, abs=1e-12)
    assert filter_locality(layer, radius=4)["share"] == pytest.approx(1.0, abs=1e-12)


def test_filter_locality_of_a_padded_filter_is_measured_on_its_padded_grid():
    """With padding 4 the 8x10 filter's kernels live on a 12x14 grid: a tap at offset -5 rows is 5 away there
    (on the unpadded grid it would wrap to 3), so it counts only from radius 5."""
    from specdiff.nn.global_filter import GlobalFilter, _kernel_to_response

    kernel = torch.zeros(1, 11, 11, dtype=torch.float64)
    kernel[0, 5, 5], kernel[0, 0, 5] = 1.0, 1.0
    padded = GlobalFilter(1, (8, 10), padding=4).double()
    with torch.no_grad():
        padded.weight.copy_(torch.view_as_real(_kernel_to_response(kernel, 12, 14)))
    result = filter_locality(padded, radius=4)
    assert result["filters"][0]["size"] == [12, 14]
    assert result["share"] == pytest.approx(0.5, abs=1e-12)
    assert filter_locality(padded, radius=5)["share"] == pytest.approx(1.0, abs=1e-12)


def test_filter_locality_covers_every_global_filter_and_only_those():
    from specdiff.nn import build_model
    from specdiff.nn.global_filter import GlobalFilter

    model = build_model("spectral_unet", in_channels=1, base_channels=4, channel_mults=(1, 2), time_embed_dim=8,
                        image_size=8, mixer="global", filters_per_channel=2)
    names = {n for n, m in model.named_modules() if isinstance(m, GlobalFilter)}
    result = filter_locality(model)
    assert {f["name"] for f in result["filters"]} == names and result["share"] == pytest.approx(1.0, abs=1e-6)
    spatial = build_model("spectral_unet", in_channels=1, base_channels=4, channel_mults=(1, 2), time_embed_dim=8,
                          image_size=8, mixer="spatial")
    assert filter_locality(spatial) == {"radius": 1, "share": None, "filters": []}
    from specdiff.nn.spectral_conv import SpectralConv

    basis = build_model("spectral_unet", in_channels=1, base_channels=4, channel_mults=(1, 2), time_embed_dim=8,
                        image_size=8)  # the default layers: every SpectralConv's bases, nothing else
    layers = {n for n, m in basis.named_modules() if isinstance(m, SpectralConv)}
    assert {f["name"] for f in filter_locality(basis)["filters"]} == layers and len(layers) > 10
    assert filter_locality(build_model("tiny_unet", in_channels=1, base_channels=4, channel_mults=(1, 2),
                                       time_embed_dim=8))["filters"] == []
    for bad in (-1, 1.5, True):
        with pytest.raises(InvalidValue, match="radius must be an int >= 0"):
            filter_locality(model, radius=bad)
