"""``specdiff report``: figures and a ``summary.md`` for a results folder."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from specdiff.report import figures
from specdiff.report.results import Results, TaguchiStudy, finite, load_results, replicate_groups
from specdiff.report.tables import markdown_table

RUN_TABLE = (
    ("run_id", "run"), ("status", "status"), ("model", "model"), ("dataset", "dataset"), ("steps", "steps"),
    ("seed", "seed"), ("final_loss", "final loss"), ("loss_drop_per_second", "loss drop / s"),
    ("images_per_second", "images / s"), ("images_per_second_wall", "images / s (wall)"),
    ("spectral_op_time_s", "spectral ops (s)"), ("runtime_s", "runtime (s)"), ("fit_k", "fit k / step"),
    ("fit_r2", "fit R²"), ("loss_threshold_steps", "steps to threshold"),
    ("loss_threshold_seconds", "seconds to threshold"), ("backend", "backend"), ("device", "device"),
)


def _link(target: str, start: str) -> str:
    try:
        rel = os.path.relpath(target, start)
    except ValueError:  # another drive on Windows
        rel = os.path.abspath(target)
    return rel.replace(os.sep, "/")


class _Report:
    def __init__(self, results: Results, out_dir: str):
        self.results = results
        self.out_dir = out_dir
        self.fig_dir = os.path.join(out_dir, "figures")
        self.lines: list[str] = []
        self.notes = list(results.notes)

    def figure(self, title: str, draw: Callable[[str], figures.Saved], stem: str) -> None:
        try:
            saved = draw(os.path.join(self.fig_dir, stem))
        except ValueError as e:
            self.notes.append(f"no {title} figure: {e}")
            return
        png, pdf = _link(saved.png, self.out_dir), _link(saved.pdf, self.out_dir)
        self.lines += [f"![{title}]({png})", "", f"*{title}* ([PDF]({pdf}))", ""]

    def runs(self) -> None:
        results = self.results
        ledger = results.ledger
        listed = {r["run_id"] for r in ledger}
        extra = [r for r in results.runs if r.run_id not in listed]
        if not ledger and not extra:
            return
        self.lines += ["## Runs", ""]
        rows = [[row.get(k) for k, _ in RUN_TABLE] for row in ledger]
        for run in extra:
            m = dict(run.metrics or {})
            m.update(run_id=run.run_id, status="not in summary.csv", model=run.model, seed=run.seed)
            rows.append([m.get(k) for k, _ in RUN_TABLE])
        self.lines += [*markdown_table([label for _, label in RUN_TABLE], rows), ""]
        self.lines += ["*images / s* counts training-step time only; *wall* the whole run. "
                       "Figures use finished runs.", ""]
        curves = {r.run_id: r.log for r in results.runs if r.log}
        if curves:
            self.figure("loss curves", lambda p: figures.loss_curves(curves, p), "loss_curves")
        finished = [r for r in ledger if r.get("status") == "finished"]
        if any(finite(r.get("images_per_second")) for r in finished):
            self.figure("training throughput", lambda p: figures.throughput_bars(finished, p), "throughput")
            self.figure("loss vs speed", lambda p: figures.tradeoff(finished, p), "tradeoff")
        groups = {k: v for k, v in replicate_groups(results).items() if len(v) > 1}
        if groups:
            self.lines += ["### Replicates", "",
                           "Runs whose configs differ only in `training.seed`, grouped; mean ± std:", ""]
            rows = []
            for name, group in groups.items():
                cells = [name, len(group)]
                for key in ("final_loss", "loss_drop_per_second"):
                    values = [r[key] for r in group if finite(r.get(key))]
                    cells.append(_mean_std(values))
                rows.append(cells)
            self.lines += [*markdown_table(["group", "runs", "final loss", "loss drop / s"], rows), ""]
            self.figure("distributions over replicates", lambda p: figures.replicate_distributions(groups, p),
                        "replicates")

    def bench(self) -> None:
        results = self.results
        ops, models = results.op_records, results.model_records
        if ops:
            self.lines += ["## Kernel speedups", "", _sources([b for b in results.bench if b.kind == "ops"],
                                                                self.out_dir), ""]
            self.figure("kernel speedup over the pure-PyTorch reference",
                        lambda p: figures.kernel_speedups(ops, p), "kernel_speedups")
            self.lines += _op_table(ops)
        if models:
            self.lines += ["## Model training throughput by backend", "",
                           _sources([b for b in results.bench if b.kind == "models"], self.out_dir), ""]
            self.figure("training throughput by op backend", lambda p: figures.model_speedups(models, p),
                        "model_speedups")
            self.lines += _model_table(models)

    def taguchi(self, study: TaguchiStudy) -> None:
        rel = os.path.relpath(study.path, self.results.root).replace(os.sep, "/")
        name = "." if rel == "." else rel
        slug = re.sub(r"[^A-Za-z0-9]+", "_", rel).strip("_") or "taguchi"
        slug = slug if slug.startswith("taguchi") else "taguchi_" + slug
        self.lines += [f"## Taguchi study `{name}`", ""]
        for png in study.figures:
            title = os.path.splitext(os.path.basename(png))[0].replace("_", " ")
            self.lines += [f"![{title}]({_link(png, self.out_dir)})", "", f"*{title}*", ""]
        if study.has_contribution:
            self.figure(f"ANOVA contribution ({name})", lambda p: figures.anova_contribution(study.anova, p),
                        f"{slug}_contribution")
        self.lines += ["### ANOVA", "", *markdown_table(study.anova_columns, [[r[c] for c in study.anova_columns]
                                                                          for r in study.anova]), ""]
        self.lines += ["### Response table (`taguchi_report.csv`)", "",
                       *markdown_table(study.report_columns, [[r[c] for c in study.report_columns]
                                                              for r in study.report]), ""]


def _mean_std(values: Sequence[float]) -> str | None:
    if not values:
        return None
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.4g}"
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return f"{mean:.4g} ± {std:.2g}"


def _sources(bench, out_dir: str) -> str:
    return "From " + ", ".join(f"[`{os.path.basename(b.path)}`]({_link(b.path, out_dir)})"
                               + (f" ({b.threads} threads)" if b.threads else "") for b in bench) + "."


def _ms(record: Mapping | None, key: str) -> Any:
    return None if record is None else record.get(key)


def _op_table(records: Sequence[Mapping]) -> list[str]:
    rows: dict[tuple, dict[str, Mapping]] = {}
    for r in records:
        key = (r["op"], figures.shape_text(r["shape"]), r.get("dtype"), r.get("device"))
        rows.setdefault(key, {})[figures.PASS_NAMES.get(r["pass"], r["pass"])] = r
    body = []
    for key, passes in rows.items():
        cells = list(key)
        for p in ("fwd", "fwd+bwd"):
            r = passes.get(p)
            cells += [_ms(r, "reference_ms"), _ms(r, "kernel_ms"),
                      None if r is None else f"**{r['speedup']:.2f}×**"]
        body.append(cells)
    return markdown_table(["op", "B×C×H×W", "dtype", "device", "fwd ref ms", "fwd kernel ms", "fwd speedup",
                           "fwd+bwd ref ms", "fwd+bwd kernel ms", "fwd+bwd speedup"], body) + [""]


def _model_table(records: Sequence[Mapping]) -> list[str]:
    ips = {(r["model"], r["backend"]): r["images_per_second"] for r in records}
    body = []
    for r in records:
        ref = ips.get((r["model"], "reference"))
        ratio = f"{r['images_per_second'] / ref:.2f}×" if ref and r["backend"] != "reference" else None
        body.append([r["model"], r["backend"], r.get("device"), r.get("batch"), r.get("size"),
                     r.get("params"), r.get("ms_per_step"), r["images_per_second"], ratio])
    return markdown_table(["model", "backend", "device", "batch", "size", "params", "ms / step", "images / s",
                           "vs reference"], body) + [""]


def build_report(results_dir: str, out_dir: str | None = None) -> str:
    """Writes ``out_dir/figures/*.png|pdf`` and ``out_dir/summary.md`` (default ``out_dir``: RESULTS_DIR/report).

    Raises ``FileNotFoundError`` for a missing ``results_dir``; malformed files inside it are skipped and
    listed under "Notes" in the summary. Returns the path of ``summary.md``.
    """
    out_dir = out_dir or os.path.join(results_dir, "report")
    results = load_results(results_dir, skip=[out_dir])
    os.makedirs(out_dir, exist_ok=True)
    report = _Report(results, out_dir)
    report.lines += ["# Results report", "", f"Results folder: `{_link(results_dir, out_dir)}` "
                     f"(relative to this file).", ""]
    if results.empty:
        report.lines += ["Nothing was found: no `summary.csv` ledger, no run folders under `runs/`, "
                         "no `specdiff bench` JSON and no Taguchi study (`taguchi_report.csv` + `anova.csv`).", ""]
    else:
        counts = [("ledger rows", len(results.ledger)), ("run folders", len(results.runs)),
                  ("op benchmark records", len(results.op_records)),
                  ("model benchmark records", len(results.model_records)), ("Taguchi studies", len(results.taguchi))]
        report.lines += ["Found: " + ", ".join(f"{name} {n}" for name, n in counts) + ".", ""]
        report.runs()
        report.bench()
        for study in results.taguchi:
            report.taguchi(study)
    if report.notes:
        report.lines += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    path = os.path.join(out_dir, "summary.md")
    with open(path, "w") as f:
        f.write("\n".join(report.lines).rstrip("\n") + "\n")
    return path
