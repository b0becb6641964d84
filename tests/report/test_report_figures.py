"""Each figure: both files written, and what it draws is the data it was given."""

import os
import struct

import pytest
from reportutil import ANOVA, MODEL_RECORDS, OP_RECORDS, make_log

from specdiff.report import figures


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def assert_files(saved, stem):
    assert saved.paths == [str(stem) + ".png", str(stem) + ".pdf"]
    with open(saved.pdf, "rb") as f:
        assert f.read(5) == b"%PDF-"
    width, height = png_size(saved.png)
    fig_w, fig_h = saved.figure.get_size_inches()
    assert (width, height) == (round(fig_w * figures.DPI), round(fig_h * figures.DPI))
    assert fig_w in (figures.COLUMN_WIDTH, 2 * figures.COLUMN_WIDTH, figures.PAGE_WIDTH)


def by_gid(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert len(found) == 1, gid
    return found[0]


def bars(ax, gid):
    """The bar patches drawn with ``gid``, in drawing order."""
    found = [p for p in ax.patches if p.get_gid() == gid]
    assert found, gid
    return found


def rows(*specs):
    return [{"run_id": r, "model": m, "final_loss": f, "loss_drop_per_second": d, "images_per_second": i,
             "images_per_second_wall": w} for r, m, f, d, i, w in specs]


LEDGER = rows(("a", "tiny", 0.2, 0.05, 900.0, 700.0), ("b", "tiny", 0.3, 0.04, 800.0, 650.0),
              ("c", "spec", 0.1, 0.02, 300.0, 250.0))


def test_loss_curves_plot_the_logged_values(tmp_path):
    runs = {"a": make_log([1.0, 0.5, 0.2]), "b": make_log([0.9, 0.6, 0.4])}
    saved = figures.loss_curves(runs, str(tmp_path / "loss"))
    assert_files(saved, tmp_path / "loss")
    by_step, by_time = saved.figure.axes
    assert (by_step.get_xlabel(), by_step.get_ylabel(), by_time.get_xlabel()) == ("step", "loss", "training time (s)")
    for name, log in runs.items():
        raw, smooth = by_gid(by_step, f"loss:{name}"), by_gid(by_step, f"loss_smooth:{name}")
        assert list(raw.get_xdata()) == [r["step"] for r in log]
        assert list(raw.get_ydata()) == [r["loss"] for r in log]
        assert list(smooth.get_ydata()) == [r["loss_smooth"] for r in log]
        assert list(by_gid(by_time, f"loss:{name}").get_xdata()) == [r["elapsed_s"] for r in log]
    assert [t.get_text() for t in by_time.get_legend().get_texts()] == ["a", "b"]
    assert by_step.get_yscale() == "linear"


def test_loss_curves_log_scale_and_no_time_panel(tmp_path):
    runs = {"a": [{"step": 1, "loss": 10.0}, {"step": 2, "loss": 0.5}]}  # no loss_smooth, no elapsed_s
    saved = figures.loss_curves(runs, str(tmp_path / "loss.png"))
    assert_files(saved, tmp_path / "loss")
    (ax,) = saved.figure.axes
    assert ax.get_yscale() == "log"
    assert list(by_gid(ax, "loss:a").get_ydata()) == [10.0, 0.5]
    with pytest.raises(ValueError, match="no run has logged losses"):
        figures.loss_curves({"a": []}, str(tmp_path / "x"))


def test_throughput_bars_per_run_and_per_model(tmp_path):
    saved = figures.throughput_bars(LEDGER, str(tmp_path / "tp"))
    assert_files(saved, tmp_path / "tp")
    (ax,) = saved.figure.axes
    assert ax.get_xlabel() == "images / s"
    assert [p.get_width() for p in bars(ax, "throughput:images_per_second")] == [900.0, 800.0, 300.0]
    assert [p.get_width() for p in bars(ax, "throughput:images_per_second_wall")] == [700.0, 650.0, 250.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]

    saved = figures.throughput_bars(LEDGER, str(tmp_path / "tp_model"), by="model")
    (ax,) = saved.figure.axes
    assert [p.get_width() for p in bars(ax, "throughput:images_per_second")] == [850.0, 300.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["tiny (n=2)", "spec"]
    with pytest.raises(ValueError, match="by must be"):
        figures.throughput_bars(LEDGER, str(tmp_path / "x"), by="seed")


def test_tradeoff_points_and_labels(tmp_path):
    saved = figures.tradeoff(LEDGER, str(tmp_path / "tradeoff"))
    assert_files(saved, tmp_path / "tradeoff")
    loss_ax, drop_ax = saved.figure.axes
    assert (loss_ax.get_xlabel(), loss_ax.get_ylabel(), drop_ax.get_ylabel()) == (
        "images / s", "final loss", "loss drop / s")
    assert by_gid(loss_ax, "final_loss:tiny").get_offsets().tolist() == [[900.0, 0.2], [800.0, 0.3]]
    assert by_gid(drop_ax, "loss_drop_per_second:spec").get_offsets().tolist() == [[300.0, 0.02]]
    assert sorted(t.get_text() for t in loss_ax.texts) == ["a", "b", "c"]


def test_tradeoff_skips_missing_metric(tmp_path):
    only_loss = [dict(r, loss_drop_per_second=None) for r in LEDGER]
    (ax,) = figures.tradeoff(only_loss, str(tmp_path / "t")).figure.axes
    assert ax.get_ylabel() == "final loss"


def test_replicate_distributions_show_every_run(tmp_path):
    groups = {"tiny": LEDGER[:2], "spec": LEDGER[2:]}
    saved = figures.replicate_distributions(groups, str(tmp_path / "rep"))
    assert_files(saved, tmp_path / "rep")
    loss_ax, drop_ax = saved.figure.axes
    assert by_gid(loss_ax, "final_loss:tiny").get_offsets()[:, 0].tolist() == [0.2, 0.3]
    assert by_gid(drop_ax, "loss_drop_per_second:spec").get_offsets()[:, 0].tolist() == [0.02]
    assert [t.get_text() for t in loss_ax.get_yticklabels()] == ["tiny (n=2)", "spec (n=1)"]
    assert (loss_ax.get_xlabel(), drop_ax.get_xlabel()) == ("final loss", "loss drop / s")


def test_kernel_speedups_grouped_by_op_shape_and_pass(tmp_path):
    saved = figures.kernel_speedups(OP_RECORDS, str(tmp_path / "kern"))
    assert_files(saved, tmp_path / "kern")
    (ax,) = saved.figure.axes
    assert ax.get_xlabel() == "speedup over reference (×)"
    assert [p.get_width() for p in bars(ax, "speedup:fwd")] == [2.5, 0.8]
    assert [p.get_width() for p in bars(ax, "speedup:fwd+bwd")] == [3.0, 1.6]
    assert list(by_gid(ax, "parity").get_xdata()) == [1.0, 1.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["spectral_filter2d  8×3×32×32", "complex_conv2d  8×6×16×16"]
    assert [t.get_text() for t in saved.figure.legends[0].get_texts()] == ["fwd", "fwd+bwd"]


def test_kernel_speedups_name_device_when_it_varies(tmp_path):
    records = [OP_RECORDS[0], dict(OP_RECORDS[0], device="cuda", speedup=9.0)]
    (ax,) = figures.kernel_speedups(records, str(tmp_path / "k")).figure.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["spectral_filter2d  8×3×32×32  cpu",
                                                           "spectral_filter2d  8×3×32×32  cuda"]
    assert [p.get_width() for p in bars(ax, "speedup:fwd")] == [2.5, 9.0]


def test_model_speedups(tmp_path):
    saved = figures.model_speedups(MODEL_RECORDS, str(tmp_path / "models"))
    assert_files(saved, tmp_path / "models")
    (ax,) = saved.figure.axes
    assert ax.get_ylabel() == "images / s"
    assert [p.get_height() for p in bars(ax, "images_per_second:reference")] == [400.0, 100.0]
    assert [p.get_height() for p in bars(ax, "images_per_second:kernel")] == [600.0, 250.0]
    assert by_gid(ax, "ratio:tiny_unet").get_text() == "1.50×"
    assert by_gid(ax, "ratio:spectral_unet").get_text() == "2.50×"


def test_anova_contribution_sorted_with_pooled_marked(tmp_path):
    import matplotlib.colors

    text_rows = [{k: str(v) for k, v in r.items()} for r in ANOVA]  # as csv.DictReader gives them
    saved = figures.anova_contribution(text_rows, str(tmp_path / "anova"))
    assert_files(saved, tmp_path / "anova")
    (ax,) = saved.figure.axes
    drawn = bars(ax, "contribution")
    assert [p.get_width() for p in drawn] == [60.0, 30.0, 5.0, 5.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["lr", "base_channels", "weighting (pooled)", "error"]
    assert [p.get_hatch() for p in drawn] == [None, None, "///", None]
    colors = [matplotlib.colors.to_hex(p.get_facecolor()) for p in drawn]
    assert colors[0] == colors[1] != colors[2] != colors[3] != colors[0]  # factors, pooled, error
    assert ax.get_xlabel() == "contribution (%)"
    fractions = [dict(r, contribution=str(float(r["contribution"]) / 100)) for r in text_rows]
    drawn = bars(figures.anova_contribution(fractions, str(tmp_path / "f")).figure.axes[0], "contribution")
    assert [p.get_width() for p in drawn] == pytest.approx([60.0, 30.0, 5.0, 5.0])


def test_style_does_not_leak(tmp_path):
    import matplotlib

    size = matplotlib.rcParams["font.size"]
    figures.loss_curves({"a": make_log([1.0, 0.5])}, str(tmp_path / "l"))
    assert matplotlib.rcParams["font.size"] == size
    assert os.path.exists(tmp_path / "l.pdf")
