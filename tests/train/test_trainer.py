"""Training runs: artefacts, exact resume (also after kill -9), divergence, corrupt checkpoints, ledger, DDP."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from trainutil import ROOT, smoke, train_interrupted_at

import specdiff.diffusion
from specdiff.config import load_config
from specdiff.train import CheckpointError, TrainingDiverged, load_checkpoint, read_rows, train
from specdiff.train.ledger import LEDGER_FIELDS, append_row
from specdiff.train.trainer import StepBatches, loss_drop_per_second, lr_lambda


def jsonl(run_dir):
    with open(os.path.join(run_dir, "logs", "train.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize("model", ["tiny_unet", "spectral_unet", "spectral_unet_deep"])
def test_run_folder_has_every_artefact(tmp_path, model):
    config = load_config(smoke(model))
    result = train(config, output_dir=str(tmp_path), run_id="r", progress=False)
    run = tmp_path / "runs" / "r"
    with open(run / "config.yaml") as f:
        assert yaml.safe_load(f) == config.to_dict()
    system = json.loads((run / "system.json").read_text())
    assert system["torch"] == torch.__version__ and system["backend"] in ("kernel", "reference", "auto")
    records = jsonl(run)
    assert [r["step"] for r in records] == list(range(1, 7))
    assert all(set(r) == {"step", "loss", "loss_smooth", "lr", "grad_norm", "images_per_second", "elapsed_s"}
               for r in records)
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in records)
    elapsed = [r["elapsed_s"] for r in records]
    assert elapsed == sorted(elapsed) and elapsed[0] > 0
    metrics = json.loads((run / "metrics" / "r.json").read_text())
    assert metrics == result.metrics
    assert metrics["steps"] == 6 and [s for s, _ in metrics["loss_history"]] == list(range(1, 7))
    assert metrics["images_per_second"] > 0 and metrics["images_per_second_wall"] > 0
    assert metrics["runtime_s"] >= metrics["compute_s"] * 0.5
    assert 0 <= metrics["spectral_op_fraction"] <= 1
    assert sorted(os.listdir(run / "checkpoints")) == ["step_3.pt", "step_6.pt"]
    state = load_checkpoint(str(run / "checkpoints" / "step_6.pt"))
    assert state["step"] == 6 and set(state) >= {"model", "ema", "optimizer", "scheduler", "rng", "history"}
    (row,) = read_rows(str(tmp_path))
    assert list(row) == list(LEDGER_FIELDS)
    assert row["run_id"] == "r" and row["status"] == "finished" and row["run_dir"] == os.path.join("runs", "r")
    assert float(row["final_loss"]) == pytest.approx(metrics["final_loss"])


def test_existing_run_is_not_overwritten(tmp_path):
    config = load_config(smoke("tiny_unet"), ["training.steps=1"])
    train(config, output_dir=str(tmp_path), run_id="r", progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(config, output_dir=str(tmp_path), run_id="r", progress=False)


def test_resume_after_an_interruption_gives_the_same_loss_curve(tmp_path, monkeypatch):
    config = load_config(smoke("spectral_unet"), ["training.steps=8"])
    train(config, output_dir=str(tmp_path), run_id="whole", progress=False)

    train_interrupted_at(5, monkeypatch, config, str(tmp_path), "cut")
    assert sorted(os.listdir(tmp_path / "runs" / "cut" / "checkpoints")) == ["step_3.pt"]

    train(config, output_dir=str(tmp_path), run_id="cut", resume=True, progress=False)
    whole, cut = jsonl(tmp_path / "runs" / "whole"), jsonl(tmp_path / "runs" / "cut")
    assert [r["step"] for r in cut] == list(range(1, 9))
    assert [r["loss"] for r in cut] == [r["loss"] for r in whole]
    assert [r["lr"] for r in cut] == [r["lr"] for r in whole]
    a = load_checkpoint(str(tmp_path / "runs" / "whole" / "checkpoints" / "step_8.pt"))
    b = load_checkpoint(str(tmp_path / "runs" / "cut" / "checkpoints" / "step_8.pt"))
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0)
    # Resuming without --run-id finds the run by its config.
    rows = read_rows(str(tmp_path))
    assert [r["run_id"] for r in rows] == ["whole", "cut"]


def test_kill_9_loses_only_the_steps_since_the_last_checkpoint(tmp_path):
    args = [sys.executable, "-m", "specdiff", "train", "--config", smoke("tiny_unet"), "--output-dir", str(tmp_path),
            "--run-id", "k", "--quiet", "--set", "training.steps=100000", "--set", "training.checkpoint_every=2",
            "--set", "training.profile_every=0"]
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpts = tmp_path / "runs" / "k" / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not (ckpts.exists() and len(os.listdir(ckpts)) >= 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    steps = sorted(int(n[5:-3]) for n in os.listdir(ckpts) if n.startswith("step_"))
    for s in steps:  # every checkpoint that exists under its final name is complete
        assert load_checkpoint(str(ckpts / f"step_{s}.pt"))["step"] == s
    last = steps[-1]
    config = load_config(smoke("tiny_unet"), ["training.steps=100000", "training.checkpoint_every=2",
                                              "training.profile_every=0"])
    result = train(config.__class__(**{**config.__dict__, "training": config.training.__class__(
        **{**config.training.__dict__, "steps": last + 2})}), output_dir=str(tmp_path), run_id="k", resume=True,
        progress=False)
    assert not [n for n in os.listdir(ckpts) if n.endswith(".tmp")]
    records = jsonl(tmp_path / "runs" / "k")
    assert [r["step"] for r in records] == list(range(1, last + 3))
    assert result.metrics["steps"] == last + 2


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = specdiff.diffusion.diffusion_loss
    calls = {"n": 0}

    def nan_at_step_5(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 5 else loss

    monkeypatch.setattr(specdiff.diffusion, "diffusion_loss", nan_at_step_5)
    config = load_config(smoke("tiny_unet"))
    with pytest.raises(TrainingDiverged, match="loss is nan at step 5.*step_3.pt"):
        train(config, output_dir=str(tmp_path), run_id="nan", progress=False)
    ckpts = tmp_path / "runs" / "nan" / "checkpoints"
    assert os.listdir(ckpts) == ["step_3.pt"]
    state = load_checkpoint(str(ckpts / "step_3.pt"))
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    (row,) = read_rows(str(tmp_path))
    assert row["status"] == "diverged"


def test_corrupt_checkpoint_gets_a_clear_error(tmp_path):
    config = load_config(smoke("tiny_unet"), ["training.steps=3"])
    train(config, output_dir=str(tmp_path), run_id="c", progress=False)
    path = tmp_path / "runs" / "c" / "checkpoints" / "step_3.pt"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"step_3.pt' is corrupt.*delete it"):
        train(config, output_dir=str(tmp_path), run_id="c", resume=True, progress=False)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(str(path))


def _append_rows(args):
    folder, worker = args
    for i in range(40):
        append_row(folder, {"run_id": f"w{worker}-{i}", "status": "finished", "final_loss": i / 7})


def test_ledger_survives_concurrent_writers(tmp_path):
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_append_rows, [(str(tmp_path), w) for w in range(4)])
    rows = read_rows(str(tmp_path))
    assert sorted(r["run_id"] for r in rows) == sorted(f"w{w}-{i}" for w in range(4) for i in range(40))
    assert all(float(r["final_loss"]) == int(r["run_id"].split("-")[1]) / 7 for r in rows)
    lines = (tmp_path / "summary.csv").read_text().splitlines()
    assert lines[0] == ",".join(LEDGER_FIELDS) and len(lines) == 161


def test_ledger_rejects_unknown_fields_and_foreign_headers(tmp_path):
    with pytest.raises(ValueError, match="unknown fields"):
        append_row(str(tmp_path), {"run": 1})
    (tmp_path / "summary.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="different header"):
        append_row(str(tmp_path), {"run_id": "x"})


def test_torn_ledger_rows_are_skipped_and_cut_off_by_the_next_writer(tmp_path):
    sha = "0123456789abcdef" * 4
    append_row(str(tmp_path), {"run_id": "a", "status": "finished", "config_sha256": sha})
    path = tmp_path / "summary.csv"
    whole = path.read_text().splitlines()[1].replace("a,", "b,", 1)
    with open(path, "a") as f:
        f.write(whole[:-10])  # a writer killed inside config_sha256
    assert [r["run_id"] for r in read_rows(str(tmp_path))] == ["a"]
    append_row(str(tmp_path), {"run_id": "c", "status": "finished", "config_sha256": sha})
    assert [r["run_id"] for r in read_rows(str(tmp_path))] == ["a", "c"]
    assert [line.split(",")[0] for line in path.read_text().splitlines()] == ["run_id", "a", "c"]
    # A torn row that an older writer terminated with a newline: its config_sha256 is not 64 hex digits.
    with open(path, "a") as f:
        f.write(whole[:-10] + "\n")
    assert [r["run_id"] for r in read_rows(str(tmp_path))] == ["a", "c"]


def test_step_batches_depend_only_on_the_step():
    data = list(range(50))
    whole = list(StepBatches(data, 8, seed=3, start=0, steps=20))
    assert len(whole) == 20 and all(len(b) == 8 for b in whole)
    assert list(StepBatches(data, 8, seed=3, start=13, steps=20)) == whole[13:]
    assert sorted(sum(whole[:6], [])) == sorted(set(sum(whole[:6], [])))  # no repeats within an epoch
    ranks = [list(StepBatches(data, 4, seed=3, start=0, steps=6, rank=r, world=2)) for r in (0, 1)]
    assert all(not set(a) & set(b) for a, b in zip(*ranks, strict=True))


def test_loss_drop_per_second_uses_medians_of_the_first_and_last_tenth():
    losses = [10.0] * 10 + [5.0] * 80 + [2.0] * 10
    losses[3] = 1000.0  # an outlier does not move a median
    times = [0.5 * (i + 1) for i in range(100)]
    # windows: steps 1-10 (median time 2.75 s) and 91-100 (median time 47.75 s)
    assert loss_drop_per_second(losses, times) == pytest.approx((10.0 - 2.0) / 45.0)
    assert loss_drop_per_second([1.0, 0.5], [1.0, 2.0]) is None


def test_learning_rate_warms_up_then_follows_a_cosine():
    config = load_config(None, ["optim.warmup_steps=4", "training.steps=14", "optim.min_lr_ratio=0.1"])
    f = lr_lambda(config)
    assert [f(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f(4) == pytest.approx(1.0)
    assert f(9) == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(14) == pytest.approx(0.1)


def test_bf16_autocast_trains_and_stays_close_to_float32(tmp_path):
    # Under autocast the spectral ops run in float32 (like torch.fft); convolutions and linears in bfloat16.
    base = ["training.steps=3", "training.profile_every=0"]
    fp32 = train(load_config(smoke("tiny_unet"), base), output_dir=str(tmp_path), run_id="fp32", progress=False)
    bf16 = train(load_config(smoke("tiny_unet"), [*base, "training.bf16=true"]), output_dir=str(tmp_path),
                 run_id="bf16", progress=False)
    a, b = fp32.metrics["loss_history"], bf16.metrics["loss_history"]
    assert [s for s, _ in a] == [s for s, _ in b]
    assert a != b  # bfloat16 really ran
    assert all(abs(x - y) <= 0.05 * abs(x) for (_, x), (_, y) in zip(a, b, strict=True))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_torchrun_two_processes_on_cpu(tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    proc = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "--master_port", str(29500 + os.getpid() % 1000), "-m", "specdiff",
         "train", "--config", smoke("tiny_unet"), "--output-dir", str(tmp_path), "--run-id", "ddp", "--quiet",
         "--set", "training.steps=4", "--set", "training.profile_every=0"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.listdir(tmp_path / "runs") == ["ddp"]
    (row,) = read_rows(str(tmp_path))
    assert row["run_id"] == "ddp" and row["status"] == "finished"
    state = load_checkpoint(str(tmp_path / "runs" / "ddp" / "checkpoints" / "step_4.pt"))
    assert len(state["rng"]["noise"]) == 2 and not torch.equal(*state["rng"]["noise"])  # per-rank noise streams
    assert [r["step"] for r in jsonl(tmp_path / "runs" / "ddp")] == [1, 2, 3, 4]


def test_trainer_passes_the_configs_input_perturbation_to_the_loss(tmp_path, monkeypatch):
    real = specdiff.diffusion.diffusion_loss
    seen = []

    def recording(*args, **kwargs):
        seen.append(kwargs["input_perturbation"])
        return real(*args, **kwargs)

    monkeypatch.setattr(specdiff.diffusion, "diffusion_loss", recording)
    config = load_config(smoke("tiny_unet"), ["training.steps=2", "loss.input_perturbation=0.1"])
    train(config, output_dir=str(tmp_path), run_id="ip", progress=False)
    assert seen == [0.1, 0.1]
