"""``specdiff bench quality``: staged budgeted training, sampling and evaluation; records, table, plot, resume."""

from __future__ import annotations

import json
import math
import os

import pytest

from specdiff.bench.quality import (
    DATA,
    METRICS,
    SIGMA_MAX,
    _stage_step,
    format_markdown,
    mean_over_seeds,
    plot_quality,
)
from specdiff.cli import main
from specdiff.train import list_checkpoints, read_rows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs", "quality")
TINY = ["bench", "quality", "--model", "tiny_unet", "--dataset", "piecewise", "--seconds", "2", "--fractions",
        "0.5,1", "--seeds", "1", "--num-samples", "8", "--num-reference", "8", "--sampler-steps", "2",
        "--config-dir", CONFIGS, "--device", "cpu"]


def test_end_to_end_records_table_plot_and_resume(tmp_path, capsys):
    out = str(tmp_path)
    assert main([*TINY, "--output-dir", out]) == 0
    capsys.readouterr()
    names = sorted(os.listdir(tmp_path / "records"))
    assert names == ["data-piecewise.json", "tiny_unet-piecewise-seed0-2s-f0.5.json",
                     "tiny_unet-piecewise-seed0-2s-f1.json"]
    names = names[1:]
    half, full = (json.loads((tmp_path / "records" / n).read_text()) for n in names)
    for r, budget in ((half, 1.0), (full, 2.0)):
        assert (r["model"], r["dataset"], r["seed"], r["budget_s"], r["max_seconds"]) == (
            "tiny_unet", "piecewise", 0, 2.0, budget)
        assert r["stop_reason"] == "max_seconds" and r["seconds"] >= budget
        assert r["images_seen"] == 32 * r["steps"]
        assert set(r["metrics"]) == set(METRICS) and all(math.isfinite(v) for v in r["metrics"].values())
        assert r["settings"]["sampler"] == "dpm_solver++" and r["settings"]["order"] == 2
        assert r["settings"]["sigma_max"] == SIGMA_MAX == 15.0
        assert json.loads(open(os.path.join(r["samples"], "metadata.json")).read())["sigma_max"] == 15.0
        assert len([f for f in os.listdir(r["samples"]) if f.startswith("sample_")]) == 8
    assert half["steps"] >= 1
    if half["seconds"] < 2.0:  # else one cold first step spent both budgets: nothing left for the second stage
        assert full["steps"] > half["steps"] and full["seconds"] > half["seconds"]
        assert half["metrics"] != full["metrics"]  # other weights, the same noise: the samples changed
    run_dir = tmp_path / "runs" / "tiny_unet-piecewise-seed0-2s"
    assert [step for step, _ in list_checkpoints(str(run_dir / "checkpoints"))] == sorted(
        {half["steps"], full["steps"]})
    assert [int(r["steps"]) for r in read_rows(out)] == [half["steps"], full["steps"]]

    data = json.loads((tmp_path / "records" / "data-piecewise.json").read_text())
    assert (data["model"], data["dataset"], data["split"], data["images"]) == (DATA, "piecewise", "train", 8)
    assert set(data["metrics"]) == set(METRICS) and all(math.isfinite(v) for v in data["metrics"].values())
    assert data["settings"] == {"num_samples": 8, "num_reference": 8, "sample_seed": 0, "reference_seed": 0}
    reference = tmp_path / "reference"
    images = {name: sorted((reference / name).iterdir()) for name in os.listdir(reference)}
    train = next(name for name in images if name.startswith("piecewise-train-"))
    test = next(name for name in images if name != train)
    assert os.path.samefile(data["folder"], reference / train) and test.startswith("piecewise-")
    assert len(images[train]) == len(images[test]) == 8
    assert [p.read_bytes() for p in images[train]] != [p.read_bytes() for p in images[test]]

    assert "dpm_solver++ (2 steps, from the last timestep with σ/α <= 15)" in (tmp_path / "quality.md").read_text()
    table = (tmp_path / "quality.md").read_text().splitlines()
    rows = [line.split(" | ") for line in table if line.startswith("| piecewise | tiny_unet |")]
    assert [(row[2], int(row[5])) for row in rows] == [("0.5", half["steps"]), ("1", full["steps"])]
    data_rows = [line.split(" | ") for line in table if line.startswith("| piecewise | 8 |")]
    assert len(data_rows) == 1 and float(data_rows[0][2]) == pytest.approx(data["metrics"]["fid_offline"], abs=5e-3)
    for suffix in (".png", ".pdf"):
        assert (tmp_path / f"quality_piecewise{suffix}").stat().st_size > 0

    # A rerun skips both recorded stages: no training, the same records.
    before = {n: (tmp_path / "records" / n).read_text() for n in names}
    assert main([*TINY, "--output-dir", out]) == 0
    assert capsys.readouterr().err.count("recorded, skipped") == 3  # two stages and the training split
    assert {n: (tmp_path / "records" / n).read_text() for n in names} == before
    assert len(read_rows(out)) == 2


