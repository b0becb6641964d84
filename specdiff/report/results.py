"""Readers for a results folder: the run ledger, run folders, ``specdiff bench`` JSON and Taguchi studies.

Layout read (``RESULTS_DIR``)::

    summary.csv                          one row per run (LEDGER_COLUMNS)
    runs/<run_id>/config.yaml            resolved config
    runs/<run_id>/logs/train.jsonl       one JSON object per logged step
    runs/<run_id>/metrics/<run_id>.json  final metrics (+ loss_history)
    bench/*.json, *.json                 ``specdiff bench ops|models --json`` files ({"threads", "records"})
    <any folder>/taguchi_report.csv + anova.csv (+ figures/*.png)   Taguchi studies

Each single-file reader raises :class:`ResultsError` with a one-line message for a malformed file.
:func:`load_results` raises only for a missing folder; anything malformed inside it is skipped and
recorded in :attr:`Results.notes`, so one broken run cannot hide the others.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from specdiff.errors import InvalidValue, MissingPath

LEDGER_COLUMNS = (
    "run_id", "status", "started", "model", "dataset", "steps", "batch_size", "seed", "final_loss",
    "loss_drop_per_second", "images_per_second", "images_per_second_wall", "spectral_op_time_s", "runtime_s",
    "backend", "device", "run_dir", "config_sha256", "loss_threshold_steps", "loss_threshold_seconds", "fit_k",
    "fit_r2",
)
_INT_COLUMNS = {"steps", "batch_size", "seed", "loss_threshold_steps"}
_FLOAT_COLUMNS = {"final_loss", "loss_drop_per_second", "images_per_second", "images_per_second_wall",
                  "spectral_op_time_s", "runtime_s", "loss_threshold_seconds", "fit_k", "fit_r2"}
OP_RECORD_KEYS = ("op", "shape", "pass", "reference_ms", "kernel_ms", "speedup")
MODEL_RECORD_KEYS = ("model", "backend", "images_per_second")
# Config entries that differ between replicates of one experiment: the seed, and where a run is written.
RUN_SPECIFIC_KEYS = frozenset({
    "training.seed", "training.run_id", "training.run_name", "training.out_dir", "training.output_dir",
    "training.results_dir", "training.resume",
})
ANOVA_COLUMNS = ("factor", "dof", "ss", "ms", "f", "contribution", "pooled")
# The column names specdiff.experiments writes (Analysis.write_csv) for the same quantities.
ANOVA_ALIASES = {"source": "factor", "F": "f", "contribution_pct": "contribution"}


class ResultsError(InvalidValue):
    """A results file that cannot be read; the message is one line naming the file."""


@dataclasses.dataclass
class Run:
    """One run folder. ``log`` holds train.jsonl records (or ``loss_history`` as ``{step, loss}`` records)."""

    run_id: str
    path: str
    config: dict | None = None
    metrics: dict | None = None
    log: list[dict] = dataclasses.field(default_factory=list)

    @property
    def model(self) -> str | None:
        model = (self.config or {}).get("model")
        if isinstance(model, Mapping) and model.get("name") is not None:
            return str(model["name"])
        return (self.metrics or {}).get("model")

    @property
    def seed(self) -> Any:
        training = (self.config or {}).get("training")
        return training.get("seed") if isinstance(training, Mapping) else None


@dataclasses.dataclass
class TaguchiStudy:
    """A folder holding ``taguchi_report.csv`` and ``anova.csv``; ``figures`` are its own PNGs."""

    path: str
    report_columns: list[str]
    report: list[dict[str, str]]
    anova_columns: list[str]
    anova: list[dict[str, str]]
    figures: list[str]

    @property
    def has_contribution(self) -> bool:
        columns = set(self.anova_columns) | {ANOVA_ALIASES[c] for c in self.anova_columns if c in ANOVA_ALIASES}
        return all(c in columns for c in ANOVA_COLUMNS)


@dataclasses.dataclass
class BenchFile:
    path: str
    kind: str  # "ops" or "models"
    threads: int | None
    records: list[dict]


@dataclasses.dataclass
class Results:
    root: str
    ledger: list[dict]
    runs: list[Run]
    bench: list[BenchFile]
    taguchi: list[TaguchiStudy]
    notes: list[str]

    @property
    def op_records(self) -> list[dict]:
        return [r for b in self.bench if b.kind == "ops" for r in b.records]

    @property
    def model_records(self) -> list[dict]:
        return [r for b in self.bench if b.kind == "models" for r in b.records]

    @property
    def empty(self) -> bool:
        return not (self.ledger or self.runs or self.bench or self.taguchi)


def _number(text: str, kind: type, column: str, path: str, line: int):
    text = text.strip()
    if text == "":
        return None
    try:
        return kind(float(text)) if kind is int else kind(text)
    except ValueError:
        raise ResultsError(f"{path}:{line}: column {column!r} is not a number: {text!r}") from None


def read_ledger(path: str) -> list[dict]:
    """Rows of ``summary.csv``; numeric columns parsed (empty cells are ``None``), unknown columns kept as text."""
    from specdiff.train.ledger import complete_lines, is_whole_row

    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(io.StringIO(complete_lines(f.read()), newline=""))
            columns = reader.fieldnames or []
            missing = [c for c in ("run_id", "status") if c not in columns]
            if missing:
                raise ResultsError(f"{path}: not a run ledger (no {', '.join(missing)} column in the header)")
            rows = []
            for row in reader:
                if None in row:
                    raise ResultsError(f"{path}:{reader.line_num}: more cells than header columns")
                if not is_whole_row(row):  # a row torn by a killed writer, as the ledger's own reader skips it
                    continue
                parsed = {}
                for key, value in row.items():
                    value = "" if value is None else value
                    if key in _INT_COLUMNS:
                        parsed[key] = _number(value, int, key, path, reader.line_num)
                    elif key in _FLOAT_COLUMNS:
                        parsed[key] = _number(value, float, key, path, reader.line_num)
                    else:
                        parsed[key] = value
                rows.append(parsed)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ResultsError(f"{path}: cannot read the ledger ({e})") from None
    return rows


def read_json(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: invalid JSON at line {e.lineno} ({e.msg})") from None


def read_train_log(path: str) -> list[dict]:
    """Records of ``train.jsonl``. A cut-off last line (a run still writing) is dropped; any other bad line raises."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path}: cannot read ({e})") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise ResultsError(f"{path}:{number}: not a JSON object") from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), (int, float)) \
                or not isinstance(record.get("loss"), (int, float)):
            raise ResultsError(f"{path}:{number}: a record needs numeric 'step' and 'loss'")
        records.append(record)
    return records


