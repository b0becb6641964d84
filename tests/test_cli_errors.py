"""``specdiff`` prints a user error (specdiff.errors.UserError) as one line with its exit status; any other
exception is a bug and keeps its traceback."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from specdiff import cli
from specdiff.config import ConfigError
from specdiff.errors import InvalidValue, MissingPath, PathExists, UserError
from specdiff.experiments.runner import StudyIncomplete
from specdiff.experiments.study import StudyError
from specdiff.report.results import ResultsError
from specdiff.train import CheckpointError, TrainingDiverged
from specdiff.train.ledger import FolderInUse


@pytest.mark.parametrize("error, builtin, status", [
    (ConfigError("optim.lr", 5.0, "must be in (0, 1]"), ValueError, 2),
    (StudyError("study.yaml: replicates = 0: must be an integer >= 1"), ValueError, 1),
    (InvalidValue("tag 'a/b' is not a plain name"), ValueError, 1),
    (ResultsError("train.jsonl:2: not a JSON object"), ValueError, 1),
    (MissingPath("'x' is not a run folder (no config.yaml)"), FileNotFoundError, 1),
    (PathExists("run folder 'x' already exists"), FileExistsError, 1),
    (FolderInUse("run 'x' is in use by another process"), FileExistsError, 1),
    (CheckpointError("checkpoint 'x' refused"), RuntimeError, 1),
    (TrainingDiverged("loss is nan at step 3"), RuntimeError, 1),
    (StudyIncomplete("summary.md", ["r01-s0"]), RuntimeError, 1),
])
def test_user_errors_are_one_line_with_their_exit_status(monkeypatch, capsys, error, builtin, status):
    assert isinstance(error, UserError) and isinstance(error, builtin)  # `except ValueError` etc. keep working

    def fail(args):
        raise error

    monkeypatch.setattr(cli, "_info", fail)
    assert cli.main(["info"]) == status
    err = capsys.readouterr().err
    head = "specdiff: config error: " if status == 2 else "specdiff info: error: "
    assert err == f"{head}{error}\n"


@pytest.mark.parametrize("bug", [ValueError("internal"), FileNotFoundError("internal"), KeyError("k"),
                                 RuntimeError("internal"), ZeroDivisionError()])
def test_any_other_exception_keeps_its_traceback(monkeypatch, capsys, bug):
    def fail(args):
        raise bug

    monkeypatch.setattr(cli, "_info", fail)
    with pytest.raises(type(bug)) as info:
        cli.main(["info"])
    assert info.value is bug and capsys.readouterr().err == ""


def test_user_errors_of_the_commands_are_one_line(tmp_path, capsys):
    generated = tmp_path / "generated"
    generated.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(generated / name)
    (tmp_path / "file").write_text("x")
    cases = [
        (["report", str(tmp_path / "file")], 1, "specdiff report: error: not a folder: "),
        (["report", str(tmp_path / "nope")], 1, "specdiff report: error: results folder not found: "),
        (["taguchi", "analyze", str(tmp_path)], 1, "is not a study folder (no study.yaml)"),
        (["evaluate", "--generated", str(generated), "--reference-dataset", "nois"], 1,
         "specdiff evaluate: error: unknown dataset 'nois'; did you mean 'noise'?"),
        (["evaluate", "--generated", str(generated), "--reference-dataset", "noise", "--metrics", "fidd"], 1,
         "specdiff evaluate: error: unknown metric 'fidd'"),
        (["evaluate", "--generated", str(tmp_path / "nope"), "--reference-dataset", "noise"], 1,
         "specdiff evaluate: error: image folder "),
        (["bench", "models", "--model", "nope", "--size", "8"], 1, "specdiff bench: error: unknown model 'nope'"),
        (["bench", "models", "--model", "tiny_unet", "--size", "7", "--batch", "2"], 1,
         "specdiff bench: error: tiny_unet needs a size divisible by 4, got 7"),
        (["bench", "ops", "--op", "nope"], 1, "specdiff bench: error: unknown op(s) nope"),
    ]
    for argv, status, needle in cases:
        assert cli.main(argv) == status, argv
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1 and "Traceback" not in err, (argv, err)


@pytest.mark.parametrize("argv, needle", [
    (["bench", "ops", "--repeats", "0"], "argument --repeats: must be >= 1, got 0"),
    (["bench", "models", "--batch", "0"], "argument --batch: must be >= 1, got 0"),
    (["bench", "quality", "--seconds", "-1"], "argument --seconds: expected a number of seconds > 0, got '-1'"),
    (["bench", "quality", "--seeds", "x"], "argument --seeds: expected an integer, got 'x'"),
    (["taguchi", "run", "study.yaml", "--workers", "0"], "argument --workers: must be >= 1, got 0"),
    (["taguchi", "run", "study.yaml", "--max-retries", "-1"], "argument --max-retries: must be >= 0, got -1"),
])
def test_bad_counts_are_refused_by_the_parser(capsys, argv, needle):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2 and needle in capsys.readouterr().err
