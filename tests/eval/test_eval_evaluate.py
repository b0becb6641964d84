"""evaluate() end to end on PNG folders: metric values against direct computations, pairing, errors,
metrics.json / metadata.json writing, reference datasets and LPIPS availability."""

import json
import math
import os
import sys
import types

import numpy as np
import pytest
import torch
from evalutil import quantized, smooth_images, write_folder

import specdiff.data
from specdiff.eval import DEFAULT_METRICS, METRICS, evaluate, perceptual, update_metadata, write_metrics
from specdiff.eval.features import INCEPTION_ENV
from specdiff.eval.paired import ssim
from specdiff.eval.perceptual import lpips_unavailable_reason


@pytest.fixture(autouse=True)
def no_inception(monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Paired folders of 8-bit-exact images: reference and a perturbed copy, same file names."""
    root = tmp_path_factory.mktemp("pair")
    ref = quantized((6, 3, 16, 16), seed=1, low=-0.8, high=0.8)
    gen = (ref + quantized((6, 3, 16, 16), seed=2, low=-0.1, high=0.1)).clamp(-1, 1)
    gen = ((gen + 1) * 127.5).round() / 127.5 - 1
    return ref, gen, write_folder(root / "ref", ref), write_folder(root / "gen", gen)


def test_paired_metrics_match_direct_computation(pair):
    ref, gen, ref_dir, gen_dir = pair
    result = evaluate(gen_dir, ref_dir)
    m = result["metrics"]
    assert result["paired"] and result["num_generated"] == result["num_reference"] == 6
    assert result["image_size"] == [16, 16] and result["channels"] == 3
    diff = (gen - ref).numpy().reshape(6, -1)
    assert m["mse"] == pytest.approx((diff**2).mean(), rel=1e-6)
    assert m["mae"] == pytest.approx(np.abs(diff).mean(), rel=1e-6)
    assert m["psnr"] == pytest.approx(np.mean(10 * np.log10(4 / (diff**2).mean(1))), rel=1e-6)
    assert m["ssim"] == pytest.approx(ssim(gen, ref).mean().item(), abs=1e-6)
    assert 0.9 < m["ssim"] < 1
    assert m["band_error_low"] + m["band_error_mid"] + m["band_error_high"] == pytest.approx(m["mse"], rel=1e-9)
    assert set(m) >= {"fid_offline", "kid_offline", "kid_offline_std", "spectral_distance_db",
                      "band_power_db_low", "band_power_db_mid", "band_power_db_high", "lpips"}
    assert "fid" not in m and "fid_inception" not in m
    assert result["feature_extractor"]["name"] == "specdiff-filterbank" and result["feature_extractor"]["version"] == 2
    assert result["settings"]["kid_subset_size"] == 6


def test_same_folder_gives_identity_values(pair):
    _, _, ref_dir, _ = pair
    m = evaluate(ref_dir, ref_dir, metrics=["mse", "psnr", "ssim", "fid", "spectral_distance", "band_power"])["metrics"]
    assert m["mse"] == 0.0 and m["ssim"] == pytest.approx(1.0, abs=1e-12)
    assert m["psnr"] == pytest.approx(10 * math.log10(4e10))
    assert abs(m["fid_offline"]) < 1e-6 and m["spectral_distance_db"] == 0.0
    assert m["band_power_db_high"] == 0.0
    assert list(m) == ["mse", "psnr", "ssim", "fid_offline", "spectral_distance_db", "band_power_db_low",
                       "band_power_db_mid", "band_power_db_high"]


def test_unpaired_folders_skip_paired_metrics_with_a_note(tmp_path, pair):
    ref, gen, ref_dir, _ = pair
    other = write_folder(tmp_path / "other", gen[:4], names=[f"sample_{i}.png" for i in range(4)])
    result = evaluate(other, ref_dir)
    assert not result["paired"] and result["num_generated"] == 4
    assert all(result["metrics"][k] is None for k in ("mse", "mae", "psnr", "ssim", "lpips", "band_error"))
    assert any("same file names" in n and "0 names in common" in n for n in result["notes"])
    assert result["metrics"]["fid_offline"] > 0
    with pytest.raises(ValueError, match="cannot compute mse.*same file names"):
        evaluate(other, ref_dir, metrics=["mse"])


def test_distribution_metrics_need_two_images(tmp_path, pair):
    _, gen, ref_dir, _ = pair
    one = write_folder(tmp_path / "one", gen[:1])
    result = evaluate(one, ref_dir)
    assert result["metrics"]["fid"] is None and result["metrics"]["kid"] is None
    assert any("at least 2 generated" in n for n in result["notes"])
    with pytest.raises(ValueError, match="at least 2 generated and 2 reference images, got 1 and 6"):
        evaluate(one, ref_dir, metrics="kid")


def test_metric_names_are_validated(pair):
    _, _, ref_dir, gen_dir = pair
    with pytest.raises(ValueError, match="unknown metric 'fidd'; valid metrics: mse, mae"):
        evaluate(gen_dir, ref_dir, metrics=["fidd"])
    assert set(DEFAULT_METRICS) == set(METRICS)
    m = evaluate(gen_dir, ref_dir, metrics="mae, psnr")["metrics"]
    assert list(m) == ["mae", "psnr"]
    with pytest.raises(ValueError, match="exactly one of"):
        evaluate(gen_dir)
    with pytest.raises(ValueError, match="exactly one of"):
        evaluate(gen_dir, ref_dir, reference_dataset="noise")


def test_clear_errors_for_bad_folders(tmp_path, pair):
    _, gen, ref_dir, gen_dir = pair
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"{empty}.*no"):
        evaluate(str(empty), ref_dir)
    with pytest.raises(FileNotFoundError, match="missing"):
        evaluate(str(tmp_path / "missing"), ref_dir)

    broken = write_folder(tmp_path / "broken", gen[:2])
    (tmp_path / "broken" / "002.png").write_bytes(b"definitely not a png")
    with pytest.raises(ValueError, match="cannot read image .*002.png"):
        evaluate(broken, ref_dir)

    mixed = write_folder(tmp_path / "mixed", gen[:2])
    write_folder(tmp_path / "mixed", quantized((1, 3, 12, 16), seed=3), names=["z.png"])
    with pytest.raises(ValueError, match=r"mixes image sizes: .*000.png' is 16x16 but .*z.png' is 12x16"):
        evaluate(mixed, ref_dir)

    small = write_folder(tmp_path / "small", quantized((2, 3, 12, 12), seed=4))
    with pytest.raises(ValueError, match=r"generated images \('000.png' in .*small'\) are 12x12 but ref.* 16x16"):
        evaluate(small, ref_dir)

    grey = write_folder(tmp_path / "grey", quantized((2, 1, 16, 16), seed=5))
    with pytest.raises(ValueError, match="channel mismatch: .* 1 channel.* have 3"):
        evaluate(grey, ref_dir)
    assert evaluate(grey, ref_dir, channels=1, metrics=["fid"])["channels"] == 1


def test_image_size_resizes_everything(tmp_path, pair):
    _, _, ref_dir, _ = pair
    mixed = write_folder(tmp_path / "mixed", smooth_images(2, seed=6, size=32))
    write_folder(tmp_path / "mixed", smooth_images(1, seed=7, size=24), names=["z.png"])
    result = evaluate(mixed, ref_dir, image_size=16, metrics=["fid", "spectral_distance"])
    assert result["image_size"] == [16, 16] and result["num_generated"] == 3
    assert result["metrics"]["spectral_distance_db"] > 0


def test_ssim_skipped_for_tiny_images(tmp_path):
    a = write_folder(tmp_path / "a", quantized((3, 1, 8, 8), seed=8))
    b = write_folder(tmp_path / "b", quantized((3, 1, 8, 8), seed=9))
    result = evaluate(a, b)
    assert result["metrics"]["ssim"] is None and result["metrics"]["mse"] > 0
    assert any("SSIM needs images of at least 11x11" in n for n in result["notes"])


def test_write_metrics_and_update_metadata(tmp_path, pair):
    _, _, ref_dir, gen_dir = pair
    result = evaluate(gen_dir, ref_dir, metrics=["mse", "psnr"])
    result["metrics"]["weird"] = float("inf")
    path = write_metrics(result, tmp_path / "out" / "metrics.json")
    text = open(path).read()
    loaded = json.loads(text)
    assert "Infinity" not in text and loaded["metrics"]["weird"] is None
    assert loaded["metrics"]["mse"] == result["metrics"]["mse"] and loaded["notes"] == result["notes"]
    assert os.listdir(tmp_path / "out") == ["metrics.json"]

    with pytest.raises(FileNotFoundError, match="metadata.json"):
        update_metadata(tmp_path, result)
    (tmp_path / "metadata.json").write_text(json.dumps({"sampler": "ddim", "steps": 50}))
    update_metadata(tmp_path, loaded)
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["sampler"] == "ddim" and metadata["steps"] == 50
    assert metadata["evaluation"]["metrics"]["psnr"] == loaded["metrics"]["psnr"]
    (tmp_path / "metadata.json").write_text("[1, 2")
    with pytest.raises(ValueError, match="not valid JSON"):
        update_metadata(tmp_path, loaded)


def test_reference_dataset(monkeypatch, tmp_path):
    images = quantized((10, 3, 16, 16), seed=10, low=-0.6, high=0.6).float()
    calls = []

    class Items(torch.utils.data.Dataset):
        def __init__(self, length):
            self.length = length

        def __len__(self):
            return min(self.length, len(images))

        def __getitem__(self, i):
            return images[i]

    def build_dataset(name, **kwargs):
        calls.append((name, kwargs))
        return Items(kwargs["length"])

    monkeypatch.setattr(specdiff.data, "build_dataset", build_dataset, raising=False)
    gen_dir = write_folder(tmp_path / "gen", images[:6])
    result = evaluate(gen_dir, reference_dataset="texture", seed=3)
    assert calls == [("texture", {"split": "test", "image_size": 16, "channels": 3, "seed": 3, "length": 6})]
    assert not result["paired"] and result["reference_dataset"] == "texture" and result["reference"] is None
    assert result["num_reference"] == 6 and result["metrics"]["mse"] is None
    assert abs(result["metrics"]["fid_offline"]) < 1e-6 and result["metrics"]["spectral_distance_db"] < 1e-5
    assert evaluate(gen_dir, reference_dataset="texture", num_reference=50, metrics=["fid"])["num_reference"] == 10
    with pytest.raises(ValueError, match="cannot compute psnr.*reference dataset"):
        evaluate(gen_dir, reference_dataset="texture", metrics=["psnr"])


@pytest.mark.skipif(lpips_unavailable_reason() is None, reason="LPIPS works offline here")
def test_lpips_is_null_with_a_note_when_unavailable(pair):
    _, _, ref_dir, gen_dir = pair
    result = evaluate(gen_dir, ref_dir, metrics=["lpips"])
    assert result["metrics"] == {"lpips": None}
    assert result["notes"] == [f"lpips: null because {lpips_unavailable_reason()}"]


def test_lpips_runs_through_the_lpips_package_when_its_weights_are_local(monkeypatch, tmp_path, pair):
    """A stand-in ``lpips`` module (mean |x - y| per pair) checks the plumbing: availability checks on the two
    weight files, [-1, 1] inputs, grey -> RGB, batching and the mean over images."""
    package = tmp_path / "lpips"
    (package / "weights" / "v0.1").mkdir(parents=True)
    (package / "weights" / "v0.1" / "alex.pth").write_bytes(b"")
    fake = types.ModuleType("lpips")
    fake.__file__ = str(package / "__init__.py")
    seen = []

    class LPIPS(torch.nn.Module):
        def __init__(self, net, verbose):
            super().__init__()
            assert net == "alex"

        def forward(self, a, b):
            seen.append((a.shape, float(a.min()), float(a.max())))
            return (a - b).abs().mean(dim=(1, 2, 3)).view(-1, 1, 1, 1)

    fake.LPIPS = LPIPS
    monkeypatch.setitem(sys.modules, "lpips", fake)
    monkeypatch.setattr(perceptual, "_installed", lambda name: name in ("lpips", "torchvision"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert "not cached" in lpips_unavailable_reason()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth").write_bytes(b"")
    assert lpips_unavailable_reason() is None

    grey_ref = quantized((5, 1, 16, 16), seed=11)
    grey_gen = quantized((5, 1, 16, 16), seed=12)
    a = write_folder(tmp_path / "a", grey_gen)
    b = write_folder(tmp_path / "b", grey_ref)
    result = evaluate(a, b, metrics=["lpips", "mae"], batch_size=2)
    assert result["metrics"]["lpips"] == pytest.approx(result["metrics"]["mae"], rel=1e-6)
    assert [s[0] for s in seen] == [(2, 3, 16, 16), (2, 3, 16, 16), (1, 3, 16, 16)]
    assert min(s[1] for s in seen) < -0.9 and max(s[2] for s in seen) > 0.9


def test_real_reference_dataset(tmp_path):
    """Against specdiff.data itself: samples that *are* the random_field test items score far better than
    samples of the unrelated noise family."""
    data = pytest.importorskip("specdiff.data")
    if not hasattr(data, "build_dataset"):
        pytest.skip("specdiff.data.build_dataset is not available")
    same = data.build_dataset("random_field", split="test", image_size=16, channels=1, seed=0, length=12)
    other = data.build_dataset("noise", split="test", image_size=16, channels=1, seed=0, length=12)
    same_dir = write_folder(tmp_path / "same", torch.stack([same[i] for i in range(12)]))
    other_dir = write_folder(tmp_path / "other", torch.stack([other[i] for i in range(12)]))
    metrics = ["fid", "spectral_distance"]
    good = evaluate(same_dir, reference_dataset="random_field", metrics=metrics)
    bad = evaluate(other_dir, reference_dataset="random_field", metrics=metrics)
    assert good["num_reference"] == 12 and good["channels"] == 1
    assert good["metrics"]["spectral_distance_db"] < 0.5 < bad["metrics"]["spectral_distance_db"]
    assert good["metrics"]["fid_offline"] < 0.01 * bad["metrics"]["fid_offline"]


def test_reference_dataset_options_reach_the_dataset(tmp_path):
    from specdiff.data import build_dataset
    from specdiff.data.images import save_image
    from specdiff.eval import evaluate

    steep = build_dataset("random_field", split="test", image_size=16, channels=1, alpha=3.0)
    folder = tmp_path / "gen"
    folder.mkdir()
    for i in range(16):
        save_image(steep[i], folder / f"{i:02d}.png")
    kwargs = dict(reference_dataset="random_field", metrics=["spectral_distance"], num_reference=16)
    same = evaluate(str(folder), reference_options={"alpha": 3.0}, **kwargs)
    other = evaluate(str(folder), **kwargs)  # default alpha 2.0
    assert same["reference_options"] == {"alpha": 3.0}
    assert same["metrics"]["spectral_distance_db"] < 0.5 * other["metrics"]["spectral_distance_db"]
    with pytest.raises(ValueError, match="alpah"):
        evaluate(str(folder), reference_options={"alpah": 3.0}, **kwargs)


@pytest.mark.parametrize("name", ["../outside.png", "/abs/000.png", "sub/000.png", "..", ""])
def test_metadata_lists_only_plain_file_names_inside_the_folder(tmp_path, pair, name):
    _, gen, ref_dir, _ = pair
    samples = write_folder(tmp_path / "samples", gen[:2])
    write_folder(tmp_path, gen[:1], names=["outside.png"])  # would be read if the listed path were followed
    (tmp_path / "samples" / "metadata.json").write_text(json.dumps({"files": ["000.png", name]}))
    with pytest.raises(ValueError, match=f"metadata.json lists {name!r}; only plain file names inside the folder"):
        evaluate(samples, ref_dir)


def test_metadata_path_error_is_one_line_from_the_cli(tmp_path, pair, capsys):
    from specdiff.cli import main

    _, gen, ref_dir, _ = pair
    samples = write_folder(tmp_path / "samples", gen[:2])
    (tmp_path / "samples" / "metadata.json").write_text(json.dumps({"files": ["../../etc/passwd"]}))
    assert main(["evaluate", "--generated", samples, "--reference", ref_dir]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "only plain file names inside the folder" in err
