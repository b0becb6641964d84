"""Convergence metrics on synthetic loss histories with known parameters."""

import math

import numpy as np
import pytest

from specdiff.train.convergence import exponential_fit, smoothed, threshold_crossing


@pytest.mark.parametrize("k", [0.002, 0.01, 0.05])
def test_exponential_fit_recovers_known_parameters(k):
    steps = np.arange(1, 601)
    losses = 0.8 * np.exp(-k * steps) + 0.05
    fit = exponential_fit(steps.tolist(), losses.tolist())
    assert fit["k"] == pytest.approx(k, rel=1e-6)
    assert fit["a"] == pytest.approx(0.8, rel=1e-5) and fit["c"] == pytest.approx(0.05, rel=1e-5)
    assert fit["r2"] == pytest.approx(1.0, abs=1e-12)


def test_exponential_fit_with_noise():
    rng = np.random.default_rng(0)
    steps = np.arange(1, 1001)
    clean = 0.5 * np.exp(-0.004 * steps) + 0.1
    noisy = clean + rng.normal(0, 0.01, steps.size)
    fit = exponential_fit(steps, noisy)
    assert fit["k"] == pytest.approx(0.004, rel=0.05)
    sst = np.sum((noisy - noisy.mean()) ** 2)
    sse = np.sum((fit["a"] * np.exp(-fit["k"] * steps) + fit["c"] - noisy) ** 2)
    assert fit["r2"] == pytest.approx(1 - sse / sst, rel=1e-9) and 0.9 < fit["r2"] < 1


def test_exponential_fit_of_a_line_and_degenerate_histories():
    # A straight decline is the k -> 0 end: the fit stays finite and explains it almost fully.
    fit = exponential_fit(list(range(100)), [1.0 - 0.001 * i for i in range(100)])
    assert fit["r2"] > 0.999 and math.isfinite(fit["k"])
    assert exponential_fit([1, 2, 3], [1.0, 0.5, 0.4]) is None
    assert exponential_fit([1, 2, 3, 4], [0.3] * 4) is None
    assert exponential_fit([1, 2, 3, 4], [0.3, float("nan"), 0.2, 0.1]) is None


def test_smoothing_and_threshold_crossing():
    # Dyadic values: every smoothed value is exact, so "strictly below" is decided exactly.
    losses = [1.0, 0.5, 0.5, 0.125, 0.125, 0.125]
    m = smoothed(losses, 0.5)
    assert m.tolist() == [1.0, 0.75, 0.625, 0.375, 0.25, 0.1875]
    steps, seconds = [10, 20, 30, 40, 50, 60], [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert threshold_crossing(steps, losses, seconds, 0.3, 0.5) == (50, 2.5)
    assert threshold_crossing(steps, losses, seconds, 0.25, 0.5) == (60, 3.0)  # strictly below
    assert threshold_crossing(steps, losses, seconds, 0.625, 0.5) == (40, 2.0)
    assert threshold_crossing(steps, losses, seconds, 0.125, 0.5) == (None, None)


def test_training_records_the_threshold_and_the_fit(tmp_path):
    import json

    from trainutil import smoke

    from specdiff.config import load_config
    from specdiff.train import train
    from specdiff.train.ledger import read_rows

    config = load_config(smoke("tiny_unet"), ["training.loss_threshold=100.0"])
    result = train(config, output_dir=str(tmp_path), run_id="r", progress=False)
    m = result.metrics
    steps = [s for s, _ in m["loss_history"]]
    assert m["loss_threshold"] == 100.0 and m["loss_threshold_steps"] == steps[0] == 1
    assert m["loss_threshold_seconds"] > 0
    fit = exponential_fit(steps, [v for _, v in m["loss_history"]])
    assert (m["fit_k"], m["fit_r2"]) == (fit["k"], fit["r2"])
    assert json.loads((tmp_path / "runs" / "r" / "metrics" / "r.json").read_text())["fit_k"] == m["fit_k"]
    (row,) = read_rows(str(tmp_path))
    assert int(row["loss_threshold_steps"]) == 1 and float(row["fit_k"]) == pytest.approx(m["fit_k"], rel=1e-15)
    unset = train(load_config(smoke("tiny_unet"), ["training.steps=4"]), output_dir=str(tmp_path), run_id="s",
                  progress=False).metrics
    assert unset["loss_threshold"] is None and unset["loss_threshold_steps"] is None
    assert unset["loss_threshold_seconds"] is None


def test_an_older_ledger_keeps_its_header(tmp_path):
    from specdiff.train.ledger import LEDGER_FIELDS, append_row, read_rows

    old = LEDGER_FIELDS[:LEDGER_FIELDS.index("config_sha256") + 1]
    (tmp_path / "summary.csv").write_text(",".join(old) + "\n" + ",".join(["a", "finished"] + [""] * (len(old) - 2))
                                          + "\n")
    append_row(str(tmp_path), {"run_id": "b", "status": "finished", "fit_k": 0.5, "config_sha256": "0" * 64})
    rows = read_rows(str(tmp_path))
    assert [r["run_id"] for r in rows] == ["a", "b"] and list(rows[1]) == list(old)
    assert (tmp_path / "summary.csv").read_text().splitlines()[0] == ",".join(old)
