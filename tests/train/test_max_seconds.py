"""training.max_seconds: a run stops cleanly on its training-compute budget and resumes like any run."""

from __future__ import annotations

import json
import os

import pytest
from trainutil import smoke

from specdiff.config import ConfigError, load_config
from specdiff.train import load_checkpoint, read_rows, train

# A step count no test reaches, so the budget is what stops the run; a constant learning rate after warm-up
# (min_lr_ratio 1), so the loss curve does not depend on training.steps and an unbudgeted run can be compared.
UNREACHABLE = 1_000_000
BUDGETED = ["training.checkpoint_every=1000000", "training.log_every=1",
            "optim.min_lr_ratio=1.0"]


def budgeted(seconds: float | None, steps: int = UNREACHABLE):
    return load_config(smoke("tiny_unet"), [*BUDGETED, f"training.steps={steps}",
                                            f"training.max_seconds={'null' if seconds is None else seconds}"])


def checkpoint_steps(run_dir: str) -> list[int]:
    return sorted(int(name[5:-3]) for name in os.listdir(os.path.join(run_dir, "checkpoints")))


def test_budget_stops_checkpoints_and_resumes_exactly(tmp_path):
    out = str(tmp_path)
    first = train(budgeted(0.75), output_dir=out, run_id="b", progress=False)
    m1 = first.metrics
    n1 = m1["steps"]
    assert first.status == "finished" and m1["status"] == "finished" and m1["stop_reason"] == "max_seconds"
    assert 1 <= n1 < UNREACHABLE and m1["max_seconds"] == 0.75
    times = load_checkpoint(first.checkpoints[-1])["history"]["compute_s"]
    assert times[-1] >= 0.75 and (n1 == 1 or times[-2] < 0.75)  # stopped at the first step that reached it
    assert m1["compute_s"] == pytest.approx(times[-1]) and m1["images_seen"] == 8 * n1
    assert checkpoint_steps(first.run_dir) == [n1]
    with open(os.path.join(first.run_dir, "logs", "train.jsonl")) as f:
        assert json.loads(f.readlines()[-1])["step"] == n1  # the stop step is logged
    assert [(r["status"], int(r["steps"])) for r in read_rows(out)] == [("finished", n1)]

    # Same budget again: nothing left to train, no new checkpoint or ledger row.
    again = train(budgeted(0.75), output_dir=out, run_id="b", resume=True, progress=False)
    assert again.metrics["steps"] == n1 and checkpoint_steps(first.run_dir) == [n1] and len(read_rows(out)) == 1

    # A larger budget continues from step n1; without --run-id the run is found although max_seconds differs.
    second = train(budgeted(1.5), output_dir=out, resume=True, progress=False)
    m2 = second.metrics
    n2 = m2["steps"]
    assert second.run_id == "b" and m2["stop_reason"] == "max_seconds" and n2 > n1
    assert m2["loss_history"][:n1] == m1["loss_history"]
    assert m2["compute_s"] >= 1.5 and m2["images_seen"] == 8 * n2
    assert checkpoint_steps(first.run_dir) == [n1, n2]
    assert [(r["status"], int(r["steps"])) for r in read_rows(out)] == [("finished", n1), ("finished", n2)]

    # The budgeted-and-resumed curve is the curve of an uninterrupted run of n2 steps without a budget.
    plain = train(budgeted(None, steps=n2), output_dir=str(tmp_path / "plain"), run_id="p", progress=False)
    assert plain.metrics["stop_reason"] == "steps" and plain.metrics["max_seconds"] is None
    assert plain.metrics["loss_history"] == m2["loss_history"]


def test_steps_stay_the_upper_bound(tmp_path):
    result = train(load_config(smoke("tiny_unet"), ["training.max_seconds=600"]), output_dir=str(tmp_path),
                   run_id="s", progress=False)
    assert result.metrics["steps"] == 6 and result.metrics["stop_reason"] == "steps"
    assert checkpoint_steps(result.run_dir) == [3, 6]


@pytest.mark.parametrize("value", [0, -1, ".inf", "abc"])
def test_bad_budget_is_a_config_error(value):
    with pytest.raises(ConfigError, match="training.max_seconds"):
        load_config(smoke("tiny_unet"), [f"training.max_seconds={value}"])


def test_resume_still_rejects_other_changes(tmp_path):
    train(budgeted(0.2), output_dir=str(tmp_path), run_id="c", progress=False)
    with pytest.raises(ConfigError, match="optim.lr"):
        train(load_config(smoke("tiny_unet"), [*BUDGETED, f"training.steps={UNREACHABLE}", "training.max_seconds=0.4",
                                               "optim.lr=0.01"]),
              output_dir=str(tmp_path), run_id="c", resume=True, progress=False)