def test_mean_over_seeds_and_table():
    def record(seed, fraction, steps, fid, kid):
        metrics = dict.fromkeys(METRICS, 1.0) | {"fid_offline": fid, "kid_offline": kid}
        return {"dataset": "piecewise", "model": "m", "fraction": fraction, "seed": seed, "seconds": 2.0 * steps,
                "steps": steps, "images_seen": 4 * steps, "metrics": metrics}

    rows = mean_over_seeds([record(0, 0.5, 10, 4.0, None), record(1, 0.5, 12, 6.0, None), record(0, 1.0, 20, 2.0, 1.0)])
    assert [(r["fraction"], r["seeds"], r["steps"], r["seconds"], r["fid_offline"], r["kid_offline"])
            for r in rows] == [(0.5, 2, 11.0, 22.0, 5.0, None), (1.0, 1, 20.0, 40.0, 2.0, 1.0)]
    assert [(r["fid_offline_sd"], r["kid_offline_sd"], r["spectral_distance_db_sd"]) for r in rows] == [
        (pytest.approx(2**0.5), None, 0.0), (None, None, None)]  # n - 1: sd of 4 and 6 is sqrt(2); one seed: None
    text = format_markdown([record(0, 0.5, 10, 4.0, None)])
    assert "| piecewise | m | 0.5 | 1 | 20 | 10 | 40 | 4 | — |" in text
    assert "spread over seeds" not in text  # no row has two seeds
    text = format_markdown([record(0, 0.5, 10, 4.0, None), record(1, 0.5, 12, 6.0, None), record(0, 1.0, 20, 2.0, 1.0)])
    spread = [line for line in text.split("The spread over seeds")[1].splitlines() if line.startswith("| piecewise")]
    assert spread == ["| piecewise | m | 0.5 | 2 | 1.414 | — | 0 | 0 | 0 | 0 |"]


def test_plot_quality_draws_each_models_spread_over_seeds(tmp_path):
    def record(model, seed, fraction, fid):
        return {"dataset": "piecewise", "model": model, "fraction": fraction, "seed": seed, "seconds": 100.0 * fraction,
                "steps": 10, "images_seen": 40, "metrics": dict.fromkeys(METRICS, 1.0) | {"fid_offline": fid}}

    records = [record("a", 0, 0.5, 4.0), record("a", 1, 0.5, 6.0), record("a", 0, 1.0, 2.0), record("a", 1, 1.0, 3.0),
               record("b", 0, 0.5, 5.0), record("b", 0, 1.0, 1.0)]
    saved = plot_quality(records, str(tmp_path / "quality_piecewise"))
    assert saved.png == str(tmp_path / "quality_piecewise.png") and os.path.getsize(saved.pdf) > 0
    ax = saved.figure.axes[METRICS.index("fid_offline")]
    (line,) = [a for a in ax.lines if a.get_gid() == "fid_offline:a"]
    assert list(line.get_xdata()) == [50.0, 100.0] and list(line.get_ydata()) == [5.0, 2.5]
    (bars,) = [c for c in ax.collections if c.get_gid() == "fid_offline:a:sd"]
    segments = [[tuple(point) for point in segment] for segment in bars.get_segments()]
    assert segments == [[(50.0, pytest.approx(5.0 - 2**0.5)), (50.0, pytest.approx(5.0 + 2**0.5))],
                        [(100.0, pytest.approx(2.5 - 0.5**0.5)), (100.0, pytest.approx(2.5 + 0.5**0.5))]]
    assert not [c for c in ax.collections if c.get_gid() == "fid_offline:b:sd"]  # one seed: no spread to draw
    assert ax.get_xlim() == (0.0, pytest.approx(105.0))


