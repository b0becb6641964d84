"""Taguchi figures: PNG and PDF written at the report's dpi, sized for a journal column, byte-reproducible,
drawn without pyplot."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from specdiff.experiments import analyze, orthogonal_array

pytest.importorskip("matplotlib")
from specdiff.experiments.plots import plot_contribution, plot_interaction, plot_main_effects  # noqa: E402
from specdiff.report.figures import COLUMN_WIDTH, DPI, Saved  # noqa: E402


@pytest.fixture(scope="module")
def study():
    l8 = orthogonal_array("L8")
    s = np.where(l8 == 0, 1.0, -1.0)
    eta = 10 + s[:, 0] + 0.5 * s[:, 3] + 2 * s[:, 2] + 0.1 * s[:, 4]
    return analyze(l8[:, [0, 1, 2, 3]], 10 ** (eta / 20), "larger", factors=["A", "B", "AxB", "C"], pool=["B"])


def _png_size(png: bytes) -> tuple[int, int, float]:
    """IHDR width and height in pixels and the pHYs resolution in dots per inch."""
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    phys = png.index(b"pHYs") + 4
    return width, height, int.from_bytes(png[phys:phys + 4], "big") * 0.0254


def _check(paths, tmp_path, stem, width_in):
    assert paths == [str(tmp_path / f"{stem}.png"), str(tmp_path / f"{stem}.pdf")]
    png, pdf = (open(p, "rb").read() for p in paths)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert pdf[:5] == b"%PDF-" and len(pdf) > 2000
    width, _, dpi = _png_size(png)
    assert width == round(width_in * DPI) and dpi == pytest.approx(DPI, abs=0.5)


def test_main_effects(study, tmp_path):
    _check(plot_main_effects(study, tmp_path / "main_effects", response_label="throughput (img/s)"),
           tmp_path, "main_effects", 0.75 * 4 + 0.8)  # wider than a column for four factors


def test_contribution(study, tmp_path):
    _check(plot_contribution(study, tmp_path / "contribution"), tmp_path, "contribution", COLUMN_WIDTH)


def test_interaction(study, tmp_path):
    _check(plot_interaction(study, tmp_path / "sub" / "interaction", "A", "B"), tmp_path / "sub", "interaction",
           COLUMN_WIDTH)
    with pytest.raises(ValueError, match="unknown factor"):
        plot_interaction(study, tmp_path / "x", "A", "Z")


@pytest.mark.parametrize("plot", [
    lambda s, p: plot_main_effects(s, p, level_labels={"A": ["tiny", "spectral"]}),
    plot_contribution,
    lambda s, p: plot_interaction(s, p, "A", "C"),
], ids=["main_effects", "contribution", "interaction"])
def test_saving_twice_gives_the_same_bytes(study, tmp_path, plot):
    first = [open(p, "rb").read() for p in plot(study, tmp_path / "a" / "fig")]
    second = [open(p, "rb").read() for p in plot(study, tmp_path / "b" / "fig")]
    assert first[0] == second[0]
    assert first[1] == second[1] and b"/CreationDate" not in first[1]


def test_plots_never_import_pyplot(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from specdiff.experiments import analyze, orthogonal_array
        from specdiff.experiments.plots import plot_contribution, plot_interaction, plot_main_effects

        arr = orthogonal_array("L4")
        y = 10 ** ((10 + np.where(arr[:, 0] == 0, 1.0, -1.0)) / 20)
        study = analyze(arr, y, "larger", factors=["A", "B", "C"])
        plot_main_effects(study, {str(tmp_path / "m")!r})
        plot_contribution(study, {str(tmp_path / "c")!r})
        plot_interaction(study, {str(tmp_path / "i")!r}, "A", "B")
        print("pyplot" if "matplotlib.pyplot" in sys.modules else "no pyplot")
    """)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["no", "pyplot"]
    assert all(os.path.getsize(tmp_path / f"{s}.{e}") > 1000 for s in "mci" for e in ("png", "pdf"))


def test_main_effects_names_the_levels(study, tmp_path, monkeypatch):
    import specdiff.experiments.plots as plots

    drawn = {}
    monkeypatch.setattr(plots, "save", lambda fig, path: drawn.setdefault("fig", Saved(fig, "", "")))
    labels = {"A": ["tiny", "spectral"], "C": ["eps", "v"]}
    plot_main_effects(study, tmp_path / "m", level_labels=labels)
    bottom = drawn["fig"].figure.axes[len(study.factors):]
    ticks = [[t.get_text() for t in ax.get_xticklabels()] for ax in bottom]
    assert ticks[0] == ["tiny", "spectral"] and ticks[3] == ["eps", "v"]
    assert ticks[1] == ["0", "1"]  # factors without names keep the level numbers
