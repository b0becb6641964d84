"""Nothing a user loads can run code: checkpoints are tensors and plain data read with weights_only=True; a
crafted checkpoint is refused by every loader (Python API, sample, train --resume, taguchi --resume, checkpoint
convert) with one line, and its payload never runs. Also the one-line errors of `specdiff sample` and of configs."""

from __future__ import annotations

import json
import os
import pickle
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from trainutil import ROOT, smoke, write_alias_bomb

from specdiff.config import load_config
from specdiff.train import CheckpointError, TrainState, load_checkpoint, load_model, sample_run, train
from specdiff.train.checkpoint import FORMAT_VERSION, convert_checkpoint, save_checkpoint

SMOKE_SET = ["training.steps=2", "training.checkpoint_every=2"]

# Runs several `specdiff` command lines in one process (one torch import): each through specdiff.cli.main, as
# `python -m specdiff` does, with its exit status and everything it wrote to stderr (a traceback included).
_DRIVER = r"""
import contextlib, io, json, sys, traceback
from specdiff.cli import main
results = []
for argv in json.loads(sys.stdin.read()):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
        except BaseException:
            traceback.print_exc()
            rc = None
    results.append([rc, err.getvalue()])
print(json.dumps(results))
"""


def cli_many(*argvs: list[str]) -> list[tuple[int, str]]:
    proc = subprocess.run([sys.executable, "-c", _DRIVER], input=json.dumps(argvs), capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [tuple(r) for r in json.loads(proc.stdout.splitlines()[-1])]


def assert_one_line_error(result: tuple[int, str], *needles: str, status: tuple[int, ...] = (1, 2)) -> None:
    rc, err = result
    assert rc in status, err
    assert "Traceback" not in err and err.strip() and err.strip().count("\n") == 0, err
    for needle in needles:
        assert needle in err, err


class RunsCommand:
    """Unpickling this runs ``touch marker`` (the reported attack)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


class OpensFile:
    """Unpickling this creates ``marker`` (``open(marker, "w")``)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_malicious(path: str, marker: str, kind: str = "torch") -> None:
    """A checkpoint-looking file whose unpickling creates ``marker``: torch.save's zip format or a bare pickle."""
    if kind == "torch":
        torch.save({"format_version": FORMAT_VERSION, "step": 600, "model": RunsCommand(marker), "ema": {}}, path)
    else:
        with open(path, "wb") as f:
            pickle.dump({"format_version": FORMAT_VERSION, "step": 600, "model": OpensFile(marker)}, f, protocol=2)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A results folder with one finished tiny run ``clean`` (2 steps, checkpoint step_2.pt)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("results")
    train(load_config(smoke("tiny_unet"), SMOKE_SET), output_dir=str(out), run_id="clean", progress=False)
    return out


def copy_run(results, name: str) -> str:
    run = results / "runs" / name
    shutil.copytree(results / "runs" / "clean", run)
    return str(run)


def test_the_payloads_run_code_when_unpickled_unsafely(tmp_path):
    # The control: without weights_only both files do create the marker, so the refusals below mean something.
    for kind in ("torch", "pickle"):
        marker = tmp_path / f"marker-{kind}"
        write_malicious(str(tmp_path / f"{kind}.pt"), str(marker), kind)
        with open(tmp_path / f"{kind}.pt", "rb") as f:
            torch.load(f, weights_only=False) if kind == "torch" else pickle.load(f)
        assert marker.exists()


def test_checkpoints_hold_tensors_and_plain_data_only(results):
    path = results / "runs" / "clean" / "checkpoints" / "step_2.pt"
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []
    state = torch.load(path, weights_only=True)  # torch's own check, nothing allowed in
    assert state["format_version"] == FORMAT_VERSION == 2 and state["step"] == 2
    assert set(state) >= {"model", "ema", "optimizer", "scheduler", "rng", "history", "clock", "loss_smooth", "config"}
    # numpy's RNG state is saved as a tuple with a uint32 tensor and restores numpy exactly.
    saved = np.random.get_state()
    np.random.set_state(state["rng"]["numpy"])
    after = np.random.get_state()
    np.random.set_state(saved)
    assert np.array_equal(after[1], state["rng"]["numpy"][1].numpy()) and after[2] == state["rng"]["numpy"][2]


def test_save_converts_numpy_values_and_refuses_objects(tmp_path):
    rng = np.random.RandomState(3).get_state()
    path = save_checkpoint(str(tmp_path), 1, {"model": {"w": torch.ones(2)}, "ema": {"w": torch.ones(2)},
                                              "rng": rng, "x": np.float32(0.5), "n": [np.int64(4)]})
    state = load_checkpoint(path)
    assert type(state["x"]) is float and state["x"] == 0.5 and type(state["n"][0]) is int
    assert state["rng"][0] == "MT19937" and torch.equal(state["rng"][1], torch.from_numpy(rng[1]))
    with pytest.raises(CheckpointError, match=r"state\['bad'\] is a .*OpensFile.*only tensors and plain data"):
        save_checkpoint(str(tmp_path), 2, {"bad": OpensFile(str(tmp_path / "m"))})
    assert not os.path.exists(tmp_path / "step_2.pt") and not os.path.exists(tmp_path / "m")


def test_a_format_1_checkpoint_is_refused_with_a_hint_and_converts_once(results, tmp_path):
    # What the previous version wrote: numpy's RNG state as a numpy array.
    state = load_checkpoint(str(results / "runs" / "clean" / "checkpoints" / "step_2.pt"))
    state["rng"]["numpy"] = np.random.RandomState(5).get_state()
    path = str(tmp_path / "step_2.pt")
    torch.save({**state, "format_version": 1}, path)
    with pytest.raises(CheckpointError, match=r"refused: it holds numpy.*specdiff checkpoint convert"):
        load_checkpoint(path)
    assert convert_checkpoint(path) == path + ".format1"
    converted = load_checkpoint(path)
    assert converted["format_version"] == 2 and os.path.exists(path + ".format1")
    assert all(torch.equal(converted["model"][k], v) for k, v in state["model"].items())
    assert torch.equal(converted["rng"]["numpy"][1], torch.from_numpy(np.random.RandomState(5).get_state()[1]))
    assert convert_checkpoint(path) == path  # already format 2: left alone


def test_a_malicious_checkpoint_is_refused_by_every_loader(results, tmp_path):
    marker = str(tmp_path / "pwned")
    run = copy_run(results, "evil")
    evil = os.path.join(run, "checkpoints", "step_600.pt")  # the newest checkpoint
    write_malicious(evil, marker)
    bare = str(tmp_path / "bare.pt")
    write_malicious(bare, marker, kind="pickle")

    with pytest.raises(CheckpointError, match=r"step_600.pt' refused: it holds posix.system.*do not load"):
        load_checkpoint(evil)
    with pytest.raises(CheckpointError, match=r"bare.pt' refused: it holds io.open"):
        load_checkpoint(bare)
    with pytest.raises(CheckpointError, match="refused"):
        load_model(run)
    with pytest.raises(CheckpointError, match="refused"):
        sample_run(run, device="cpu")
    with pytest.raises(CheckpointError, match="not converting.*posix.system"):
        convert_checkpoint(evil)
    with pytest.raises(CheckpointError):
        convert_checkpoint(bare)
    config = load_config(smoke("tiny_unet"), SMOKE_SET)
    with pytest.raises(CheckpointError, match="refused"):
        train(config, output_dir=str(results), run_id="evil", resume=True, progress=False)
    assert not os.path.exists(marker)

    sample, resume, convert, sample_bare = cli_many(
        ["sample", "--run-dir", run, "--device", "cpu"],
        ["train", "--config", smoke("tiny_unet"), *sum((["--set", s] for s in SMOKE_SET), []),
         "--output-dir", str(results), "--run-id", "evil", "--resume", "--quiet"],
        ["checkpoint", "convert", evil],
        ["sample", "--run-dir", run, "--checkpoint", bare, "--device", "cpu"],
    )
    for result in (sample, resume):
        assert_one_line_error(result, "step_600.pt' refused", "posix.system", status=(1,))
    assert_one_line_error(convert, "not converting", status=(1,))
    assert_one_line_error(sample_bare, "bare.pt' refused: it holds io.open", status=(1,))
    assert not os.path.exists(marker)
    assert not os.path.exists(os.path.join(run, "samples"))


def test_taguchi_resume_refuses_a_malicious_checkpoint_of_a_run_in_flight(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tests", "experiments"))
    try:
        import taguchiutil
    finally:
        sys.path.remove(os.path.join(ROOT, "tests", "experiments"))
    from specdiff.experiments.runner import LEDGER_NAME, run_study, train_and_measure
    from specdiff.train.ledger import read_rows

    class Killed(BaseException):
        pass

    factors = {k: v for k, v in taguchiutil.study_dict()["factors"].items() if k != "sampler"}
    study = taguchiutil.write_study(tmp_path, taguchiutil.study_dict(
        factors=factors, replicates=1, response={"metric": "final_loss", "goal": "smaller"}))
    out = tmp_path / "study"
    seen = []

    def run_fn(task):  # the first runs answer at once; the last trains for real and is "killed" mid-sweep
        seen.append(task.run_id)
        if len(seen) < 4:
            return taguchiutil.synthetic(task)
        train_and_measure(task)
        raise Killed

    torch.set_num_threads(1)
    with pytest.raises(Killed):
        run_study(study, output_dir=str(out), run_fn=run_fn, log=lambda line: None)
    target = seen[-1]
    ckpts = out / "runs" / target / "checkpoints"
    assert (ckpts / "step_2.pt").exists() and target not in {r["run_id"] for r in read_rows(str(out), LEDGER_NAME)}
    marker = tmp_path / "pwned"
    write_malicious(str(ckpts / "step_600.pt"), str(marker))

    proc = subprocess.run([sys.executable, "-m", "specdiff", "taguchi", "run", study, "--output-dir", str(out),
                           "--resume", "--max-retries", "0"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert not marker.exists()
    assert "Traceback" not in proc.stderr, proc.stderr
    (row,) = [r for r in read_rows(str(out), LEDGER_NAME) if r["run_id"] == target]
    assert row["status"] == "failed" and row["error"].startswith("CheckpointError: checkpoint"), row
    assert "step_600.pt' refused: it holds posix.system" in row["error"]
    assert f"{target} failed after 1 attempt(s): CheckpointError" in proc.stdout + proc.stderr
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0, proc.stderr  # the study is incomplete
    assert proc.stderr.startswith("specdiff taguchi: error: 1 run(s) failed") and "--resume" in proc.stderr


def test_sample_errors_are_one_line(results, tmp_path):
    broken = copy_run(results, "broken")
    with open(os.path.join(broken, "config.yaml"), "w") as f:
        f.write("model: [unclosed\n")
    other = copy_run(results, "other")
    config = load_config(smoke("tiny_unet"), [*SMOKE_SET, "model.base_channels=16"])
    with open(os.path.join(other, "config.yaml"), "w") as f:
        f.write(config.to_yaml())
    run = copy_run(results, "tags")
    escape = tmp_path / "escaped"
    got = cli_many(
        ["sample", "--run-dir", broken, "--device", "cpu"],
        ["sample", "--run-dir", other, "--device", "cpu"],
        ["sample", "--run-dir", run, "--steps", "500", "--device", "cpu"],
        ["sample", "--run-dir", run, "--sampler", "dpm_solver++", "--order", "4", "--device", "cpu"],
        *(["sample", "--run-dir", run, "--tag", tag, "--device", "cpu"]
          for tag in (os.path.relpath(escape, os.path.join(run, "samples")), "a/b", "..", ".hidden", "")),
    )
    assert_one_line_error(got[0], "config.yaml' is not valid YAML", status=(2,))
    assert_one_line_error(got[1], "does not fit the run's config.yaml (model tiny_unet)", "other shapes",
                          status=(1,))
    assert_one_line_error(got[2], "sampling.steps = 500: num_steps must be an integer in [1, 100], got 500; the run "
                          "has diffusion.num_timesteps = 100", status=(2,))
    assert_one_line_error(got[3], "specdiff: config error: sampling.order = 4: order must be 1, 2 or 3, got 4",
                          status=(2,))
    for result in got[4:]:
        assert_one_line_error(result, "is not a plain name", "A-Z a-z 0-9 . _ + -", status=(1,))
    assert not escape.exists() and not os.path.exists(os.path.join(run, "samples"))
    with pytest.raises(ValueError, match="not a plain name"):
        sample_run(run, tag="../x")


def test_config_file_errors_are_one_line(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    write_alias_bomb(bomb)
    got = cli_many(
        ["train", "--config", str(tmp_path)],
        ["train", "--config", str(bomb)],
        ["config", "show", str(bomb)],
        ["train", "--config", smoke("tiny_unet"), *sum((["--set", s] for s in SMOKE_SET), []), "--set",
         "model.initialization={strategy: cross_domain_flat, source: {type: file, path: /nonexistent/w.pt}}",
         "--output-dir", str(tmp_path / "out"), "--quiet"],
    )
    assert_one_line_error(got[0], f"config file {str(tmp_path)!r} is a directory", status=(2,))
    for result in got[1:3]:
        assert_one_line_error(result, "bomb.yaml' is not valid YAML", "may not use aliases", status=(2,))
    # The file a config names is read when training starts: still a config error, in one line.
    assert_one_line_error(got[3], "specdiff: config error: model.initialization.source.path = '/nonexistent/w.pt': "
                          "no such file", status=(2,))


def test_resume_from_a_checkpoint_of_another_architecture_is_one_line(results, tmp_path):
    # The newest checkpoint of run "mixed" comes from a wider model: --resume names the file and the mismatch.
    run = copy_run(results, "mixed")
    train(load_config(smoke("tiny_unet"), [*SMOKE_SET, "model.base_channels=16"]), output_dir=str(tmp_path),
          run_id="wide", progress=False)
    shutil.copy(tmp_path / "runs" / "wide" / "checkpoints" / "step_2.pt", os.path.join(run, "checkpoints",
                                                                                      "step_9.pt"))
    config = os.path.join(run, "config.yaml")
    (got,) = cli_many(["train", "--config", config, "--set", "training.steps=12", "--run-id", "mixed",
                       "--output-dir", str(results), "--resume", "--quiet"])
    assert_one_line_error(got, "step_9.pt' does not fit the run's config.yaml (model tiny_unet)", "other shapes",
                          status=(1,))


def test_train_state_is_plain_data_in_the_format_2_layout_and_round_trips(results, tmp_path):
    # What the trainer writes: the loop's TrainState as plain entries next to the weights, format 2's layout.
    state = load_checkpoint(str(results / "runs" / "clean" / "checkpoints" / "step_2.pt"))
    assert state["history"]["step"] == [1, 2] and len(state["history"]["loss"]) == 2
    assert set(state["clock"]) == {"compute_s", "wall_s", "spectral_s", "profiled_s", "images", "timed_s",
                                   "timed_images"}
    restored = TrainState.from_checkpoint(state, "step_2.pt")
    batch = load_config(smoke("tiny_unet"), SMOKE_SET).training.batch_size
    assert restored.step == 2 and restored.history.step == [1, 2] and restored.clock.images == 2 * batch
    assert restored.history.compute_s[-1] == restored.clock.compute_s == state["clock"]["compute_s"]
    assert restored.to_checkpoint() == {k: state[k] for k in ("history", "clock", "loss_smooth")}

    # A state recorded step by step survives save_checkpoint and torch.load(weights_only=True) exactly.
    fresh = TrainState()
    fresh.record(1.0, 0.5, 8)
    fresh.record(0.5, 0.25, 8, spectral_fraction=0.4, profiled=True)
    fresh.record(0.25, 0.125, 8, profiled=True)  # the profiler saw nothing: neither timed nor profiled
    assert fresh.loss_smooth == pytest.approx(0.9 * (0.9 * 1.0 + 0.1 * 0.5) + 0.1 * 0.25, rel=1e-15)
    assert (fresh.clock.compute_s, fresh.clock.timed_s, fresh.clock.profiled_s) == (0.875, 0.5, 0.25)
    assert fresh.clock.spectral_s == 0.4 * 0.25 and (fresh.clock.images, fresh.clock.timed_images) == (24, 8)
    path = save_checkpoint(str(tmp_path), 3, {"model": {}, "ema": {}, **fresh.to_checkpoint()})
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    assert TrainState.from_checkpoint(load_checkpoint(path), path) == fresh


@pytest.mark.parametrize("case, change, problem", [
    ("no-clock", lambda s: s.pop("clock"), "'clock' is NoneType, not a mapping"),
    ("clock-entries", lambda s: s["clock"].pop("timed_s"), "'clock' has the entries"),
    ("lengths", lambda s: s["history"]["loss"].append(0.1), "the lists in 'history' differ in length"),
    ("loss-type", lambda s: s["history"].update(loss="0.1"), "history['loss'] is not a list of finite floats"),
    ("images-type", lambda s: s["clock"].update(images=1.5), "clock['images'] = 1.5 is not a finite int"),
    ("smooth-type", lambda s: s.update(loss_smooth="low"), "loss_smooth = 'low' is not a finite number or null"),
])
def test_a_checkpoint_without_a_valid_train_state_is_refused_in_one_line_naming_its_format(results, case, change,
                                                                                          problem):
    run = copy_run(results, f"state-{case}")
    path = os.path.join(run, "checkpoints", "step_2.pt")
    state = load_checkpoint(path)
    change(state)
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        TrainState.from_checkpoint(load_checkpoint(path), path)
    assert str(info.value).startswith(f"checkpoint {path!r} (format 2) cannot be resumed: {problem}")
    (got,) = cli_many(["train", "--config", os.path.join(run, "config.yaml"), "--set", "training.steps=4",
                       "--run-id", os.path.basename(run), "--output-dir", str(results), "--resume", "--quiet"])
    assert_one_line_error(got, "(format 2) cannot be resumed", problem, status=(1,))
