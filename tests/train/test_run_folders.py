"""Run folders: claimed by one process (released by kill -9), plain run ids, the ledger's one row per training
(a resume with nothing to train adds none, ``started`` stays the creation time), devices; one-line CLI errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from trainutil import ROOT, smoke

from specdiff.cli import main
from specdiff.config import ConfigError, load_config
from specdiff.train import latest_checkpoint, read_rows, train
from specdiff.train.ledger import FolderInUse
from specdiff.train.trainer import resolve_device

LONG = ["training.steps=100000", "training.checkpoint_every=2", "training.profile_every=0"]


def _one_line_error(capsys, status, argv) -> str:
    assert main(argv) == status
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    return captured.err


def test_a_run_is_claimed_by_one_process_and_kill_9_releases_it(tmp_path, capsys):
    out = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "specdiff", "train", "--config", smoke("tiny_unet"), "--output-dir", out,
         "--run-id", "shared", "--quiet", *[a for kv in LONG for a in ("--set", kv)]],
        cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run = tmp_path / "runs" / "shared"
    try:
        deadline = time.time() + 120
        while time.time() < deadline and latest_checkpoint(str(run / "checkpoints")) is None:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        config = load_config(smoke("tiny_unet"), LONG)
        for resume in (False, True):  # a second start and a concurrent resume are both refused
            with pytest.raises(FolderInUse, match=rf"run 'shared' \(.*shared\) is in use by another process "
                                                  rf"\(pid {proc.pid}\)"):
                train(config, output_dir=out, run_id="shared", resume=resume, progress=False)
        err = _one_line_error(capsys, 1, ["train", "--config", smoke("tiny_unet"), "--output-dir", out, "--run-id",
                                          "shared", "--resume", "--quiet"] + [a for kv in LONG for a in ("--set", kv)])
        assert "run 'shared'" in err and "in use" in err
        err = _one_line_error(capsys, 2, ["sample", "--run-dir", str(run), "--device", "tpu"])
        assert "device = 'tpu': must be one of auto, cpu, cuda, cuda:<index>" in err
    finally:
        proc.kill()
        proc.wait()
    assert read_rows(out) == []  # the other processes wrote nothing
    started = json.loads((run / "system.json").read_text())["started"]

    # Right after kill -9 the run resumes; finishing adds one ledger row; a resume with nothing left adds none.
    last = latest_checkpoint(str(run / "checkpoints"))[0]
    config = load_config(smoke("tiny_unet"), [*LONG, f"training.steps={last + 1}"])
    for _ in range(2):
        result = train(config, output_dir=out, run_id="shared", resume=True, progress=False)
        assert result.status == "finished" and result.metrics["steps"] == last + 1
    (row,) = read_rows(out)
    assert row["run_id"] == "shared" and row["steps"] == str(last + 1) and row["started"] == started
    assert json.loads((run / "system.json").read_text())["started"] == started
    steps = [json.loads(line)["step"] for line in (run / "logs" / "train.jsonl").read_text().splitlines()]
    assert steps == list(range(1, last + 2))
    # Extending the run is another training: a second row.
    train(load_config(smoke("tiny_unet"), [*LONG, f"training.steps={last + 2}"]), output_dir=out, run_id="shared",
          resume=True, progress=False)
    assert [(r["run_id"], r["steps"], r["started"]) for r in read_rows(out)] == [
        ("shared", str(last + 1), started), ("shared", str(last + 2), started)]


def test_run_ids_are_plain_names(tmp_path, capsys):
    out = tmp_path / "results"
    config = load_config(smoke("tiny_unet"), ["training.steps=1"])
    for run_id in ("../../x", "../x", str(tmp_path / "abs"), "..", ".", "a/b", "-rf", "a\\b"):
        with pytest.raises(ValueError, match=r"run id .* is not a plain name: use 1-128 characters"):
            train(config, output_dir=str(out), run_id=run_id, progress=False)
    err = _one_line_error(capsys, 1, ["train", "--config", smoke("tiny_unet"), "--output-dir", str(out), "--run-id",
                                      "../../x", "--quiet"])
    assert "run id '../../x' is not a plain name" in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "abs").exists() and not (out / "x").exists()
    assert not (out / "runs").exists()


def test_run_id_error_from_the_shell(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "specdiff", "train", "--config", smoke("tiny_unet"), "--output-dir",
                           str(tmp_path / "results"), "--run-id", str(tmp_path / "abs"), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "is not a plain name" in proc.stderr and not os.listdir(tmp_path)


@pytest.mark.parametrize("name", ["tpu", "xla", "cuda:x", "cpu:1", "meta", ""])
def test_unknown_devices_are_config_errors(name):
    with pytest.raises(ConfigError, match="must be one of auto, cpu, cuda, cuda:<index>"):
        resolve_device(name)


def test_known_devices_resolve():
    assert resolve_device("cpu").type == "cpu" and resolve_device("auto").type in ("cpu", "cuda")


def test_every_device_option_is_checked_in_one_line(capsys):
    for argv in (["evaluate", "--generated", "g", "--reference", "r", "--device", "tpu"],
                 ["bench", "ops", "--device", "xla"], ["bench", "models", "--device", "cuda:x"]):
        err = _one_line_error(capsys, 2, argv)
        assert "must be one of auto, cpu, cuda, cuda:<index>" in err


def test_reading_a_live_run_never_removes_its_writers_temp_file(tmp_path):
    # A checkpoint being written lives in a temp file until its rename; readers (sample, report, a polling
    # script) must leave it alone, or the writer's rename fails. Only a resume, under the run's claim, cleans up.
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    temp = ckpts / ".step_4.pt.abc123.tmp"
    temp.write_bytes(b"half a checkpoint")
    assert latest_checkpoint(str(ckpts)) is None and temp.exists()
