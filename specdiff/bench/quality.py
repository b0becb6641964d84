"""``specdiff bench quality``: sample quality against training seconds, per model and dataset.

``<model>`` is a label, the part of the config's file name before the dataset: records, tables and plots use it,
and the file's ``model.name`` is recorded as ``architecture``, so ``spectral_unet_spatial_piecewise.yaml`` (a
SpectralUNet with ``mixer: spatial``) is its own row. Each (model, dataset, seed) is one training run of the shipped
``configs/quality/<model>_<dataset>.yaml`` with
``training.seed = seed``, trained in stages: stage *f* resumes the run with ``training.max_seconds = f·seconds``
(the training-compute clock, see :class:`specdiff.config.TrainingConfig`), so every stage is an ordinary,
resumable run that ends with a checkpoint. From each stage's checkpoint the bench draws ``num_samples`` images
with one fixed sampler (the same seeded noise at every stage; with ``sample_draws`` N > 1, N draws of noise, sampling
seeds 0..N-1, whose metrics the record averages) and evaluates them with
:func:`specdiff.eval.evaluate` against ``num_reference`` images of the data's test split, written once as PNGs by
:func:`specdiff.experiments.runner.reference_folder` (the Taguchi runner's reference, so both sides are 8-bit
images). Output folder::

    runs/<run_id>/                   the training runs (summary.csv is their ledger)
    reference/<data>-<key>/          the reference images
    records/<run_id>-f<fraction>.json  one record per stage: model, dataset, seed, seconds, steps, images seen,
                                     metrics and the settings they were measured with
    records/data-<dataset>.json      the training split's own score: ``num_samples`` training images evaluated
                                     as if they were samples, what a model that draws the data would score
    quality.md                       mean (and spread) over seeds per model x dataset x fraction
    quality_<dataset>.png / .pdf     each metric against training seconds, one line per model (± sd bars)

Resumable: a stage whose record exists with the same settings is skipped; a killed run resumes from its last
checkpoint. The run id holds the budget, so different ``seconds`` never share a run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from specdiff.report.tables import cell

if TYPE_CHECKING:
    from specdiff.report.figures import Saved

MODELS = ("tiny_unet", "spectral_unet", "spectral_unet_deep")
DATASETS = ("piecewise", "photos")
FRACTIONS = (0.25, 0.5, 0.75, 1.0)
EVALUATE = ("fid", "kid", "spectral_distance", "band_power")
METRICS = ("fid_offline", "kid_offline", "spectral_distance_db", "band_power_db_low", "band_power_db_mid",
           "band_power_db_high")
REFERENCE_SEED = 0
SAMPLE_SEED = 0
# The fixed sampler starts at σ/α <= 15 (α ≈ 0.067), not at T - 1 (cosine: α = 5e-5, where an ε model's x0̂ is
# mostly its error times 2e4); 15 against 10: the lower geometric mean of fid_offline over the bench's six model x
# dataset cells on the same checkpoints (docs/spectral_models.md).
SIGMA_MAX = 15.0
# The row label of the training split's own score (_data_score).
DATA = "training images"


def config_path(config_dir: str, model: str, dataset: str) -> str:
    return os.path.join(config_dir, f"{model}_{dataset}.yaml")


def run_name(model: str, dataset: str, seed: int, seconds: float) -> str:
    return f"{model}-{dataset}-seed{seed}-{seconds:g}s"


def _stage_step(compute_s: Sequence[float], budget: float) -> int:
    """The step at which a run with ``max_seconds = budget`` stopped: the first whose cumulative training time
    reaches it (the last step when the run ended on ``training.steps`` first)."""
    for i, t in enumerate(compute_s):
        if t >= budget:
            return i + 1
    return len(compute_s)


def run_quality(
    models: Sequence[str] = MODELS,
    datasets: Sequence[str] = DATASETS,
    *,
    seconds: float = 300.0,
    seeds: int = 2,
    fractions: Sequence[float] = FRACTIONS,
    sampler: str = "dpm_solver++",
    order: int | None = 2,
    sampler_steps: int = 25,
    sigma_max: float | None = SIGMA_MAX,
    num_samples: int = 256,
    num_reference: int = 512,
    sample_draws: int = 1,
    output_dir: str = "results/quality",
    config_dir: str = "configs/quality",
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Trains, samples and evaluates every (model, dataset, seed) at each fraction of ``seconds``; writes the
    records, ``quality.md`` and one figure per dataset into ``output_dir``. Returns ``{"records", "table",
    "figures"}`` (the records of this call, the table's path, the PNG paths).

    One draw of ``num_samples`` images moves every model's figures alike, by as much as training seeds do (the same
    checkpoints, other sampling seeds: docs/spectral_models.md); ``sample_draws`` averages each stage's metrics over
    that many draws, so that a figure says less about the draw."""
    from specdiff.config import SamplingConfig, load_config

    fractions = sorted(set(float(f) for f in fractions))
    if not fractions or not all(0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must lie in (0, 1], got {fractions}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds must be a positive number, got {seconds}")
    if seeds < 1 or num_samples < 1 or num_reference < 1 or sample_draws < 1:
        raise ValueError("seeds, num_samples, num_reference and sample_draws must be >= 1")
    # fail before work
    SamplingConfig(sampler=sampler, steps=sampler_steps, num_samples=num_samples, order=order, sigma_max=sigma_max)
    settings = {"sampler": sampler, "order": order, "sampler_steps": sampler_steps, "sigma_max": sigma_max,
                "num_samples": num_samples, "num_reference": num_reference, "sample_seed": SAMPLE_SEED,
                "reference_seed": REFERENCE_SEED}
    if sample_draws > 1:  # absent at 1, so that records made before draws existed still count
        settings["sample_draws"] = sample_draws
    paths = {(m, d): config_path(config_dir, m, d) for d in datasets for m in models}
    configs = {key: load_config(path, [f"training.device={device}"]) for key, path in paths.items()}  # all first

    records, data = [], []
    for dataset in datasets:
        data.append(_data_score(configs[models[0], dataset], settings, output_dir, device, log))
        for model in models:
            for seed in range(seeds):
                for fraction in fractions:
                    records.append(_stage(model, configs[model, dataset], paths[model, dataset], seed, fraction,
                                          seconds, settings, output_dir, device, log))
    table = os.path.join(output_dir, "quality.md")
    with open(table, "w") as f:
        f.write(format_markdown(records, data))
    figures = [plot_quality([r for r in records if r["dataset"] == d], os.path.join(output_dir, f"quality_{d}"),
                            next(r for r in data if r["dataset"] == d)).png for d in datasets]
    return {"records": records, "data": data, "table": table, "figures": figures}


def _recorded(path: str, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The record at ``path`` when it was made with ``settings``, else None (absent, or other settings: redo)."""
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    return record if record.get("settings") == settings else None


def _data_score(config, settings: dict[str, Any], out: str, device: str, log: Callable[[str], None]) -> dict[str, Any]:
    """The metrics of ``num_samples`` images of the training split (seed ``SAMPLE_SEED``, 8-bit PNGs like the
    samples) against the stages' test images: the score of a model that draws the data, a floor for the stages'
    figures (``records/data-<dataset>.json``, skipped when recorded with the same counts and seeds). ``config`` is
    the first model's for the dataset; its data section names the images (models of one dataset share it)."""
    from specdiff.eval import evaluate
    from specdiff.experiments.runner import reference_folder
    from specdiff.fileio import atomic_write_json
    from specdiff.train.trainer import resolve_device

    dataset = config.data.name
    record_path = os.path.join(out, "records", f"data-{dataset}.json")
    settings = {k: settings[k] for k in ("num_samples", "num_reference", "sample_seed", "reference_seed")}
    record = _recorded(record_path, settings)
    if record is not None:
        log(f"{dataset}'s training split: recorded, skipped")
        return record
    images = reference_folder(out, config, settings["num_samples"], SAMPLE_SEED, split="train")
    reference = reference_folder(out, config, settings["num_reference"], REFERENCE_SEED)
    evaluation = evaluate(images, reference=reference, metrics=list(EVALUATE), channels=config.data.channels,
                          device=str(resolve_device(device)), seed=0)
    record = {"model": DATA, "dataset": dataset, "split": "train", "images": len(os.listdir(images)),
              "metrics": {k: evaluation["metrics"].get(k) for k in METRICS}, "notes": evaluation.get("notes", []),
              "feature_extractor": evaluation.get("feature_extractor"), "settings": settings, "folder": images}
    os.makedirs(os.path.dirname(record_path), exist_ok=True)
    atomic_write_json(record_path, record)
    log(f"{dataset}'s training split: " + ", ".join(f"{k} {cell(v)}" for k, v in record["metrics"].items()))
    return record


def _stage(model: str, config, path: str, seed: int, fraction: float, seconds: float, settings: dict[str, Any],
           out: str, device: str, log: Callable[[str], None]) -> dict[str, Any]:
    from specdiff.config import from_dict
    from specdiff.eval import evaluate, write_metrics
    from specdiff.experiments.runner import reference_folder
    from specdiff.fileio import atomic_write_json
    from specdiff.train import latest_checkpoint, load_checkpoint, sample_run, train
    from specdiff.train.trainer import resolve_device

    dataset = config.data.name
    run_id = run_name(model, dataset, seed, seconds)
    record_path = os.path.join(out, "records", f"{run_id}-f{fraction:g}.json")
    record = _recorded(record_path, settings)
    if record is not None:
        log(f"{run_id} at {fraction:g} of {seconds:g} s: recorded, skipped")
        return record
    budget = fraction * seconds
    raw = config.to_dict()
    raw["training"].update(seed=seed, max_seconds=budget)
    stage_config = from_dict(raw)
    run_dir = os.path.join(out, "runs", run_id)
    resume = os.path.isfile(os.path.join(run_dir, "config.yaml"))
    log(f"{run_id}: training to {budget:g} s ({fraction:g} of {seconds:g} s)")
    result = train(stage_config, output_dir=out, run_id=run_id, resume=resume, progress=False)
    # A rerun may find the run trained past this stage already; the stage's checkpoint is the step where the
    # training time first reached the stage's budget (every stage checkpoints its stop).
    history = load_checkpoint(latest_checkpoint(os.path.join(run_dir, "checkpoints"))[1])["history"]
    step = _stage_step(history["compute_s"], budget)
    resolved = str(resolve_device(device))
    reference = reference_folder(out, stage_config, settings["num_reference"], REFERENCE_SEED)
    folders, draws = [], []
    for draw in range(settings.get("sample_draws", 1)):
        samples = sample_run(run_dir, checkpoint=str(step), sampler=settings["sampler"], order=settings["order"],
                             steps=settings["sampler_steps"], sigma_max=settings["sigma_max"],
                             num_samples=settings["num_samples"], seed=SAMPLE_SEED + draw,
                             tag=f"quality-f{fraction:g}" + (f"-draw{draw}" if draw else ""), device=resolved)
        evaluation = evaluate(samples, reference=reference, metrics=list(EVALUATE), channels=config.data.channels,
                              device=resolved, seed=0)
        write_metrics(evaluation, os.path.join(samples, "metrics.json"))
        folders.append(samples)
        draws.append({k: evaluation["metrics"].get(k) for k in METRICS})
    record = {
        "model": model, "architecture": config.model.name, "dataset": dataset, "seed": seed, "fraction": fraction,
        "budget_s": seconds,
        "max_seconds": budget, "seconds": history["compute_s"][step - 1], "steps": step,
        "images_seen": step * stage_config.training.batch_size,
        "stop_reason": "steps" if step == stage_config.training.steps else "max_seconds",
        "num_parameters": result.metrics["num_parameters"], "device": result.metrics["device"],
        "metrics": _mean_of_draws(draws), "notes": evaluation.get("notes", []),
        "feature_extractor": evaluation.get("feature_extractor"), "settings": settings, "run_id": run_id,
        "config": os.path.abspath(path), "config_sha256": stage_config.sha256(), "samples": folders[0],
    }
    if len(draws) > 1:
        record |= {"draws": draws, "draw_samples": folders}
    atomic_write_json(record_path, record)
    log(f"{run_id} at {fraction:g}: step {step}, " + ", ".join(
        f"{k} {cell(v)}" for k, v in record["metrics"].items()))
    return record


def _mean_of_draws(draws: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each metric's mean over the draws (None where a draw has none)."""
    return {k: None if any(d[k] is None for d in draws) else float(np.mean([d[k] for d in draws])) for k in METRICS}


# ------------------------------------------------------------------------------------------ summaries


def mean_over_seeds(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (dataset, model, fraction), in first-seen order: the mean of seconds, steps, images seen and
    every metric over the seeds (a metric that is null for some seed averages the others; all null: None), and
    each metric's sample standard deviation over the seeds as ``<metric>_sd`` (n - 1 in the denominator; None
    with fewer than two values)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["dataset"], r["model"], r["fraction"]), []).append(r)
    rows = []
    for (dataset, model, fraction), group in groups.items():
        row: dict[str, Any] = {"dataset": dataset, "model": model, "fraction": fraction, "seeds": len(group)}
        for key in ("seconds", "steps", "images_seen"):
            row[key] = float(np.mean([r[key] for r in group]))
        for key in METRICS:
            values = [r["metrics"][key] for r in group if r["metrics"].get(key) is not None]
            row[key] = float(np.mean(values)) if values else None
            row[f"{key}_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
        rows.append(row)
    return rows


def format_markdown(records: Sequence[dict[str, Any]], data: Sequence[dict[str, Any]] = ()) -> str:
    """The mean-over-seeds table as Markdown, one row per dataset x model x fraction, then (given ``data``, the
    :func:`_data_score` records) what each dataset's training images score."""
    from specdiff.report.tables import markdown_table

    keys = ("dataset", "model", "fraction", "seeds", "seconds", "steps", "images_seen", *METRICS)
    header = ["dataset", "model", "fraction", "seeds", "training s", "steps", "images seen", *METRICS]
    rows = mean_over_seeds(records)
    lines = markdown_table(header, [[row[k] for k in keys] for row in rows])
    spread = [row for row in rows if row["seeds"] > 1]
    if spread:
        lines += ["", "The spread over seeds: each metric's sample standard deviation over the seeds (n − 1). The "
                      "mean of n seeds has a standard error of about sd / √n, and the difference of two models' "
                      "means one of about √(sd₁² + sd₂²) / √n.", "",
                  *markdown_table(["dataset", "model", "fraction", "seeds", *METRICS],
                                  [[row[k] for k in ("dataset", "model", "fraction", "seeds")]
                                   + [row[f"{k}_sd"] for k in METRICS] for row in spread])]
    if data:
        lines += ["", f"The training split's own score: {data[0]['images']} training images evaluated as if they "
                      "were samples (what a model that draws the data would score).", "",
                  *markdown_table(["dataset", "images", *METRICS],
                                  [[r["dataset"], r["images"], *(r["metrics"][k] for k in METRICS)] for r in data])]
    first = records[0] if records else {}
    settings = first.get("settings", {})
    extractor = first.get("feature_extractor") or {}
    note = (f"Mean over seeds. Training s: training compute (forward+backward+update). "
            f"Samples: {settings.get('num_samples')} with {settings.get('sampler')} "
            f"({settings.get('sampler_steps')} steps{_start(settings)}){_draws(settings)}, against "
            f"{settings.get('num_reference')} test images; features: {extractor.get('name', '—')} "
            f"v{extractor.get('version', '?')}.")
    return "\n".join(["# Sample quality against training seconds", "", note, "", *lines, ""])


def _draws(settings: dict[str, Any]) -> str:
    draws = settings.get("sample_draws", 1)
    return "" if draws == 1 else f", metrics the mean of {draws} draws (sampling seeds 0-{draws - 1})"


def _start(settings: dict[str, Any]) -> str:
    sigma_max = settings.get("sigma_max")
    return "" if sigma_max is None else f", from the last timestep with σ/α <= {sigma_max:g}"


def plot_quality(records: Sequence[dict[str, Any]], path: str, data: dict[str, Any] | None = None) -> Saved:
    """Each metric (mean over seeds) against mean training seconds, one line per model with a bar of ± one
    standard deviation over the seeds at each point of two or more seeds, and (given ``data``, a :func:`_data_score`
    record) the training images' score as a dashed horizontal line; writes ``<path>.png`` and ``.pdf`` in the
    report figures' style and dpi and returns them (:class:`specdiff.report.figures.Saved`). Series gids:
    ``<metric>:<model>``, ``<metric>:<model>:sd`` for the bars and ``<metric>:training images`` for the line."""
    from specdiff.report.figures import PAGE_WIDTH, color, new_figure, save, style

    rows = mean_over_seeds(records)
    models = list(dict.fromkeys(r["model"] for r in rows))
    dataset = rows[0]["dataset"] if rows else ""
    with style():
        fig = new_figure(PAGE_WIDTH, 4.2)
        axes = fig.subplots(2, 3).ravel()
        for ax, metric in zip(axes, METRICS, strict=True):
            for i, model in enumerate(models):
                points = sorted((r["seconds"], r[metric], r[f"{metric}_sd"]) for r in rows
                                if r["model"] == model and r[metric] is not None)
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3,
                        color=color(i), label=model, gid=f"{metric}:{model}")
                spread = [p for p in points if p[2] is not None]
                if spread:
                    ax.vlines([p[0] for p in spread], [p[1] - p[2] for p in spread], [p[1] + p[2] for p in spread],
                              color=color(i), linewidth=0.8, gid=f"{metric}:{model}:sd")
            if data is not None and data["metrics"].get(metric) is not None:
                ax.axhline(data["metrics"][metric], color="0.5", linestyle="--", linewidth=0.8, label=DATA,
                           gid=f"{metric}:{DATA}")
            ax.set_xlim(0, 1.05 * max((r["seconds"] for r in rows), default=1.0))  # the clock from its start
            ax.set_xlabel("training time (s)")
            ax.set_ylabel(metric + (" (dB)" if metric.endswith("_db") or "_db_" in metric else ""))
        axes[0].legend(loc="best")
        fig.suptitle(f"sample quality on {dataset}, mean and standard deviation over seeds")
        return save(fig, path)
