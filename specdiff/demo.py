"""``specdiff demo``: train a TinyUNet and a SpectralUNet briefly on synthetic data, sample, evaluate against
held-out data, and write ``summary.md`` with a loss-curve figure, a sample grid per model and a metrics table.

The full demo fits in about 5 minutes on 2 CPU cores; ``quick=True`` is a seconds-long version for tests.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

from specdiff.bench.quality import SIGMA_MAX
from specdiff.config import Config, from_dict
from specdiff.report.tables import format_number, markdown_table

MODELS = ("tiny_unet", "spectral_unet")

# The demo's budget: 32x32 grey piecewise-constant images (checkerboards, stripes, circles, mondrian), which a
# few hundred steps already learn to draw.
_COMMON: dict[str, Any] = {
    "data": {"name": "piecewise", "image_size": 32, "channels": 1, "random_flip": True},
    "diffusion": {"schedule": "cosine", "num_timesteps": 1000, "prediction": "eps"},
    "loss": {"weighting": "min_snr"},
    "optim": {"lr": 2e-3, "warmup_steps": 50, "min_lr_ratio": 0.1, "ema_decay": 0.99},
    "training": {"steps": 600, "batch_size": 32, "log_every": 10, "checkpoint_every": 300, "seed": 0},
    # The quality bench's sampler: the grid starts at σ/α <= SIGMA_MAX, not at the cosine schedule's α = 5e-5.
    "sampling": {"sampler": "dpm_solver++", "order": 2, "steps": 25, "num_samples": 64, "seed": 0,
                 "sigma_max": SIGMA_MAX},
}
_MODEL_OPTIONS: dict[str, dict[str, Any]] = {
    "tiny_unet": {"base_channels": 16, "channel_mults": [1, 2], "num_res_blocks": 1, "time_embed_dim": 64},
    # Convolutions computed in frequency with learned bases, as in configs/quality/spectral_unet_piecewise.yaml.
    "spectral_unet": {"base_channels": 16, "channel_mults": [1, 2], "num_res_blocks": 1, "time_embed_dim": 64,
                      "image_size": 32, "mixer": "basis", "filter_padding": 4},
}
# Each model's forward process, as in its configs/quality file: the spectral models train with uniform frequency
# corruption (equal per-frequency SNR), TinyUNet with white noise.
_MODEL_DIFFUSION: dict[str, dict[str, Any]] = {"spectral_unet": {"uniform_corruption": True}}
# and weigh the squared ε error at frequency f by 1 / |M(f)|, M the corruption's colouring.
_MODEL_LOSS: dict[str, dict[str, Any]] = {"spectral_unet": {"spectral": "whitened", "power": 0.5}}
_QUICK = {"training": {"steps": 4, "batch_size": 8, "log_every": 1, "checkpoint_every": 4},
          "sampling": {"steps": 2, "num_samples": 4}, "data": {"image_size": 16}}


def demo_config(model: str, *, steps: int | None = None, quick: bool = False) -> Config:
    """The demo's config for ``model`` (``quick``: the test-sized version)."""
    raw = {section: dict(values) for section, values in _COMMON.items()}
    raw["model"] = {"name": model, **_MODEL_OPTIONS[model]}
    raw["diffusion"].update(_MODEL_DIFFUSION.get(model, {}))
    raw["loss"].update(_MODEL_LOSS.get(model, {}))
    if quick:
        for section, values in _QUICK.items():
            raw[section].update(values)
    if steps is not None:
        raw["training"]["steps"] = steps
        raw["training"]["checkpoint_every"] = steps
    return from_dict(raw)


