"""specdiff sample: PNGs, grid and metadata from a run's checkpoint; options checked before any work."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import torch
from trainutil import smoke

from specdiff.config import ConfigError, load_config
from specdiff.data.images import list_images, read_image
from specdiff.train import load_model, sample_run, train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("results")
    return train(load_config(smoke("tiny_unet")), output_dir=str(out), run_id="s", progress=False).run_dir


def test_samples_grid_and_metadata(run_dir):
    out = sample_run(run_dir, num_samples=5, batch_size=2, steps=3, seed=7, device="cpu")
    assert os.path.basename(out) == "ddim-3steps-ema-seed7-step6"
    files = [os.path.basename(p) for p in list_images(out)]
    assert files == ["grid.png"] + [f"sample_{i:03d}.png" for i in range(5)]
    assert read_image(os.path.join(out, "sample_000.png")).shape == (1, 16, 16)
    meta = json.loads(open(os.path.join(out, "metadata.json")).read())
    ckpt = os.path.join(run_dir, "checkpoints", "step_6.pt")
    assert meta["checkpoint"] == os.path.abspath(ckpt)
    assert meta["checkpoint_sha256"] == hashlib.sha256(open(ckpt, "rb").read()).hexdigest()
    assert meta["checkpoint_step"] == 6 and meta["weights"] == "ema"
    assert (meta["sampler"], meta["steps"], meta["num_samples"], meta["seed"]) == ("ddim", 3, 5, 7)
    assert meta["files"] == [f"sample_{i:03d}.png" for i in range(5)]


def test_same_seed_same_images_and_batching_does_not_matter(run_dir):
    a = sample_run(run_dir, num_samples=3, batch_size=3, steps=2, seed=1, tag="a", device="cpu")
    b = sample_run(run_dir, num_samples=3, batch_size=3, steps=2, seed=1, tag="b", device="cpu")
    c = sample_run(run_dir, num_samples=3, batch_size=3, steps=2, seed=2, tag="c", device="cpu")
    read = lambda d: torch.stack([read_image(p) for p in list_images(d) if "sample_" in p])  # noqa: E731
    assert torch.equal(read(a), read(b))
    assert not torch.equal(read(a), read(c))


def test_ema_and_raw_weights_differ(run_dir):
    _, ema, _, _ = load_model(run_dir, ema=True)
    _, raw, _, step = load_model(run_dir, "3", ema=False)
    assert step == 3
    assert any(not torch.equal(p, q) for p, q in zip(ema.parameters(), raw.parameters(), strict=True))


def test_bad_sampler_and_options_fail_before_loading(run_dir):
    with pytest.raises(ConfigError, match="sampling.sampler.*must be one of"):
        sample_run(run_dir, sampler="euler")
    with pytest.raises(ConfigError, match="order.*does not take"):
        sample_run(run_dir, sampler="ddim", order=2)
    with pytest.raises(ConfigError, match="eta"):
        sample_run(run_dir, sampler="dpm_solver++", eta=0.5)
    with pytest.raises(FileNotFoundError, match="no checkpoint for step 4"):
        sample_run(run_dir, checkpoint="4")
    assert not os.path.exists(os.path.join(run_dir, "samples", "euler"))


def test_switching_sampler_drops_the_runs_sampler_options(tmp_path):
    # The spectral smoke config samples with dpm_solver++ order 2; ddim must not inherit `order`.
    run = train(load_config(smoke("spectral_unet"), ["training.steps=1"]), output_dir=str(tmp_path), run_id="x",
                progress=False).run_dir
    out = sample_run(run, sampler="ddim", num_samples=1, steps=2, device="cpu")
    meta = json.loads(open(os.path.join(out, "metadata.json")).read())
    assert meta["sampler"] == "ddim" and meta["order"] is None and meta["uniform_corruption"] is True
