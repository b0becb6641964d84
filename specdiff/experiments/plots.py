"""Figures of a Taguchi analysis: main effects, ANOVA contribution, two-factor interaction.

Each function takes an `Analysis` and a path without suffix, writes `<path>.png` (300 dpi) and
`<path>.pdf`, and returns both paths. Sized for a 3.5 in journal column (wider only when many factors
need it); matplotlib is imported inside the functions with the Agg backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

# One figure style for the whole package (sizes readable at a 3.5 in column width).
from specdiff.report.figures import COLUMN_WIDTH as _COLUMN_IN
from specdiff.report.figures import STYLE as _STYLE

from .analysis import Analysis


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> list[str]:
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for suffix, kwargs in ((".png", {"dpi": 300}), (".pdf", {})):
        target = base.with_name(base.name + suffix)
        fig.savefig(target, bbox_inches="tight", **kwargs)
        out.append(str(target))
    return out


def plot_main_effects(analysis: Analysis, path: str | Path, response_label: str = "mean response",
                      level_labels: dict[str, Sequence[str]] | None = None) -> list[str]:
    """Main-effects plot: mean response (top row) and mean S/N (bottom row) per level, one panel per
    factor, y shared along each row, grand means dashed. `response_label` should carry the unit of y;
    `level_labels` (factor -> names of its levels) labels the x ticks instead of the level numbers."""
    plt = _pyplot()
    factors = analysis.factors
    nf = len(factors)
    width = max(_COLUMN_IN, min(7.2, 0.75 * nf + 0.8))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(2, nf, figsize=(width, 2.6), sharey="row", squeeze=False)
        rows = (("mean", response_label, float(analysis.mean.mean())), ("snr", "S/N (dB)", float(analysis.snr.mean())))
        for r, (kind, label, grand) in enumerate(rows):
            for c, f in enumerate(factors):
                t = analysis.response[f]
                values = t.mean if kind == "mean" else t.snr
                ax = axes[r, c]
                ax.plot(np.arange(len(values)), values, "o-", color="C0" if kind == "mean" else "C3", ms=3, lw=1)
                ax.axhline(grand, color="0.5", ls="--", lw=0.7)
                ax.set_xticks(np.arange(len(values)))
                ax.set_xlim(-0.4, len(values) - 0.6)
                names = (level_labels or {}).get(f)
                if r == 0:
                    ax.set_title(f)
                    if names is not None:
                        ax.tick_params(labelbottom=False)
                elif names is not None:
                    ax.set_xticklabels([str(n) for n in names], rotation=35, ha="right")
                else:
                    ax.set_xlabel("level")
                if c == 0:
                    ax.set_ylabel(label)
        fig.tight_layout(pad=0.3, w_pad=0.2, h_pad=0.4)
        try:
            return _save(fig, path)
        finally:
            plt.close(fig)


def plot_contribution(analysis: Analysis, path: str | Path) -> list[str]:
    """Horizontal bars of the ANOVA percent contribution ρ of each unpooled factor and of the error
    (pooled factors are part of the error bar, named in its label)."""
    plt = _pyplot()
    rows = [(a.name, a.contribution) for a in analysis.anova if not a.pooled]
    error_label = "error" + (f" (pooled: {', '.join(analysis.pooled)})" if analysis.pooled else "")
    rows.append((error_label, analysis.error.contribution))
    rows = [(n, 0.0 if np.isnan(v) else v) for n, v in rows]
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(_COLUMN_IN, 0.25 * len(rows) + 0.8))
        y = np.arange(len(rows))[::-1]
        colors = ["C0"] * (len(rows) - 1) + ["0.6"]
        ax.barh(y, [v for _, v in rows], color=colors, height=0.65)
        for yi, (_, v) in zip(y, rows, strict=True):
            ax.text(max(v, 0.0) + 1.0, yi, f"{v:.1f}", va="center", fontsize=7)
        ax.set_yticks(y)
        ax.set_yticklabels([n for n, _ in rows])
        ax.set_xlabel("contribution ρ (%)")
        ax.set_xlim(min(0.0, min(v for _, v in rows)), 110)
        fig.tight_layout(pad=0.3)
        try:
            return _save(fig, path)
        finally:
            plt.close(fig)


def plot_interaction(analysis: Analysis, path: str | Path, a: str, b: str) -> list[str]:
    """Interaction plot of factors a and b: mean S/N of each level combination, level of a on the x
    axis, one line per level of b. Parallel lines mean no interaction."""
    plt = _pyplot()
    table = analysis.interaction_table(a, b)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(_COLUMN_IN, 2.4))
        x = np.arange(table.shape[0])
        for j in range(table.shape[1]):
            ax.plot(x, table[:, j], "o-", ms=3, lw=1, label=f"{b} = {j}")
        ax.set_xticks(x)
        ax.set_xlabel(f"level of {a}")
        ax.set_ylabel("S/N (dB)")
        ax.set_title(f"interaction {a} × {b}")
        ax.legend(frameon=False)
        fig.tight_layout(pad=0.3)
        try:
            return _save(fig, path)
        finally:
            plt.close(fig)
