"""The daily loop from the shell: specdiff train -> sample -> evaluate -> report, the demo, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from trainutil import ROOT, smoke


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "specdiff", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)


def test_train_sample_evaluate_report(tmp_path):
    out = str(tmp_path / "results")
    proc = cli("train", "--config", smoke("spectral_unet"), "--output-dir", out, "--run-id", "e2e",
               "--set", "training.steps=3")
    assert proc.returncode == 0, proc.stderr
    assert "run e2e: 3 steps" in proc.stdout
    run = os.path.join(out, "runs", "e2e")

    proc = cli("sample", "--run-dir", run, "--sampler", "ddim", "--steps", "3", "--num-samples", "6", "--eta", "0.5",
               "--tag", "t")
    assert proc.returncode == 0, proc.stderr
    samples = os.path.join(run, "samples", "t")
    meta = json.load(open(os.path.join(samples, "metadata.json")))
    assert (meta["sampler"], meta["eta"], meta["num_samples"]) == ("ddim", 0.5, 6)

    proc = cli("evaluate", "--generated", samples, "--reference-dataset", "random_field", "--num-reference", "8",
               "--metrics", "fid,spectral_distance", "--update-metadata", "--reference-option", "alpha=2.5")
    assert proc.returncode == 0, proc.stderr
    metrics = json.load(open(os.path.join(samples, "metrics.json")))
    assert set(metrics["metrics"]) >= {"fid_offline", "spectral_distance_db"}
    assert metrics["num_generated"] == 6 and metrics["num_reference"] == 8
    assert metrics["reference_options"] == {"alpha": 2.5}
    assert json.load(open(os.path.join(samples, "metadata.json")))["evaluation"]["metrics"] == metrics["metrics"]

    proc = cli("report", out)
    assert proc.returncode == 0, proc.stderr
    summary = open(os.path.join(out, "report", "summary.md")).read()
    assert "e2e" in summary and "loss" in summary.lower()


def test_user_errors_are_one_line_with_status_1(tmp_path):
    proc = cli("sample", "--run-dir", str(tmp_path / "nope"))
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "is not a run folder" in proc.stderr
    proc = cli("train", "--config", smoke("tiny_unet"), "--output-dir", str(tmp_path), "--set", "data.name=cifar10",
               "--set", f"data.root={tmp_path}", "--set", "data.image_size=16")
    assert proc.returncode == 1
    assert "cifar-10-batches-py" in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert not (tmp_path / "runs").exists()  # nothing created for a run that cannot start
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("evaluate", "--generated", str(empty), "--reference", str(empty))
    assert proc.returncode == 1 and "no .png" in proc.stderr


def test_demo_models_train_like_their_quality_configs():
    """The demo's models, forward processes and losses are the quality bench's piecewise configs' (its optimiser
    schedule differs: a fixed step count, not a time budget)."""
    from specdiff.config import load_config
    from specdiff.demo import MODELS, demo_config

    for model in MODELS:
        demo = demo_config(model)
        quality = load_config(os.path.join(ROOT, "configs", "quality", f"{model}_piecewise.yaml"))
        assert (demo.model, demo.diffusion, demo.loss) == (quality.model, quality.diffusion, quality.loss), model


def test_quick_demo_writes_the_summary(tmp_path):
    proc = cli("demo", "--quick", "--output-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    summary = (tmp_path / "summary.md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line for line in summary.splitlines() if line.startswith("| ")}
    for model, noise in (("tiny_unet", "white"), ("spectral_unet", "uniform")):
        assert f"| {noise} |" in rows[model]  # each model's own forward process
        assert (tmp_path / "runs" / f"demo-{model}" / "samples" / "demo" / "grid.png").exists()
    assert "| fid_offline | kid_offline | spectral distance (dB) | low-band power (dB) |" in summary
    assert (tmp_path / "figures" / "loss_curves.png").exists()
    for link in [line.split("](")[1].rstrip(")") for line in summary.splitlines() if line.startswith("![")]:
        assert (tmp_path / link).exists(), link