def test_stage_step_is_the_first_step_reaching_the_budget():
    assert _stage_step([0.4, 0.9, 1.0, 1.6, 2.1], 1.0) == 3
    assert _stage_step([0.4, 0.9, 1.0, 1.6, 2.1], 0.5) == 2
    assert _stage_step([0.4, 0.9], 5.0) == 2  # ended on training.steps first


def test_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["bench", "quality", "--fractions", "0.5,1.5"])
    assert "fractions must lie in (0, 1]" in capsys.readouterr().err
    assert main(["bench", "quality", "--model", "nope", "--dataset", "piecewise", "--config-dir", CONFIGS,
                 "--output-dir", str(tmp_path)]) == 2
    assert "nope_piecewise.yaml" in capsys.readouterr().err and not (tmp_path / "runs").exists()
    assert main([*TINY, "--sampler", "ddim", "--order", "2", "--output-dir", str(tmp_path)]) == 2
    assert "order" in capsys.readouterr().err and not (tmp_path / "runs").exists()
    with pytest.raises(SystemExit):
        main([*TINY, "--sigma-max", "-1", "--output-dir", str(tmp_path)])
    assert "expected a number > 0, got '-1'" in capsys.readouterr().err


def test_sigma_max_none_is_a_setting_of_its_own(tmp_path, capsys):
    """--sigma-max none samples from T - 1; records made with another sigma_max are redone, not reused."""
    out = str(tmp_path)
    one = [*TINY, "--fractions", "1", "--output-dir", out]
    assert main(one) == 0
    assert main([*one, "--sigma-max", "none"]) == 0
    err = capsys.readouterr().err
    assert "seed0-2s at 1 of 2 s: recorded, skipped" not in err
    assert "piecewise's training split: recorded, skipped" in err  # the sampler is no part of its score
    record = json.loads((tmp_path / "records" / "tiny_unet-piecewise-seed0-2s-f1.json").read_text())
    assert record["settings"]["sigma_max"] is None


def test_sample_draws_average_other_noise_and_are_a_setting_of_their_own(tmp_path, capsys):
    """--sample-draws 2 samples the stage's checkpoint from sampling seeds 0 and 1 and records their metrics' mean;
    the first draw is the one-draw bench's, whose record then no longer counts (and the other way round)."""
    out = str(tmp_path)
    one = [*TINY, "--fractions", "1", "--output-dir", out]
    path = tmp_path / "records" / "tiny_unet-piecewise-seed0-2s-f1.json"
    assert main(one) == 0
    single = json.loads(path.read_text())
    assert "sample_draws" not in single["settings"] and "draws" not in single
    assert main([*one, "--sample-draws", "2"]) == 0
    assert "seed0-2s at 1 of 2 s: recorded, skipped" not in capsys.readouterr().err
    record = json.loads(path.read_text())
    assert record["settings"]["sample_draws"] == 2 and record["steps"] == single["steps"]
    first, second = record["draws"]
    assert first == single["metrics"]  # the same checkpoint and noise as the one-draw record
    assert second != first
    assert all(record["metrics"][k] == pytest.approx((first[k] + second[k]) / 2, rel=1e-12) for k in METRICS)
    folders = record["draw_samples"]
    assert folders[0] == record["samples"] == single["samples"] and folders[1].endswith("quality-f1-draw1")
    seeds = [json.loads(open(os.path.join(f, "metadata.json")).read())["seed"] for f in folders]
    assert seeds == [0, 1]
    images = [sorted(n for n in os.listdir(f) if n.startswith("sample_")) for f in folders]
    assert len(images[0]) == len(images[1]) == 8
    assert open(os.path.join(folders[0], images[0][0]), "rb").read() != open(
        os.path.join(folders[1], images[1][0]), "rb").read()
    assert "the mean of 2 draws (sampling seeds 0-1)" in (tmp_path / "quality.md").read_text()
    assert main([*one, "--sample-draws", "2"]) == 0
    assert "seed0-2s at 1 of 2 s: recorded, skipped" in capsys.readouterr().err
    assert main(one) == 0
    assert "seed0-2s at 1 of 2 s: recorded, skipped" not in capsys.readouterr().err
    assert json.loads(path.read_text())["metrics"] == single["metrics"]