def read_config(path: str) -> dict:
    import yaml

    from specdiff.fileio import read_yaml

    try:
        config = read_yaml(path)  # safe, no aliases, size-bounded
    except (OSError, ValueError) as e:
        raise ResultsError(f"{path}: cannot read ({e})") from None
    except yaml.YAMLError as e:
        raise ResultsError(f"{path}: invalid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise ResultsError(f"{path}: the config is not a mapping")
    return config


def read_run(path: str, run_id: str | None = None) -> Run:
    """One run folder; every file is optional, but a file that is present must be well formed."""
    run_id = run_id or os.path.basename(os.path.normpath(path))
    run = Run(run_id=run_id, path=path)
    config = os.path.join(path, "config.yaml")
    if os.path.isfile(config):
        run.config = read_config(config)
    metrics = os.path.join(path, "metrics", f"{run_id}.json")
    if os.path.isfile(metrics):
        run.metrics = read_json(metrics)
        if not isinstance(run.metrics, dict):
            raise ResultsError(f"{metrics}: metrics must be a JSON object")
    log = os.path.join(path, "logs", "train.jsonl")
    if os.path.isfile(log):
        run.log = read_train_log(log)
    elif run.metrics and run.metrics.get("loss_history"):
        try:
            run.log = [{"step": float(s), "loss": float(v)} for s, v in run.metrics["loss_history"]]
        except (TypeError, ValueError):
            raise ResultsError(f"{metrics}: loss_history must be a list of [step, loss] pairs") from None
    return run


def read_bench(path: str) -> BenchFile | None:
    """A ``specdiff bench`` JSON file, or ``None`` when the JSON is something else (no ``records`` list)."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        return None
    records = data["records"]
    if not records:
        return BenchFile(path, "ops", data.get("threads"), [])
    if not all(isinstance(r, dict) for r in records):
        raise ResultsError(f"{path}: every record must be a JSON object")
    for kind, keys in (("ops", OP_RECORD_KEYS), ("models", MODEL_RECORD_KEYS)):
        if all(k in records[0] for k in keys):
            bad = next((i for i, r in enumerate(records) if not all(k in r for k in keys)), None)
            if bad is not None:
                raise ResultsError(f"{path}: record {bad} lacks one of {', '.join(keys)}")
            return BenchFile(path, kind, data.get("threads"), [dict(r, source=path) for r in records])
    raise ResultsError(f"{path}: records are neither op records ({', '.join(OP_RECORD_KEYS)}) "
                       f"nor model records ({', '.join(MODEL_RECORD_KEYS)})")


def _read_csv(path: str) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ResultsError(f"{path}: cannot read ({e})") from None
    if not columns:
        raise ResultsError(f"{path}: empty CSV (no header)")
    if any(None in row for row in rows):
        raise ResultsError(f"{path}: a row has more cells than the header")
    return columns, rows


def read_taguchi(path: str) -> TaguchiStudy:
    report_columns, report = _read_csv(os.path.join(path, "taguchi_report.csv"))
    anova_columns, anova = _read_csv(os.path.join(path, "anova.csv"))
    for row in anova:  # also under the report's names; the table keeps the file's own columns
        for source, target in ANOVA_ALIASES.items():
            if source in row:
                row.setdefault(target, row[source])
    study = TaguchiStudy(path, report_columns, report, anova_columns, anova, [])
    if study.has_contribution:
        for i, row in enumerate(anova, 2):
            try:
                float(row["contribution"])
            except (TypeError, ValueError):
                raise ResultsError(f"{path}/anova.csv:{i}: contribution is not a number: "
                                   f"{row['contribution']!r}") from None
    figures = os.path.join(path, "figures")
    if os.path.isdir(figures):
        study.figures = sorted(os.path.join(figures, n) for n in os.listdir(figures) if n.lower().endswith(".png"))
    return study


def flatten(config: Mapping, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def replicate_key(config: Mapping) -> str:
    """A digest of the config without :data:`RUN_SPECIFIC_KEYS`: equal for replicates that differ only by seed."""
    flat = {k: v for k, v in flatten(config).items() if k not in RUN_SPECIFIC_KEYS}
    return hashlib.sha256(json.dumps(flat, sort_keys=True, default=str).encode()).hexdigest()[:12]


def replicate_groups(results: Results) -> dict[str, list[dict]]:
    """Finished ledger rows grouped by replicate config (runs without a config: by model, dataset, steps, batch).

    Keys are readable labels: the model name, plus the config entries that tell groups of one model apart.
    """
    runs = {r.run_id: r for r in results.runs}
    by_key: dict[str, list[dict]] = {}
    configs: dict[str, dict] = {}
    for row in results.ledger:
        if row.get("status") != "finished":
            continue
        run = runs.get(row["run_id"])
        if run is not None and run.config is not None:
            key = replicate_key(run.config)
            configs[key] = {k: v for k, v in flatten(run.config).items() if k not in RUN_SPECIFIC_KEYS}
        else:
            fields = {f: row.get(f) for f in ("model", "dataset", "steps", "batch_size")}
            key = "ledger:" + json.dumps(fields, sort_keys=True, default=str)
            configs[key] = {k: v for k, v in fields.items()}
        by_key.setdefault(key, []).append(row)
    return {label: by_key[key] for key, label in _group_labels(by_key, configs).items()}


def _group_labels(by_key: Mapping[str, list[dict]], configs: Mapping[str, dict]) -> dict[str, str]:
    def model(key):
        rows = by_key[key]
        return str(configs[key].get("model.name") or configs[key].get("model") or rows[0].get("model") or "run")

    labels = {}
    by_model: dict[str, list[str]] = {}
    for key in by_key:
        by_model.setdefault(model(key), []).append(key)
    for name, keys in by_model.items():
        if len(keys) == 1:
            labels[keys[0]] = name
            continue
        entries = sorted(set().union(*(configs[k] for k in keys)))
        varying = [e for e in entries if len({json.dumps(configs[k].get(e), default=str) for k in keys}) > 1]
        for i, key in enumerate(keys):
            detail = ", ".join(f"{e.split('.')[-1]}={configs[key].get(e)}" for e in varying[:2])
            labels[key] = f"{name} ({detail})" if detail else f"{name} #{i + 1}"
    # Two groups can still share a label when their differences lie past the first two entries.
    seen: dict[str, int] = {}
    for key, label in labels.items():
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[key] = f"{label} #{seen[label]}"
    return labels


def _find_taguchi(root: str, skip: Iterable[str]) -> list[str]:
    skip = {os.path.realpath(p) for p in skip}
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("runs", "figures")
                         and os.path.realpath(os.path.join(folder, d)) not in skip)
        if "taguchi_report.csv" in files and "anova.csv" in files:
            found.append(folder)
    return found


def _bench_paths(root: str) -> list[str]:
    paths = []
    for folder in (root, os.path.join(root, "bench")):
        if os.path.isdir(folder):
            paths += sorted(os.path.join(folder, n) for n in os.listdir(folder)
                            if n.endswith(".json") and os.path.isfile(os.path.join(folder, n)))
    return paths


def load_results(results_dir: str, skip: Sequence[str] = ()) -> Results:
    """Everything in ``results_dir``; ``skip`` lists folders not to search for Taguchi studies (the report's own)."""
    if not os.path.exists(results_dir):
        raise MissingPath(f"results folder not found: {results_dir}")
    if not os.path.isdir(results_dir):
        raise InvalidValue(f"not a folder: {results_dir}")
    results = Results(root=results_dir, ledger=[], runs=[], bench=[], taguchi=[], notes=[])

    def rel(path: str) -> str:
        return os.path.relpath(path, results_dir)

    ledger = os.path.join(results_dir, "summary.csv")
    if os.path.isfile(ledger):
        try:
            results.ledger = read_ledger(ledger)
        except ResultsError as e:
            results.notes.append(f"skipped the ledger: {e}")

    folders: dict[str, str] = {}  # path -> run_id
    for row in results.ledger:
        if row.get("run_dir"):
            folders[os.path.normpath(os.path.join(results_dir, row["run_dir"]))] = row["run_id"]
    runs_root = os.path.join(results_dir, "runs")
    if os.path.isdir(runs_root):
        for name in sorted(os.listdir(runs_root)):
            path = os.path.normpath(os.path.join(runs_root, name))
            if os.path.isdir(path):
                folders.setdefault(path, name)
    listed = {row["run_id"] for row in results.ledger}
    for path, run_id in folders.items():
        if not os.path.isdir(path):
            results.notes.append(f"run {run_id}: folder {rel(path)} named in summary.csv does not exist")
            continue
        try:
            results.runs.append(read_run(path, run_id))
        except ResultsError as e:
            results.notes.append(f"skipped run folder {rel(path)}: {e}")
            continue
        if run_id not in listed:
            results.notes.append(f"run {run_id} ({rel(path)}) is not in summary.csv (unfinished?)")

    for path in _bench_paths(results_dir):
        try:
            bench = read_bench(path)
        except ResultsError as e:
            results.notes.append(f"skipped bench file: {e}")
            continue
        if bench is not None:
            results.bench.append(bench)

    for folder in _find_taguchi(results_dir, skip):
        try:
            results.taguchi.append(read_taguchi(folder))
        except ResultsError as e:
            results.notes.append(f"skipped Taguchi study {rel(folder)}: {e}")
    return results


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
