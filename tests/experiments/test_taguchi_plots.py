"""Taguchi figures: PNG and PDF written, non-empty, sized for a journal column."""

import numpy as np
import pytest

from specdiff.experiments import analyze, orthogonal_array

pytest.importorskip("matplotlib")
from specdiff.experiments.plots import plot_contribution, plot_interaction, plot_main_effects  # noqa: E402


@pytest.fixture(scope="module")
def study():
    l8 = orthogonal_array("L8")
    s = np.where(l8 == 0, 1.0, -1.0)
    eta = 10 + s[:, 0] + 0.5 * s[:, 3] + 2 * s[:, 2] + 0.1 * s[:, 4]
    return analyze(l8[:, [0, 1, 2, 3]], 10 ** (eta / 20), "larger", factors=["A", "B", "AxB", "C"], pool=["B"])


def _check(paths, tmp_path, stem):
    assert paths == [str(tmp_path / f"{stem}.png"), str(tmp_path / f"{stem}.pdf")]
    png, pdf = (open(p, "rb").read() for p in paths)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert pdf[:5] == b"%PDF-" and len(pdf) > 2000
    width = int.from_bytes(png[16:20], "big")  # IHDR width at 300 dpi: about a 3.5 in column
    assert 700 < width < 2300


def test_main_effects(study, tmp_path):
    _check(
        plot_main_effects(study, tmp_path / "main_effects", response_label="throughput (img/s)"),
        tmp_path,
        "main_effects",
    )


def test_contribution(study, tmp_path):
    _check(plot_contribution(study, tmp_path / "contribution"), tmp_path, "contribution")


def test_interaction(study, tmp_path):
    _check(plot_interaction(study, tmp_path / "sub" / "interaction", "A", "B"), tmp_path / "sub", "interaction")
    with pytest.raises(ValueError, match="unknown factor"):
        plot_interaction(study, tmp_path / "x", "A", "Z")


def test_main_effects_names_the_levels(study, tmp_path, monkeypatch):
    import specdiff.experiments.plots as plots

    drawn = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.setdefault("fig", fig) and [])
    labels = {"A": ["tiny", "spectral"], "C": ["eps", "v"]}
    plot_main_effects(study, tmp_path / "m", level_labels=labels)
    bottom = drawn["fig"].axes[len(study.factors):]
    ticks = [[t.get_text() for t in ax.get_xticklabels()] for ax in bottom]
    assert ticks[0] == ["tiny", "spectral"] and ticks[3] == ["eps", "v"]
    assert ticks[1] == ["0", "1"]  # factors without names keep the level numbers