def run_demo(output_dir: str = "results/demo", *, steps: int | None = None, quick: bool = False,
             models: tuple[str, ...] = MODELS) -> str:
    """Trains, samples and evaluates each model into ``output_dir``; returns the path of ``summary.md``.
    A previous demo in ``output_dir`` is replaced."""
    from specdiff.eval import evaluate, write_metrics
    from specdiff.report.figures import loss_curves
    from specdiff.report.results import read_train_log
    from specdiff.train import sample_run, train

    for stale in ("runs", "figures", "summary.csv"):
        path = os.path.join(output_dir, stale)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)
    os.makedirs(os.path.join(output_dir, "figures"), exist_ok=True)
    rows, logs = [], {}
    start = time.perf_counter()
    for model in models:
        config = demo_config(model, steps=steps, quick=quick)
        run = train(config, output_dir=output_dir, run_id=f"demo-{model}", progress=None)
        samples = sample_run(run.run_dir, tag="demo", device=config.training.device)
        with open(os.path.join(samples, "metadata.json")) as f:
            sample_s = json.load(f)["sampling_seconds"]
        result = evaluate(samples, reference_dataset=config.data.name, num_reference=max(config.sampling.num_samples,
                          256 if not quick else 8), metrics=["fid", "kid", "spectral_distance", "band_power"],
                          image_size=config.data.image_size, channels=config.data.channels, seed=0)
        write_metrics(result, os.path.join(samples, "metrics.json"))
        logs[model] = read_train_log(os.path.join(run.run_dir, "logs", "train.jsonl"))
        rows.append({"model": model, "config": config, "run": run, "samples": samples, "sample_s": sample_s,
                     "eval": result})
    figure = loss_curves(logs, os.path.join(output_dir, "figures", "loss_curves"))
    summary = os.path.join(output_dir, "summary.md")
    with open(summary, "w") as f:
        f.write(_summary(output_dir, rows, figure.png, time.perf_counter() - start))
    return summary


def _extractor(rows: list[dict]) -> str:
    info = rows[0]["eval"].get("feature_extractor") or {}
    return f" {info['name']} v{info['version']}" if info else ""


def _summary(output_dir: str, rows: list[dict], loss_png: str, seconds: float) -> str:
    rel = lambda p: os.path.relpath(p, output_dir)  # noqa: E731
    first, cfg = rows[0]["run"].metrics, rows[0]["config"]
    lines = [
        "# specdiff demo",
        "",
        f"Two models trained for {first['steps']} steps (batch {first['batch_size']}) on `{first['dataset']}` "
        f"synthetic images, sampled with {cfg.sampling.sampler} and evaluated against the held-out test split "
        f"(offline feature extractor{_extractor(rows)}: FID/KID values compare these two models, not published "
        f"Inception numbers). "
        f"Total time {seconds:.0f} s.",
        "",
    ]
    table = []
    for row in rows:
        m, e = row["run"].metrics, row["eval"]["metrics"]
        table.append([
            row["model"], format_number(m["num_parameters"], ","), format_number(m["final_loss"]),
            format_number(m["loss_drop_per_second"]), format_number(m["images_per_second"], ".1f"),
            format_number(m.get("spectral_op_fraction"), ".0%"), format_number(row["sample_s"], ".1f"),
            "uniform" if row["config"].diffusion.uniform_corruption else "white",
            format_number(e.get("fid_offline")), format_number(e.get("kid_offline")),
            format_number(e.get("spectral_distance_db"), ".2f"),
            *(format_number(e.get(f"band_power_db_{b}"), "+.2f") for b in ("low", "mid", "high")),
        ])
    lines += markdown_table(["model", "parameters", "final loss", "loss drop / s", "train images / s",
                             "spectral-op share", "sampling s", "forward noise", "fid_offline", "kid_offline",
                             "spectral distance (dB)", "low-band power (dB)", "mid-band power (dB)",
                             "high-band power (dB)"], table)
    lines += ["", "## Loss curves", "", f"![loss curves]({rel(loss_png)})", "", "## Samples", ""]
    for row in rows:
        grid = rel(os.path.join(row["samples"], "grid.png"))
        lines += [f"### {row['model']}", "", f"![{row['model']} samples]({grid})", ""]
    lines += ["Reproduce: `specdiff demo` (or `make demo`). Each run's config, logs, checkpoints and metrics are in "
              "`runs/`; the ledger is `summary.csv`.", ""]
    return "\n".join(lines)
