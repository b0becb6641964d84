"""training.tensorboard: event files whose scalars are train.jsonl's, sample grids of the EMA weights, a resume that
leaves every step once, and the errors (missing package, inert keys)."""

from __future__ import annotations

import io
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image
from trainutil import smoke, train_interrupted_at

from specdiff.config import ConfigError, load_config
from specdiff.train import sample_run, train

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

TB = ["training.tensorboard=true", "training.tensorboard_samples_every=3"]


def jsonl(run_dir):
    with open(os.path.join(run_dir, "logs", "train.jsonl")) as f:
        return [json.loads(line) for line in f]


def events(run_dir) -> EventAccumulator:
    acc = EventAccumulator(os.path.join(run_dir, "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.int16)


def test_events_hold_the_logged_scalars_and_sample_grids_of_the_ema_weights(tmp_path):
    train(load_config(smoke("tiny_unet"), TB), output_dir=str(tmp_path), run_id="r", progress=False)
    run = tmp_path / "runs" / "r"
    records, acc = jsonl(run), events(run)
    assert {f"train/{k}" for k in ("loss", "loss_smooth", "lr", "grad_norm", "images_per_second")} <= set(
        acc.Tags()["scalars"])
    for name in ("loss", "lr", "grad_norm", "images_per_second"):
        logged = acc.Scalars(f"train/{name}")
        assert [e.step for e in logged] == [r["step"] for r in records] == list(range(1, 7))
        # TensorBoard stores float32.
        assert [e.value for e in logged] == [float(np.float32(r[name])) for r in records]

    grids = acc.Images("samples")
    assert [g.step for g in grids] == [3, 6]
    # The grid at step 6 is `specdiff sample` of the step-6 checkpoint (EMA, the run's sampling section):
    # 4 images of 16 x 16 on a 2 x 2 grid with 2 px padding. PNG quantisation differs by at most one level.
    assert (grids[1].width, grids[1].height) == (38, 38)
    reference = png((tmp_path / "runs" / "r" / "samples").joinpath(
        os.path.basename(sample_run(str(run), checkpoint="6", device="cpu")), "grid.png").read_bytes())
    board = png(grids[1].encoded_image_string)
    assert np.abs(board - reference).max() <= 1
    assert board.std() > 0 and np.abs(board - png(grids[0].encoded_image_string)).max() > 1


def test_a_resume_leaves_every_step_once(tmp_path, monkeypatch):
    """Killed after logging step 4 (checkpoint at 3): the resume logs 4-6 again and purge_step hides the first 4."""
    config = load_config(smoke("tiny_unet"), TB)
    train_interrupted_at(5, monkeypatch, config, str(tmp_path), "cut")
    run = tmp_path / "runs" / "cut"
    assert [e.step for e in events(run).Scalars("train/loss")] == [1, 2, 3, 4]

    train(config, output_dir=str(tmp_path), run_id="cut", resume=True, progress=False)
    acc = events(run)
    assert len(os.listdir(run / "tensorboard")) == 2
    assert [e.step for e in acc.Scalars("train/loss")] == list(range(1, 7))
    assert [e.value for e in acc.Scalars("train/loss")] == [float(np.float32(r["loss"])) for r in jsonl(run)]
    assert [g.step for g in acc.Images("samples")] == [3, 6]


def test_a_missing_tensorboard_package_stops_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import raises ImportError
    with pytest.raises(ConfigError, match=r"training\.tensorboard = True: needs the tensorboard package: pip install"):
        train(load_config(smoke("tiny_unet"), TB), output_dir=str(tmp_path), run_id="r", progress=False)
    assert not (tmp_path / "runs").exists()
    train(load_config(smoke("tiny_unet"), ["training.steps=1"]), output_dir=str(tmp_path), run_id="off",
          progress=False)  # off: the package is never imported
    assert not (tmp_path / "runs" / "off" / "tensorboard").exists()


@pytest.mark.parametrize("overrides, message", [
    (["training.tensorboard_samples_every=5"], "is only read when training.tensorboard is true"),
    (["training.tensorboard=true", "training.tensorboard_samples_every=-1"], "must be >= 0"),
])
def test_bad_tensorboard_keys_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=f"training.tensorboard_samples_every = -?[0-9]+: {message}"):
        load_config(smoke("tiny_unet"), overrides)
