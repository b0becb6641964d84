"""The one number and table formatter: a missing value prints as MISSING in every summary specdiff writes."""

import math
import types

import numpy as np
import pytest

from specdiff.report.tables import MISSING, cell, format_number, markdown_table


@pytest.mark.parametrize("value", [None, math.nan, np.nan, np.float32("nan"), ""])
def test_missing_values_print_one_way(value):
    assert format_number(value) == MISSING == "—"
    assert format_number(value, ".2f") == MISSING
    assert cell(value) == MISSING


@pytest.mark.parametrize(("value", "spec", "text"), [
    (0.000123456, ".4g", "0.0001235"), (0, ".4g", "0"), (0.0, ".3f", "0.000"), (1234567, ",", "1,234,567"),
    (0.423, ".0%", "42%"), (math.inf, ".4g", "inf"), (np.float64(2.5), ".1f", "2.5"), (np.int64(7), "d", "7"),
])
def test_numbers_use_the_spec(value, spec, text):
    assert format_number(value, spec) == text


def test_cells():
    assert cell(1 / 3) == "0.3333" and cell(np.float32(0.5)) == "0.5" and cell(np.int64(12345678)) == "12345678"
    assert cell(True) == "True" and cell(3) == "3" and cell("1e-3") == "1e-3"  # text is kept as written
    assert cell("a|b\nc") == "a\\|b c"


def test_markdown_table():
    assert markdown_table(["x", "y|z"], [[1, None], ["a", 0.5]]) == [
        "| x | y\\|z |", "|---|---|", "| 1 | — |", "| a | 0.5 |"]
    assert markdown_table(["x"], []) == ["| x |", "|---|"]


def test_taguchi_analysis_marks_missing_f_and_p():
    from specdiff.experiments import analyze, orthogonal_array

    l4 = orthogonal_array("L4")
    md = analyze(l4, [1.0, 2.0, 4.0, 8.0], "larger", factors=["A", "B", "C"], pool=["C"]).to_markdown()
    pooled = next(line for line in md.splitlines() if line.startswith("| C (pooled) |"))
    assert pooled.endswith(f"| {MISSING} | {MISSING} | {MISSING} |")
    assert "nan" not in md and "| |" not in md and "|  |" not in md


def test_demo_summary_marks_missing_metrics(tmp_path):
    from specdiff.demo import _summary

    metrics = {"steps": 4, "batch_size": 8, "dataset": "piecewise", "num_parameters": 12345, "final_loss": 0.25,
               "loss_drop_per_second": None, "images_per_second": 812.34, "spectral_op_fraction": 0.423}
    row = {"model": "tiny_unet", "run": types.SimpleNamespace(metrics=metrics), "sample_s": 1.26,
           "config": types.SimpleNamespace(sampling=types.SimpleNamespace(sampler="dpm_solver++"),
                                           diffusion=types.SimpleNamespace(uniform_corruption=False)),
           "samples": str(tmp_path / "samples"),
           "eval": {"metrics": {"fid_offline": 12.5, "spectral_distance_db": 1.234}}}
    text = _summary(str(tmp_path), [row], str(tmp_path / "loss.png"), 3.0)
    expected = (f"| tiny_unet | 12,345 | 0.25 | {MISSING} | 812.3 | 42% | 1.3 | white | 12.5 | {MISSING} | 1.23 | "
                f"{MISSING} | {MISSING} | {MISSING} |")
    assert expected in text
    assert "n/a" not in text and "offline feature extractor: FID/KID" in text
