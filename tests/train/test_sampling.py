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


def test_masf_from_the_api_the_cli_and_configs(run_dir):
    import subprocess
    import sys

    from specdiff.config import from_dict

    zero = sample_run(run_dir, sampler="masf", alpha=0.0, num_samples=3, steps=4, tag="masf0", device="cpu")
    ddpm = sample_run(run_dir, sampler="ddpm", num_samples=3, steps=4, tag="ddpm", device="cpu")
    for name in ("sample_000.png", "sample_002.png"):  # alpha = 0 is ddpm with the same generator
        assert torch.equal(read_image(os.path.join(zero, name)), read_image(os.path.join(ddpm, name)))
    meta = json.loads(open(os.path.join(zero, "metadata.json")).read())
    assert meta["sampler"] == "masf" and meta["sampler_options"] == {"alpha": 0.0}
    proc = subprocess.run([sys.executable, "-m", "specdiff", "sample", "--run-dir", run_dir, "--sampler", "masf",
                           "--alpha", "0.2,0.5,0.9", "--edges", "0.25,0.5", "--num-samples", "2", "--steps", "3",
                           "--tag", "masf-cli", "--device", "cpu"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(open(os.path.join(run_dir, "samples", "masf-cli", "metadata.json")).read())
    assert meta["sampler_options"] == {"alpha": [0.2, 0.5, 0.9], "edges": [0.25, 0.5]}
    config = from_dict({"sampling": {"sampler": "masf", "alpha": [0.1, 0.2, 0.3], "edges": [0.3, 0.6]}})
    assert config.sampling.alpha == (0.1, 0.2, 0.3) and config.sampling.edges == (0.3, 0.6)
    for raw, key, needle in (({"sampler": "ddim", "alpha": 0.5}, "sampling.alpha", "does not take"),
                             ({"sampler": "masf", "alpha": 1.0}, "sampling.alpha", "[0, 1)"),
                             ({"sampler": "masf", "alpha": [0.1, 0.2]}, "sampling.alpha", "one per band"),
                             ({"sampler": "masf", "edges": [0.6, 0.3]}, "sampling.edges", "strictly increasing")):
        with pytest.raises(ConfigError) as info:
            from_dict({"sampling": raw})
        assert info.value.key == key and needle in str(info.value), str(info.value)


def test_sigma_max_from_the_api_and_the_cli(run_dir):
    """sample_run's sigma_max reaches the sampler (the images change, the metadata says it), bad values fail
    before loading, and too many steps for the shortened grid name both settings."""
    import subprocess
    import sys

    full = sample_run(run_dir, num_samples=2, steps=3, seed=3, tag="full", device="cpu")
    short = sample_run(run_dir, num_samples=2, steps=3, seed=3, sigma_max=10.0, tag="short", device="cpu")
    assert json.loads(open(os.path.join(short, "metadata.json")).read())["sigma_max"] == 10.0
    assert json.loads(open(os.path.join(full, "metadata.json")).read())["sigma_max"] is None
    assert not torch.equal(read_image(os.path.join(full, "sample_000.png")),
                           read_image(os.path.join(short, "sample_000.png")))
    with pytest.raises(ConfigError, match="sampling.sigma_max.*must be a number > 0"):
        sample_run(run_dir, sigma_max=-1.0)
    with pytest.raises(ConfigError, match="sampling.sigma_max.*at least the schedule's σ/α at t = 0"):
        sample_run(run_dir, sigma_max=1e-6)
    with pytest.raises(ConfigError, match=r"sampling.steps.*within sampling.sigma_max = 0.1"):
        sample_run(run_dir, sigma_max=0.1, steps=1000)
    proc = subprocess.run([sys.executable, "-m", "specdiff", "sample", "--run-dir", run_dir, "--sigma-max", "10",
                           "--num-samples", "2", "--steps", "3", "--seed", "3", "--tag", "cli", "--device", "cpu"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert torch.equal(read_image(os.path.join(run_dir, "samples", "cli", "sample_001.png")),
                       read_image(os.path.join(short, "sample_001.png")))
