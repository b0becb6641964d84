"""Taguchi sweeps under faults: workers die with a killed parent, runs and study folders are claimed by one
process, and a resume never mixes thread counts."""

import os
import subprocess
import sys
import threading
import time

import pytest
import taguchiutil
from taguchiutil import ROOT, calls, study_dict, write_study

from specdiff.cli import main
from specdiff.experiments import runner
from specdiff.experiments.runner import LEDGER_FIELDS, LEDGER_NAME, run_study
from specdiff.experiments.study import StudyError
from specdiff.train.ledger import FolderInUse, append_row, claim, read_rows

HERE = os.path.dirname(os.path.abspath(__file__))


def _ledger(out):
    return read_rows(str(out), name=LEDGER_NAME)


def _alive(pid: int) -> bool:
    """Running (a zombie that nobody reaps yet counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux")
def test_workers_die_with_a_killed_parent_and_resume_runs_each_row_once(tmp_path, monkeypatch):
    path = write_study(tmp_path, study_dict(replicates=1))  # L4: 4 runs, 2 in flight and 1 queued at the kill
    out = tmp_path / "out"
    (tmp_path / "sleep.txt").write_text("120")
    script = (f"import sys; sys.path.insert(0, {HERE!r}); import taguchiutil\n"
              "from specdiff.experiments import runner\n"
              "runner._cpu_count = lambda: 1\n"
              f"runner.run_study({path!r}, output_dir={str(out)!r}, workers=2, run_fn=taguchiutil.slow)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    pids = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(calls(out)) < 2:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        pids = [c["pid"] for c in calls(out)]
        assert len(pids) == 2 and proc.pid not in pids
        proc.kill()
        proc.wait()
        deadline = time.time() + 5
        while time.time() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        assert not [p for p in pids if _alive(p)], "workers outlived their parent"
    finally:
        proc.kill()
        proc.wait()
        for p in pids:
            if _alive(p):
                os.kill(p, 9)
    time.sleep(0.5)
    assert len(calls(out)) == 2  # the queued run was never started
    assert _ledger(out) == []

    monkeypatch.setattr(runner, "_cpu_count", lambda: 1)
    run_study(path, output_dir=str(out), workers=1, resume=True, run_fn=taguchiutil.synthetic, log=[].append)
    ids = [r["run_id"] for r in _ledger(out)]
    assert sorted(ids) == ["r01-s0", "r02-s0", "r03-s0", "r04-s0"]
    assert all(r["status"] == "finished" for r in _ledger(out))


def test_a_study_folder_is_swept_by_one_process_at_a_time(tmp_path, capsys):
    path = write_study(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    with claim(str(out / "study.lock"), "held"):
        with pytest.raises(FolderInUse, match=rf"study folder '{out}' is in use by another process "
                                              rf"\(pid {os.getpid()}\)"):
            run_study(path, output_dir=str(out), resume=True, run_fn=taguchiutil.synthetic, log=[].append)
        assert main(["taguchi", "run", path, "--output-dir", str(out), "--resume"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is in use by another process" in err
    assert not (out / LEDGER_NAME).exists()


def test_a_run_held_by_a_dying_worker_is_waited_for_and_not_run_again(tmp_path):
    path = write_study(tmp_path, study_dict(replicates=1))
    out = tmp_path / "out"
    run_study(path, output_dir=str(out), run_fn=taguchiutil.synthetic, log=[].append)
    (lost,) = [r for r in _ledger(out) if r["run_id"] == "r02-s0"]
    taguchiutil.rewrite_ledger(out, lambda r: r is not lost and r["run_id"] != "r02-s0")
    for p in (out / "calls").iterdir():
        p.unlink()

    # A worker of a killed sweep still holds r02-s0 and writes its finished row a moment later.
    held = claim(str(out / "locks" / "r02-s0.lock"), "run 'r02-s0'")
    held.__enter__()

    def finish():
        time.sleep(1.0)
        append_row(str(out), lost, fields=LEDGER_FIELDS, name=LEDGER_NAME)
        held.__exit__(None, None, None)

    worker = threading.Thread(target=finish)
    start = time.perf_counter()
    worker.start()
    run_study(path, output_dir=str(out), resume=True, run_fn=taguchiutil.synthetic, log=[].append)
    worker.join()
    assert time.perf_counter() - start >= 0.9  # it waited for the claim
    assert calls(out) == []
    assert sorted(r["run_id"] for r in _ledger(out)) == ["r01-s0", "r02-s0", "r03-s0", "r04-s0"]


def test_a_resume_with_another_thread_count_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "_cpu_count", lambda: 4)
    path = write_study(tmp_path, study_dict(replicates=1))
    out = tmp_path / "out"
    run_study(path, output_dir=str(out), workers=1, run_fn=taguchiutil.synthetic, log=[].append)
    taguchiutil.rewrite_ledger(out, lambda r: r["run_id"] not in ("r03-s0", "r04-s0"))

    with pytest.raises(StudyError, match=r"used 4 torch thread\(s\) each \(1 worker\(s\) on 4 CPU\(s\)\), but "
                                         r"--workers 2 on 4 CPU\(s\) gives 2; .* resume with --workers 1"):
        run_study(path, output_dir=str(out), workers=2, resume=True, run_fn=taguchiutil.synthetic, log=[].append)
    assert main(["taguchi", "run", path, "--output-dir", str(out), "--resume", "--workers", "3"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gives 1; the thread count changes the results" in err
    monkeypatch.setattr(runner, "_cpu_count", lambda: 2)  # another machine: no --workers gives 4 threads
    with pytest.raises(StudyError, match="resume on a machine where --workers gives 4 thread"):
        run_study(path, output_dir=str(out), workers=1, resume=True, run_fn=taguchiutil.synthetic, log=[].append)
    assert len(_ledger(out)) == 2 and calls(out) and len(calls(out)) == 4

    monkeypatch.setattr(runner, "_cpu_count", lambda: 4)
    run_study(path, output_dir=str(out), workers=1, resume=True, run_fn=taguchiutil.synthetic, log=[].append)
    assert len(_ledger(out)) == 4
