"""Report figures, one function per figure; each writes ``<stem>.png`` and ``<stem>.pdf`` and returns :class:`Saved`.

Sized for print: 3.5 in (one column) or 7 in (full width) wide, 7-8 pt text, 200 dpi PNG and a vector PDF
with TrueType fonts (``pdf.fonttype`` 42, so the text stays editable). Figures are drawn on
``matplotlib.figure.Figure`` objects, never through pyplot, so nothing global (backend, open figures)
changes; PNGs are rendered by Agg. Colours are the Okabe–Ito palette, which stays distinct for
colour-blind readers and in greyscale print.

Every plotted series carries a ``gid`` (``"<what>:<name>"``) so callers and tests can find it. The Taguchi
plots (:mod:`specdiff.experiments.plots`) draw with the same :func:`style`, :func:`new_figure` and :func:`save`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from specdiff.report.results import finite

COLUMN_WIDTH = 3.5  # in
PAGE_WIDTH = 7.0  # in
DPI = 200
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MAX_LEGEND = 10
MAX_POINT_LABELS = 15
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "lines.linewidth": 1.2,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.4,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
}
PASS_NAMES = {"fwd": "fwd", "fwdbwd": "fwd+bwd", "fwd+bwd": "fwd+bwd"}


@dataclasses.dataclass
class Saved:
    """A drawn figure and the two files written from it."""

    figure: Any  # matplotlib.figure.Figure
    png: str
    pdf: str

    @property
    def paths(self) -> list[str]:
        return [self.png, self.pdf]


@contextlib.contextmanager
def style():
    """The package's figure style (:data:`STYLE`) for drawing and saving; rcParams are restored afterwards."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def new_figure(width: float, height: float):
    """A ``matplotlib.figure.Figure`` of ``width`` × ``height`` inches with constrained layout (no pyplot)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(fig, path: str | os.PathLike) -> Saved:
    """Writes ``<stem>.png`` at :data:`DPI` and ``<stem>.pdf``; ``path`` is the stem, or either file name."""
    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    if ext.lower() not in (".png", ".pdf"):
        stem = path
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    png, pdf = stem + ".png", stem + ".pdf"
    fig.savefig(png, dpi=DPI)
    # No creation date, so rebuilding a report from the same results gives the same PDF bytes.
    fig.savefig(pdf, metadata={"CreationDate": None})
    return Saved(fig, png, pdf)


def color(i: int) -> str:
    """The ``i``-th colour of :data:`PALETTE`, cycling."""
    return PALETTE[i % len(PALETTE)]


def _spans_decades(values: Sequence[float]) -> bool:
    values = [v for v in values if finite(v) and v > 0]
    return len(values) > 1 and max(values) / min(values) > 10


def _finite_rows(rows: Sequence[Mapping], key: str) -> list[Mapping]:
    return [r for r in rows if finite(r.get(key))]


def loss_curves(runs: Mapping[str, Sequence[Mapping]], path: str) -> Saved:
    """Loss against step (and against training seconds when every record has ``elapsed_s``), one colour per run.

    ``runs`` maps a run name to its train.jsonl records (``step``, ``loss``, optional ``loss_smooth``,
    ``elapsed_s``). The raw loss is drawn faint, the smoothed loss solid; the y axis is logarithmic when the
    losses span more than a decade.
    """
    curves = {name: list(records) for name, records in runs.items() if records}
    if not curves:
        raise ValueError("loss_curves: no run has logged losses")
    timed = all(finite(r.get("elapsed_s")) for records in curves.values() for r in records)
    losses = [r["loss"] for records in curves.values() for r in records]
    losses += [r["loss_smooth"] for records in curves.values() for r in records if finite(r.get("loss_smooth"))]
    with style():
        fig = new_figure(PAGE_WIDTH if timed else COLUMN_WIDTH, 2.6)
        axes = fig.subplots(1, 2 if timed else 1, squeeze=False)[0]
        for ax, x_key, x_label in zip(axes, ("step", "elapsed_s"), ("step", "training time (s)"), strict=False):
            for i, (name, records) in enumerate(curves.items()):
                xs = [r[x_key] for r in records]
                smooth = [r for r in records if finite(r.get("loss_smooth"))]
                ax.plot(xs, [r["loss"] for r in records], color=color(i), alpha=0.35 if smooth else 1.0,
                        linewidth=0.6 if smooth else 1.2, gid=f"loss:{name}",
                        label=f"_{name}" if smooth else name)
                if smooth:
                    ax.plot([r[x_key] for r in smooth], [r["loss_smooth"] for r in smooth], color=color(i),
                            gid=f"loss_smooth:{name}", label=name)
            ax.set_xlabel(x_label)
            ax.set_ylabel("loss")
            if _spans_decades(losses):
                ax.set_yscale("log")
        if len(curves) <= MAX_LEGEND:
            axes[-1].legend(loc="upper right")
        return save(fig, path)


def throughput_bars(rows: Sequence[Mapping], path: str, by: str = "auto") -> Saved:
    """Training throughput in images / s per run (or per model: mean over its runs), compute and wall clock.

    ``rows`` are ledger rows; ``images_per_second`` counts training-step time only, ``images_per_second_wall``
    the whole run. ``by`` is ``"run"``, ``"model"`` or ``"auto"`` (per run up to 12 runs).
    """
    if by not in ("auto", "run", "model"):
        raise ValueError(f"by must be auto, run or model, got {by!r}")
    rows = _finite_rows(rows, "images_per_second")
    if not rows:
        raise ValueError("throughput_bars: no row has images_per_second")
    if by == "auto":
        by = "run" if len(rows) <= 12 else "model"
    groups: dict[str, list[Mapping]] = {}
    for r in rows:
        groups.setdefault(str(r["run_id"] if by == "run" else r.get("model") or "?"), []).append(r)
    labels = [name if by == "run" or len(g) == 1 else f"{name} (n={len(g)})" for name, g in groups.items()]

    def mean(group, key):
        values = [r[key] for r in group if finite(r.get(key))]
        return sum(values) / len(values) if values else 0.0

    series = [("compute", "images_per_second"), ("wall clock", "images_per_second_wall")]
    series = [(n, k) for n, k in series if any(finite(r.get(k)) for r in rows)]
    height = 0.8 / len(series)
    with style():
        fig = new_figure(COLUMN_WIDTH, 1.1 + 0.22 * len(groups) * len(series))
        ax = fig.subplots()
        for j, (name, key) in enumerate(series):
            ys = [i + (j - (len(series) - 1) / 2) * height for i in range(len(groups))]
            ax.barh(ys, [mean(g, key) for g in groups.values()], height=height, color=color(j), label=name,
                    gid=f"throughput:{key}")
        ax.set_yticks(range(len(groups)), labels)
        ax.invert_yaxis()
        ax.set_xlabel("images / s")
        ax.grid(axis="y", visible=False)
        if len(series) > 1:
            fig.legend(loc="outside upper center", ncols=len(series))
        return save(fig, path)


def tradeoff(rows: Sequence[Mapping], path: str) -> Saved:
    """Final loss and loss drop / s against throughput, one point per run (labelled), one colour per model."""
    panels = [(k, label) for k, label in (("final_loss", "final loss"), ("loss_drop_per_second", "loss drop / s"))
              if _finite_rows(_finite_rows(rows, "images_per_second"), k)]
    if not panels:
        raise ValueError("tradeoff: no row has images_per_second with final_loss or loss_drop_per_second")
    models = list(dict.fromkeys(str(r.get("model") or "?") for r in rows))
    with style():
        fig = new_figure(COLUMN_WIDTH * len(panels), 2.6)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (key, label) in zip(axes, panels, strict=True):
            points = _finite_rows(_finite_rows(rows, "images_per_second"), key)
            for i, model in enumerate(models):
                mine = [r for r in points if str(r.get("model") or "?") == model]
                if mine:
                    ax.scatter([r["images_per_second"] for r in mine], [r[key] for r in mine], s=14,
                               color=color(i), label=model, gid=f"{key}:{model}", zorder=3)
            if len(points) <= MAX_POINT_LABELS:
                for r in points:
                    ax.annotate(str(r["run_id"]), (r["images_per_second"], r[key]), xytext=(3, 3),
                                textcoords="offset points", fontsize=6.5)
            if _spans_decades([r["images_per_second"] for r in points]):
                ax.set_xscale("log")
            ax.set_xlabel("images / s")
            ax.set_ylabel(label)
        if len(models) > 1:
            axes[0].legend(loc="best")
        return save(fig, path)


def replicate_distributions(groups: Mapping[str, Sequence[Mapping]], path: str) -> Saved:
    """Final loss and loss drop / s over the replicates (seeds) of each config: a box per group with every run on it."""
    metrics = [(k, label) for k, label in (("final_loss", "final loss"), ("loss_drop_per_second", "loss drop / s"))
               if any(finite(r.get(k)) for g in groups.values() for r in g)]
    if not groups or not metrics:
        raise ValueError("replicate_distributions: no group has final_loss or loss_drop_per_second")
    names = list(groups)
    with style():
        fig = new_figure(COLUMN_WIDTH * len(metrics), 0.9 + 0.4 * len(names))
        axes = fig.subplots(1, len(metrics), squeeze=False, sharey=True)[0]
        for ax, (key, label) in zip(axes, metrics, strict=True):
            values = [[r[key] for r in groups[n] if finite(r.get(key))] for n in names]
            drawn = [i for i, v in enumerate(values) if v]
            ax.boxplot([values[i] for i in drawn], positions=drawn, orientation="horizontal", widths=0.5,
                       showfliers=False, medianprops={"color": "black"})
            for i in drawn:
                # Spread the points evenly across the box height so equal values stay visible.
                n = len(values[i])
                offsets = [0.0] if n == 1 else [-0.15 + 0.3 * j / (n - 1) for j in range(n)]
                ax.scatter(values[i], [i + o for o in offsets], s=10, color=color(i), zorder=3,
                           gid=f"{key}:{names[i]}")
            ax.set_xlabel(label)
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(range(len(names)), [f"{n} (n={len(groups[n])})" for n in names])
        axes[0].set_ylim(len(names) - 0.5, -0.5)
        return save(fig, path)


def shape_text(shape) -> str:
    return "×".join(map(str, shape)) if isinstance(shape, (list, tuple)) else str(shape)


def kernel_speedups(records: Sequence[Mapping], path: str) -> Saved:
    """Kernel speedup over the pure-PyTorch reference per (op, shape), fwd and fwd+bwd side by side; 1× marked."""
    if not records:
        raise ValueError("kernel_speedups: no op records")
    varying = [k for k in ("dtype", "device") if len({r.get(k) for r in records}) > 1]
    categories: dict[tuple, dict[str, Mapping]] = {}
    for r in records:
        key = (r["op"], shape_text(r["shape"]), *(r.get(k) for k in varying))
        categories.setdefault(key, {})[PASS_NAMES.get(r["pass"], r["pass"])] = r
    passes = list(dict.fromkeys(p for c in categories.values() for p in c))
    passes.sort(key=lambda p: list(PASS_NAMES.values()).index(p) if p in PASS_NAMES.values() else 99)
    height = 0.8 / len(passes)
    with style():
        width = PAGE_WIDTH if len(categories) > 12 else COLUMN_WIDTH
        fig = new_figure(width, 1.1 + 0.22 * len(categories) * len(passes))
        ax = fig.subplots()
        top = max([r["speedup"] for r in records if finite(r["speedup"])], default=1.0)
        for j, p in enumerate(passes):
            ys, widths = [], []
            for i, c in enumerate(categories.values()):
                if p in c and finite(c[p]["speedup"]):
                    ys.append(i + (j - (len(passes) - 1) / 2) * height)
                    widths.append(c[p]["speedup"])
            bars = ax.barh(ys, widths, height=height, color=color(j), label=p, gid=f"speedup:{p}")
            # White behind the numbers so the parity line does not strike through them.
            ax.bar_label(bars, labels=[f"{w:.2f}×" for w in widths], padding=2, fontsize=6.5,
                         bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.3})
        ax.axvline(1.0, color="black", linestyle="--", linewidth=0.8, gid="parity")
        ax.set_xlim(0, max(top, 1.0) * 1.18)
        ax.set_yticks(range(len(categories)), ["  ".join(map(str, k)) for k in categories])
        ax.invert_yaxis()
        ax.set_xlabel("speedup over reference (×)")
        ax.grid(axis="y", visible=False)
        fig.legend(loc="outside upper center", ncols=len(passes))
        return save(fig, path)


def model_speedups(records: Sequence[Mapping], path: str) -> Saved:
    """Training images / s per model under each op backend (``specdiff bench models``); kernel/reference on top."""
    if not records:
        raise ValueError("model_speedups: no model records")
    models = list(dict.fromkeys(r["model"] for r in records))
    backends = list(dict.fromkeys(r["backend"] for r in records))
    backends.sort(key=lambda b: {"reference": 0, "kernel": 1}.get(b, 2))
    ips = {(r["model"], r["backend"]): r["images_per_second"] for r in records}
    width = 0.8 / len(backends)
    with style():
        fig = new_figure(COLUMN_WIDTH, 2.4)
        ax = fig.subplots()
        for j, b in enumerate(backends):
            xs = [i + (j - (len(backends) - 1) / 2) * width for i, m in enumerate(models) if (m, b) in ips]
            ax.bar(xs, [ips[(m, b)] for m in models if (m, b) in ips], width=width, color=color(j), label=b,
                   gid=f"images_per_second:{b}")
        for i, m in enumerate(models):
            if (m, "kernel") in ips and (m, "reference") in ips and ips[(m, "reference")] > 0:
                ratio = ips[(m, "kernel")] / ips[(m, "reference")]
                ax.annotate(f"{ratio:.2f}×", (i, max(ips[(m, "kernel")], ips[(m, "reference")])),
                            xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7, gid=f"ratio:{m}")
        ax.set_xticks(range(len(models)), models)
        ax.set_ylabel("images / s")
        ax.margins(y=0.15)
        ax.grid(axis="x", visible=False)
        fig.legend(loc="outside upper center", ncols=len(backends))
        return save(fig, path)


def _truthy(text: Any) -> bool:
    return str(text).strip().lower() in ("1", "true", "yes", "y", "pooled")


def _contribution_color(factor: str, pooled: bool) -> str:
    if pooled:
        return "#999999"
    return "#CCCCCC" if factor.strip().lower() in ("error", "residual", "pooled error", "e") else PALETTE[0]


def anova_contribution(rows: Sequence[Mapping], path: str) -> Saved:
    """Percent contribution of each factor (from ``anova.csv``), largest first; pooled factors hatched, error grey.

    Contributions that sum to at most 1 are read as fractions and shown as percent.
    """
    parsed = []
    for r in rows:
        value = float(r["contribution"])
        if math.isfinite(value) and str(r["factor"]).lower() != "total":
            parsed.append((str(r["factor"]), value, _truthy(r.get("pooled", ""))))
    if not parsed:
        raise ValueError("anova_contribution: no factor has a contribution")
    if 0 < sum(v for _, v, _ in parsed) <= 1.0 + 1e-9:
        parsed = [(f, 100 * v, p) for f, v, p in parsed]
    parsed.sort(key=lambda t: -t[1])
    with style():
        fig = new_figure(COLUMN_WIDTH, 0.9 + 0.25 * len(parsed))
        ax = fig.subplots()
        bars = ax.barh(range(len(parsed)), [v for _, v, _ in parsed], height=0.6, gid="contribution",
                       color=[_contribution_color(f, p) for f, _, p in parsed])
        for bar, (_, _, pooled) in zip(bars, parsed, strict=True):
            if pooled:
                bar.set_hatch("///")
        ax.bar_label(bars, labels=[f"{v:.1f}" for _, v, _ in parsed], padding=2, fontsize=6.5)
        ax.set_yticks(range(len(parsed)), [f + (" (pooled)" if p else "") for f, _, p in parsed])
        ax.invert_yaxis()
        ax.set_xlabel("contribution (%)")
        ax.margins(x=0.12)
        ax.grid(axis="y", visible=False)
        return save(fig, path)


def _band_panels(runs: Mapping[str, Sequence[Mapping]], rows: Sequence[tuple[str, str, bool]], x_key: str,
                 x_label: str, title: str, path: str) -> Saved:
    """One row of low / mid / high panels per ``(key prefix, y label, log y)`` in ``rows``; one line per run."""
    from specdiff.eval.spectral import BANDS

    if not runs or not any(runs.values()):
        raise ValueError(f"{title}: no rows to plot")
    with style():
        fig = new_figure(PAGE_WIDTH, 1.9 * len(rows) + 0.4)
        axes = fig.subplots(len(rows), len(BANDS), squeeze=False)
        for r, (prefix, label, log) in enumerate(rows):
            for b, band in enumerate(BANDS):
                ax = axes[r][b]
                key = f"{prefix}{band}"
                for i, (name, points) in enumerate(runs.items()):
                    pts = sorted((p[x_key], p[key]) for p in points if finite(p.get(key)))
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=2.5, color=color(i),
                            label=name, gid=f"{key}:{name}")
                if log:
                    ax.set_yscale("log")
                else:
                    ax.axhline(0.0, color="black", linewidth=0.6)
                ax.set_title(f"{band} band")
                ax.set_xlabel(x_label)
                ax.set_ylabel(label)
        axes[0][0].legend(loc="best")
        fig.suptitle(title)
        return save(fig, path)


def band_denoising_error(runs: Mapping[str, Sequence[Mapping]], path: str) -> Saved:
    """x0 error energy per band against t (log scale) and the x0 prediction's gain per band in dB, one line per run
    (:func:`specdiff.eval.diagnose.band_denoising_error` rows)."""
    return _band_panels(runs, [("error_", "x0 error energy / pixel", True), ("gain_db_", "x0̂ / x0 power (dB)", False)],
                        "t", "timestep t", "denoising error per band", path)


def trajectory_bands(runs: Mapping[str, Sequence[Mapping]], path: str) -> Saved:
    """Band power of the x0 predictions (against the data) and of x_t (against the forward process) along a sampler
    run, in dB, one line per run (:func:`specdiff.eval.diagnose.trajectory_bands` rows)."""
    return _band_panels(runs, [("x0_db_", "x0̂ power vs data (dB)", False),
                               ("xt_db_", "x_t power vs forward (dB)", False)],
                        "t", "timestep t (sampling runs right to left)", "what the sampler sees", path)
