"""Figures of a Taguchi analysis: main effects, ANOVA contribution, two-factor interaction.

Each function takes an `Analysis` and a path without suffix, writes `<path>.png` and `<path>.pdf` and
returns both paths. Drawn with the report's figure helpers (`specdiff.report.figures`): the same style,
dpi and reproducible PDFs, on `Figure` objects without pyplot. Sized for a 3.5 in journal column (wider
only when many factors need it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from specdiff.report.figures import COLUMN_WIDTH, color, new_figure, save, style

from .analysis import Analysis

_GREY = "0.5"


def plot_main_effects(analysis: Analysis, path: str | Path, response_label: str = "mean response",
                      level_labels: dict[str, Sequence[str]] | None = None) -> list[str]:
    """Main-effects plot: mean response (top row) and mean S/N (bottom row) per level, one panel per
    factor, y shared along each row, grand means dashed. `response_label` should carry the unit of y;
    `level_labels` (factor -> names of its levels) labels the x ticks instead of the level numbers."""
    factors = analysis.factors
    nf = len(factors)
    width = max(COLUMN_WIDTH, min(7.2, 0.75 * nf + 0.8))
    with style():
        fig = new_figure(width, 2.6)
        axes = fig.subplots(2, nf, sharey="row", squeeze=False)
        rows = (("mean", response_label, float(analysis.mean.mean()), color(0)),
                ("snr", "S/N (dB)", float(analysis.snr.mean()), color(3)))
        for r, (kind, label, grand, line_color) in enumerate(rows):
            for c, f in enumerate(factors):
                t = analysis.response[f]
                values = t.mean if kind == "mean" else t.snr
                ax = axes[r, c]
                ax.plot(np.arange(len(values)), values, "o-", color=line_color, ms=3, lw=1, gid=f"{kind}:{f}")
                ax.axhline(grand, color=_GREY, ls="--", lw=0.7)
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
        return save(fig, path).paths


def plot_contribution(analysis: Analysis, path: str | Path) -> list[str]:
    """Horizontal bars of the ANOVA percent contribution ρ of each unpooled factor and of the error
    (pooled factors are part of the error bar, named in its label)."""
    rows = [(a.name, a.contribution) for a in analysis.anova if not a.pooled]
    error_label = "error" + (f" (pooled: {', '.join(analysis.pooled)})" if analysis.pooled else "")
    rows.append((error_label, analysis.error.contribution))
    rows = [(n, 0.0 if np.isnan(v) else v) for n, v in rows]
    with style():
        fig = new_figure(COLUMN_WIDTH, 0.25 * len(rows) + 0.8)
        ax = fig.subplots()
        y = np.arange(len(rows))[::-1]
        colors = [color(0)] * (len(rows) - 1) + ["#CCCCCC"]
        ax.barh(y, [v for _, v in rows], color=colors, height=0.65, gid="contribution")
        for yi, (_, v) in zip(y, rows, strict=True):
            ax.text(max(v, 0.0) + 1.0, yi, f"{v:.1f}", va="center", fontsize=7)
        ax.set_yticks(y)
        ax.set_yticklabels([n for n, _ in rows])
        ax.set_xlabel("contribution ρ (%)")
        ax.set_xlim(min(0.0, min(v for _, v in rows)), 110)
        ax.grid(axis="y", visible=False)
        return save(fig, path).paths


def plot_interaction(analysis: Analysis, path: str | Path, a: str, b: str) -> list[str]:
    """Interaction plot of factors a and b: mean S/N of each level combination, level of a on the x
    axis, one line per level of b. Parallel lines mean no interaction."""
    table = analysis.interaction_table(a, b)
    with style():
        fig = new_figure(COLUMN_WIDTH, 2.4)
        ax = fig.subplots()
        x = np.arange(table.shape[0])
        for j in range(table.shape[1]):
            ax.plot(x, table[:, j], "o-", ms=3, lw=1, color=color(j), label=f"{b} = {j}", gid=f"interaction:{b}={j}")
        ax.set_xticks(x)
        ax.set_xlabel(f"level of {a}")
        ax.set_ylabel("S/N (dB)")
        ax.set_title(f"interaction {a} × {b}")
        ax.legend()
        return save(fig, path).paths
