"""``specdiff taguchi``: run a study's rows as training runs in parallel, resumably, and analyse them.

Study folder ``D`` (default ``results/taguchi/<study name>``)::

    study.yaml         the resolved study (base config inline, columns assigned), written before anything runs
    study_state.json   torch threads per run (and the workers and CPUs that gave it), fixed by the first sweep
    study.lock         the claim of the ``specdiff taguchi`` process sweeping the study (one at a time)
    locks/<run_id>.lock  the claim of the worker running that run
    study_ledger.csv   one row per finished attempt (run_id, row, noise, replicate, seed, attempt, status,
                       response, error, seconds, config_sha256, finished, worker); appends under a file lock
    runs/<run_id>/     the training run (``specdiff.train.train``), plus samples/ and eval/ for sample metrics
    summary.csv        the training ledger that ``train`` appends to
    reference/         the data's test split as PNGs, shared by every sample-metric evaluation
    taguchi_report.csv anova.csv response.csv summary.md figures/ confirmation.json   the analysis

Run ids: ``r<row>-s<k>`` (``r<row>-n<j>-s<k>`` with noise factors), ``confirm-s<k>`` for the confirmation runs.

Resume: a run is done when the ledger has a ``finished`` row for it. A run in flight when the study was killed
has a run folder whose ``study_attempt.json`` names an attempt without a ledger row: it continues from its newest
checkpoint (``train(resume=True)``), or restarts cleanly without one. A failed attempt is retried (clean restart)
up to ``max_retries`` times per invocation, then reported in summary.md and on stdout; ``--resume`` gives the
runs still missing a fresh set of attempts.

Workers: ``workers`` processes (``ProcessPoolExecutor``, spawn context: torch and fork do not mix), each with
``max(1, cpus // workers)`` threads (``training.threads`` and ``torch.set_num_threads``). ``workers=1`` runs
in this process. ``config_sha256`` in the ledger is the run's config without the per-worker thread count. The
thread count changes the numbers (reduction order), so a study keeps the one its first sweep used
(study_state.json): a ``--resume`` that would give another is refused, naming the ``--workers`` that fits.

Crash safety: a worker dies with its parent (``PR_SET_PDEATHSIG`` on Linux, and a parent check before each task,
so it never starts new work for a dead sweep). A run is claimed (``locks/<run_id>.lock``) before its folder is
touched and the ledger is checked again under the claim, so a run is never executed twice at once, and one that
a dying worker finished is not run again.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import datetime as _dt
import json
import math
import multiprocessing
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from specdiff.errors import InvalidValue, MissingPath, UserError
from specdiff.report.tables import format_number, markdown_table

from .study import SAMPLE_METRICS, Condition, Response, Study, StudyError, load_study

LEDGER_NAME = "study_ledger.csv"
LEDGER_FIELDS: tuple[str, ...] = (
    "run_id", "row", "noise", "replicate", "seed", "attempt", "status", "response", "error", "seconds",
    "config_sha256", "finished", "worker",
)
ATTEMPT_FILE = "study_attempt.json"
STATE_FILE = "study_state.json"
LOCK_FILE = "study.lock"
CONFIRM = "confirm"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_PARENT: int | None = None  # in a worker process: the pid of the sweep that started it

RunFn = Callable[["RunTask"], float]


@dataclass(frozen=True)
class RunTask:
    """One attempt of one run, as handed to a worker (plain data: it crosses the process boundary)."""

    run_id: str
    row: int | str
    levels: dict[str, int]
    noise: int
    replicate: int
    seed: int
    attempt: int
    config: dict[str, Any]
    config_sha256: str
    response: Response
    output_dir: str
    threads: int
    reference_seed: int
    resume: bool = False  # the worker sets it: True when continuing an in-flight run from its checkpoint
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def run_dir(self) -> str:
        return os.path.join(self.output_dir, "runs", self.run_id)


# ------------------------------------------------------------------------------------------------- the sweep


def run_study(
    study_path: str,
    output_dir: str | None = None,
    workers: int = 1,
    resume: bool = False,
    confirm: bool = False,
    max_retries: int = 1,
    *,
    run_fn: RunFn | None = None,
    log: Callable[[str], None] | None = None,
    strict: bool = False,
) -> str:
    """Runs every missing run of the study at ``study_path``, analyses the study and returns summary.md's path.

    ``run_fn(task) -> response`` replaces training (tests inject a synthetic response; it must be importable
    by module name when ``workers > 1``). ``confirm`` then runs the predicted-best levels for every replicate.
    Runs that still fail after ``max_retries`` are reported in the log and the ledger; with ``strict`` the call
    then raises :class:`StudyIncomplete` (after writing the summary).
    """
    if workers < 1:
        raise InvalidValue(f"workers must be >= 1, got {workers}")
    if max_retries < 0:
        raise InvalidValue(f"max_retries must be >= 0, got {max_retries}")
    log = log or _print
    study = load_study(study_path)
    out = output_dir or os.path.join("results", "taguchi", study.name)
    os.makedirs(out, exist_ok=True)
    with _claim(os.path.join(out, LOCK_FILE), f"study folder {out!r}"):
        cpus = _cpu_count()
        threads = max(1, cpus // workers)
        _prepare_folder(study, out, resume, {"threads_per_run": threads, "workers": workers, "cpus": cpus})
        tasks = [_task(study, out, row, study.row_levels(row), cond, threads)
                 for row in range(1, study.num_rows + 1) for cond in study.conditions()]
        log(f"study {study.name}: {study.array} x {len(study.conditions())} replicate(s) = {len(tasks)} runs, "
            f"{workers} worker(s) x {threads} thread(s), output {out}")
        failed = _sweep(tasks, out, workers, threads, max_retries, run_fn, log)
        summary = analyze_study(out)
        if confirm:
            if failed:
                log("confirmation skipped: the study has failed runs")
            else:
                best = _best_levels(out)
                if best is None:
                    log("confirmation skipped: the analysis is incomplete")
                else:
                    ctasks = _confirm_tasks(study, out, best, threads)
                    log(f"confirmation: {', '.join(f'{k}={v}' for k, v in study.level_labels(best).items())}")
                    failed += _sweep(ctasks, out, workers, threads, max_retries, run_fn, log)
                    summary = analyze_study(out)
    if failed:
        log(f"{len(failed)} run(s) failed after {max_retries + 1} attempt(s): " + "; ".join(
            f"{r['run_id']} ({r['error']})" for r in failed))
        if strict:
            raise StudyIncomplete(summary, [r["run_id"] for r in failed])
    return summary


class StudyIncomplete(UserError, RuntimeError):
    """Some runs of a study failed after their retries; ``summary`` is the report of the finished ones."""

    def __init__(self, summary: str, run_ids: list[str]):
        self.summary, self.run_ids = summary, run_ids
        super().__init__(f"{len(run_ids)} run(s) failed ({', '.join(run_ids[:5])}{', ...' if len(run_ids) > 5 else ''}"
                         "); their errors are in the study ledger: fix the cause and run again with --resume")


def _print(message: str) -> None:
    print(message, flush=True)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _claim(lock_path: str, what: str, wait: bool = False):
    from specdiff.train.ledger import claim

    return claim(lock_path, what, wait=wait)


def _prepare_folder(study: Study, out: str, resume: bool, state: dict[str, int]) -> None:
    """Checks ``out`` against the study (and, on resume, the thread count its runs used), then writes study.yaml
    and study_state.json. Called under the study folder's claim."""
    from specdiff.fileio import atomic_write_json, atomic_write_text

    saved = os.path.join(out, "study.yaml")
    if os.path.exists(os.path.join(out, LEDGER_NAME)) and not resume:
        raise StudyError(f"{out!r} already holds a study ({LEDGER_NAME}); pass --resume to continue it or choose "
                         "another --output-dir")
    if resume and os.path.exists(saved):
        old = load_study(saved).to_dict()
        new = study.to_dict()
        if old != new:
            keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
            raise StudyError(f"--resume: the study differs from {saved!r} in {', '.join(keys)}; a changed study "
                             "needs a new --output-dir")
    old = _read_state(out) if resume else None
    if old is not None and old.get("threads_per_run") != state["threads_per_run"]:
        raise StudyError(_threads_mismatch(out, old, state))
    os.makedirs(out, exist_ok=True)
    atomic_write_text(saved, study.to_yaml())
    if old is None:
        atomic_write_json(os.path.join(out, STATE_FILE), state)


def _read_state(out: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(out, STATE_FILE)) as f:
            state = json.load(f)
    except FileNotFoundError:
        return None  # a folder of an older version: the thread count of its runs is unknown
    except (OSError, ValueError) as exc:
        raise StudyError(f"{os.path.join(out, STATE_FILE)!r} is unreadable ({exc}); it records the thread count of "
                         "the study's runs") from None
    if not isinstance(state, dict) or not isinstance(state.get("threads_per_run"), int):
        raise StudyError(f"{os.path.join(out, STATE_FILE)!r} does not record threads_per_run")
    return state


def _threads_mismatch(out: str, old: dict[str, Any], new: dict[str, int]) -> str:
    used, cpus = old["threads_per_run"], new["cpus"]
    fits = [w for w in range(1, cpus + 1) if max(1, cpus // w) == used]
    how = (f"resume with --workers {fits[0]}" if fits
           else f"resume on a machine where --workers gives {used} thread(s)")
    return (f"--resume: the runs in {out!r} used {used} torch thread(s) each ({old.get('workers')} worker(s) on "
            f"{old.get('cpus')} CPU(s)), but --workers {new['workers']} on {cpus} CPU(s) gives "
            f"{new['threads_per_run']}; the thread count changes the results, so {how}, or start a new --output-dir")


def _task(study: Study, out: str, row: int | str, levels: Sequence[int], cond: Condition, threads: int) -> RunTask:
    from specdiff.config import from_dict

    design_config = study.raw_config(levels, cond)
    return RunTask(
        run_id=study.run_id(row, cond), row=row, levels={f.name: int(v) for f, v in zip(study.factors, levels,
                                                                                         strict=True)},
        noise=cond.noise, replicate=cond.replicate, seed=cond.seed, attempt=1,
        config=study.raw_config(levels, cond, threads=threads), config_sha256=from_dict(design_config).sha256(),
        response=study.response, output_dir=out, threads=threads, reference_seed=study.seed,
        labels=study.level_labels(levels))


def _confirm_tasks(study: Study, out: str, best: Sequence[int], threads: int) -> list[RunTask]:
    return [_task(study, out, CONFIRM, best, cond, threads) for cond in study.conditions()]


def _sweep(tasks: list[RunTask], out: str, workers: int, threads: int, max_retries: int, run_fn: RunFn | None,
           log: Callable[[str], None]) -> list[dict[str, str]]:
    """Runs what the ledger lacks; returns the final failed ledger rows of runs that used up their attempts."""
    from specdiff.train.ledger import read_rows

    rows = read_rows(out, name=LEDGER_NAME)
    # Done: a finished row of this config (a confirmation run of other best levels is stale and runs again).
    done = {(r["run_id"], r["config_sha256"]) for r in rows if r["status"] == "finished"}
    attempts: dict[str, int] = {}
    for r in rows:
        attempts[r["run_id"]] = max(attempts.get(r["run_id"], 0), int(r["attempt"]))
    todo = [replace(t, attempt=attempts.get(t.run_id, 0) + 1) for t in tasks
            if (t.run_id, t.config_sha256) not in done]
    if len(todo) < len(tasks):
        log(f"{len(tasks) - len(todo)} run(s) already in the ledger; {len(todo)} to run")
    if not todo:
        return []
    budget = {t.run_id: max_retries + 1 for t in todo}
    failed: list[dict[str, str]] = []
    finished = 0
    with _executor(workers, threads) as pool:
        futures = {pool.submit(_execute, t, run_fn): t for t in todo}
        while futures:
            complete, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
            for future in [f for f in futures if f in complete]:  # submission order
                task = futures.pop(future)
                row = future.result()
                budget[task.run_id] -= 1
                if row["status"] == "finished":
                    finished += 1
                    log(f"[{finished}/{len(todo)}] {task.run_id} finished: {task.response.metric} = "
                        f"{float(row['response']):.6g} ({float(row['seconds']):.1f} s)")
                elif budget[task.run_id] > 0:
                    log(f"{task.run_id} attempt {task.attempt} failed ({row['error']}); retrying")
                    retry = replace(task, attempt=task.attempt + 1)
                    futures[pool.submit(_execute, retry, run_fn)] = retry
                else:
                    log(f"{task.run_id} failed after {task.attempt} attempt(s): {row['error']}")
                    failed.append(row)
    return failed


@contextlib.contextmanager
def _executor(workers: int, threads: int):
    if workers == 1:
        yield _InlineExecutor(threads)
        return
    context = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                                  initargs=(threads, os.getpid()))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


class _InlineExecutor:
    """workers=1: each task runs in this process at submit time, with the thread count restored afterwards."""

    def __init__(self, threads: int):
        self.threads = threads

    def submit(self, fn, *args) -> cf.Future:
        future: cf.Future = cf.Future()
        torch = sys.modules.get("torch")
        saved = torch.get_num_threads() if torch is not None else None
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # _execute catches run errors; this is KeyboardInterrupt and the like
            if not isinstance(exc, Exception):
                raise
            future.set_exception(exc)
        finally:
            torch = sys.modules.get("torch")
            if torch is not None and saved is not None:
                torch.set_num_threads(saved)
        return future


def _init_worker(threads: int, parent: int) -> None:
    """Runs first in every worker: die with the sweep (SIGKILL when the parent exits, on Linux), then the threads."""
    global _PARENT
    _PARENT = parent
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _exit_if_orphaned()  # the parent may have died before prctl
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _exit_if_orphaned() -> None:
    """In a worker whose sweep has died: exit at once, without starting the next task."""
    if _PARENT is not None and os.getppid() != _PARENT:
        os._exit(1)


def _execute(task: RunTask, run_fn: RunFn | None) -> dict[str, str]:
    """One attempt in a worker, under the run's claim (waiting while a dying worker of a killed sweep still holds
    it): skip it if the ledger now has it finished, else prepare the run folder, run, append the ledger row and
    return it."""
    from specdiff.train.ledger import read_rows

    _exit_if_orphaned()
    locks = os.path.join(task.output_dir, "locks")
    os.makedirs(locks, exist_ok=True)
    with _claim(os.path.join(locks, f"{task.run_id}.lock"), f"run {task.run_id!r}", wait=True):
        for r in read_rows(task.output_dir, name=LEDGER_NAME):
            if r["run_id"] == task.run_id and r["config_sha256"] == task.config_sha256 and r["status"] == "finished":
                return r
        return _execute_claimed(task, run_fn)


def _execute_claimed(task: RunTask, run_fn: RunFn | None) -> dict[str, str]:
    from specdiff.train.checkpoint import latest_checkpoint
    from specdiff.train.ledger import append_row

    start = time.perf_counter()
    run_dir = task.run_dir
    marker = _read_marker(run_dir)
    in_flight = marker is not None and marker.get("attempt") == task.attempt
    can_continue = in_flight and latest_checkpoint(os.path.join(run_dir, "checkpoints")) is not None
    if not can_continue:
        shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir, exist_ok=True)
    _write_marker(run_dir, task)
    task = replace(task, resume=can_continue)
    row: dict[str, Any] = {"run_id": task.run_id, "row": task.row, "noise": task.noise, "replicate": task.replicate,
                           "seed": task.seed, "attempt": task.attempt, "config_sha256": task.config_sha256,
                           "worker": os.getpid()}
    try:
        value = float((run_fn or train_and_measure)(task))
        if not math.isfinite(value):
            raise ValueError(f"response {task.response.metric} is {value}")
        row.update(status="finished", response=value, error="")
    except Exception as exc:
        row.update(status="failed", response=None, error=_one_line(exc))
        with contextlib.suppress(OSError):
            with open(os.path.join(run_dir, "study_error.txt"), "w") as f:
                f.write(traceback.format_exc())
    row["seconds"] = round(time.perf_counter() - start, 3)
    row["finished"] = _dt.datetime.now().isoformat(timespec="seconds")
    append_row(task.output_dir, row, fields=LEDGER_FIELDS, name=LEDGER_NAME)
    return {k: "" if v is None else str(v) for k, v in row.items()}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300]


def _read_marker(run_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(run_dir, ATTEMPT_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_marker(run_dir: str, task: RunTask) -> None:
    from specdiff.fileio import atomic_write_json

    atomic_write_json(os.path.join(run_dir, ATTEMPT_FILE),
                      {"run_id": task.run_id, "row": task.row, "attempt": task.attempt, "seed": task.seed,
                       "levels": task.labels, "config_sha256": task.config_sha256,
                       "started": _dt.datetime.now().isoformat(timespec="seconds")})


# --------------------------------------------------------------------------------------- the real run function


def train_and_measure(task: RunTask) -> float:
    """The default run: ``train`` (continuing from the checkpoint when ``task.resume``), then the response from
    the run's metrics, or from sampling with the config's sampling section and evaluating against the data's
    test split."""
    from specdiff.config import from_dict
    from specdiff.train import load_run_config, train

    raw = json.loads(json.dumps(task.config))
    if task.resume:
        # The thread count is not part of the design: keep the one the run started with, so resume accepts it.
        raw["training"]["threads"] = load_run_config(task.run_dir).training.threads
    config = from_dict(raw)
    result = train(config, output_dir=task.output_dir, run_id=task.run_id, resume=task.resume, progress=False)
    if result.status != "finished":
        raise RuntimeError(f"training ended with status {result.status}")
    metric = task.response.metric
    if task.response.source == "metrics":
        value = result.metrics.get(metric)
        if value is None:
            raise ValueError(f"the run has no value for {metric} (e.g. fewer than 4 steps for loss_drop_per_second)")
        return float(value)
    return measure_samples(task, config, result.run_dir)


def measure_samples(task: RunTask, config, run_dir: str) -> float:
    """Samples the run (its sampling section), evaluates them against ``num_reference`` images of the data's
    test split (written once per study as PNGs, so both sides are 8-bit images) and returns the metric."""
    from specdiff.eval import evaluate, write_metrics
    from specdiff.train import sample_run
    from specdiff.train.trainer import resolve_device

    device = str(resolve_device(config.training.device))
    samples = sample_run(run_dir, tag="study", device=device)  # evaluate() reads the listed samples only
    reference = reference_folder(task.output_dir, config, task.response.num_reference, task.reference_seed)
    metric = task.response.metric
    result = evaluate(samples, reference=reference, metrics=[SAMPLE_METRICS[metric]],
                      channels=config.data.channels, device=device, seed=task.reference_seed)
    write_metrics(result, os.path.join(samples, "metrics.json"))
    value = result["metrics"].get(metric)
    if value is None:
        raise ValueError(f"evaluation gave no {metric} (got {', '.join(result['metrics'])}; notes: "
                         f"{' '.join(result.get('notes', []))})")
    return float(value)


def reference_folder(output_dir: str, config, count: int, seed: int, split: str = "test") -> str:
    """``D/reference/<name>-<key>/`` (``<name>-<split>-<key>/`` for a split other than "test"): ``count`` images of
    the config's data (``split``, ``seed``, no augmentation) as PNGs, made once (atomically renamed into place, so
    concurrent workers agree) and shared by every run with that data."""
    import hashlib

    from specdiff.data import build_dataset
    from specdiff.data.images import save_image

    d = config.data
    spec = {"data": config.to_dict()["data"], "count": count, "seed": seed}
    if split != "test":
        spec["split"] = split
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    name = d.name if split == "test" else f"{d.name}-{split}"
    folder = os.path.join(output_dir, "reference", f"{name}-{key}")
    if os.path.isdir(folder):
        return folder
    dataset = build_dataset(d.name, split=split, image_size=d.image_size, channels=d.channels, root=d.root,
                            seed=seed, length=count, **dict(d.options))
    n = min(count, len(dataset))
    tmp = f"{folder}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for i in range(n):
        item = dataset[i]
        save_image(item[0] if isinstance(item, (tuple, list)) else item, os.path.join(tmp, f"ref_{i:05d}.png"))
    try:
        os.rename(tmp, folder)
    except OSError:  # another worker made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


# ------------------------------------------------------------------------------------------------- analysis


@dataclass
class _Collected:
    study: Study
    rows: list[dict[str, str]]
    y: np.ndarray  # runs x conditions, NaN where missing
    runs: dict[str, dict[str, str]]  # run_id -> final finished row
    failed: list[dict[str, str]]  # last failed row of each run without a finished row
    missing: list[str]


def _collect(out: str) -> _Collected:
    from specdiff.train.ledger import read_rows

    study = load_study(os.path.join(out, "study.yaml"))
    rows = read_rows(out, name=LEDGER_NAME)
    finished: dict[str, dict[str, str]] = {}
    last: dict[str, dict[str, str]] = {}
    for r in rows:
        last[r["run_id"]] = r
        if r["status"] == "finished":
            finished[r["run_id"]] = r
    conds = study.conditions()
    y = np.full((study.num_rows, len(conds)), np.nan)
    missing = []
    for row in range(1, study.num_rows + 1):
        for j, cond in enumerate(conds):
            rid = study.run_id(row, cond)
            if rid in finished:
                y[row - 1, j] = float(finished[rid]["response"])
            else:
                missing.append(rid)
    failed = [r for rid, r in last.items() if rid not in finished and r["status"] != "finished"]
    return _Collected(study, rows, y, finished, failed, missing)


def _analysis(study: Study, y: np.ndarray):
    from .analysis import analyze

    levels, names = study.analysis_levels()
    pool = study.pool
    analysis = analyze(levels, y, study.response.goal, factors=names, pool=pool, alpha=study.alpha)
    if study.interactions:
        # The predicted optimum is additive over the main effects: an interaction column's own best level need
        # not match the best levels of its two factors.
        main = [f.name for f in study.factors if f.name not in analysis.pooled]
        analysis = analyze(levels, y, study.response.goal, factors=names, pool=list(analysis.pooled),
                           alpha=study.alpha, predict=main)
    return analysis


def _best_levels(out: str) -> list[int] | None:
    c = _collect(out)
    if c.missing:
        return None
    analysis = _analysis(c.study, c.y)
    return [analysis.best_levels[f.name] for f in c.study.factors]


def analyze_study(output_dir: str) -> str:
    """Reads ``D/study.yaml`` and ``D/study_ledger.csv`` and writes the CSVs, figures, confirmation.json (when
    the confirmation runs are in the ledger) and summary.md; returns summary.md's path. With runs missing it
    writes a summary of what is there and what is missing."""
    from specdiff.fileio import atomic_write_json, atomic_write_text

    out = output_dir
    if not os.path.exists(os.path.join(out, "study.yaml")):
        raise MissingPath(f"{out!r} is not a study folder (no study.yaml)")
    c = _collect(out)
    study = c.study
    analysis = confirmation = None
    figures: dict[str, str] = {}
    notes: list[str] = []
    if not c.missing:
        analysis = _analysis(study, c.y)
        analysis.write_csv(out)
        figures = _figures(study, analysis, out)
        confirmation = _confirmation(c, analysis, notes)
        path = os.path.join(out, "confirmation.json")
        if confirmation is not None:
            atomic_write_json(path, confirmation)
        elif os.path.exists(path):
            os.remove(path)
    summary = os.path.join(out, "summary.md")
    atomic_write_text(summary, _markdown(c, analysis, figures, confirmation, notes))
    return summary


def _figures(study: Study, analysis, out: str) -> dict[str, str]:
    from .plots import plot_contribution, plot_interaction, plot_main_effects

    folder = os.path.join(out, "figures")
    figures = {
        "Main effects (mean response and S/N per level)":
            plot_main_effects(analysis, os.path.join(folder, "main_effects"), response_label=study.response.metric,
                              level_labels={f.name: f.labels for f in study.factors})[0],
        "ANOVA contribution": plot_contribution(analysis, os.path.join(folder, "contribution"))[0],
    }
    for a, b in study.interactions:
        figures[f"Interaction {a} x {b}"] = plot_interaction(analysis, os.path.join(folder, f"interaction_{a}x{b}"),
                                                             a, b)[0]
    return {k: os.path.relpath(v, out) for k, v in figures.items()}


def _confirmation(c: _Collected, analysis, notes: list[str]) -> dict[str, Any] | None:
    """The confirmation result when every confirmation run of the current best levels is in the ledger."""
    from specdiff.config import ConfigError, from_dict

    from .analysis import confirm

    study = c.study
    conds = study.conditions()
    ids = [study.run_id(CONFIRM, cond) for cond in conds]
    have = [rid for rid in ids if rid in c.runs]
    if not have:
        return None
    best = [analysis.best_levels[f.name] for f in study.factors]
    try:
        shas = [from_dict(study.raw_config(best, cond)).sha256() for cond in conds]
    except ConfigError as exc:
        notes.append(f"The best levels do not form a valid config ({exc}); no confirmation.")
        return None
    if len(have) < len(ids) or any(c.runs[rid]["config_sha256"] != sha for rid, sha in zip(ids, shas,
                                                                                          strict=True)):
        notes.append("The confirmation runs in the ledger are incomplete or were run at other levels than the "
                     "current best levels; run again with --confirm.")
        return None
    y = np.array([float(c.runs[rid]["response"]) for rid in ids])
    result = confirm(analysis, y=y)
    return {
        "levels": study.level_labels(best),
        "level_indices": dict(zip([f.name for f in study.factors], best, strict=True)),
        "runs": ids,
        "responses": y.tolist(),
        "snr_db": result.snr,
        "predicted_snr_db": result.predicted,
        "interval_db": [result.lower, result.upper],
        "inside": result.inside,
        "inside_mean_interval": result.inside_mean_interval,
        "mean_interval_db": [analysis.optimum.lower, analysis.optimum.upper],
        "alpha": analysis.optimum.alpha,
    }


# ------------------------------------------------------------------------------------------------ summary.md


def _markdown(c: _Collected, analysis, figures: Mapping[str, str], confirmation: dict[str, Any] | None,
              notes: list[str]) -> str:
    from .arrays import describe

    study = c.study
    conds = study.conditions()
    r = study.response
    lines = [f"# Taguchi study: {study.name}", ""]
    if study.description:
        lines += [study.description, ""]
    n_runs = study.num_rows * len(conds)
    source = ("from the training metrics" if r.source == "metrics"
              else f"samples from each run's sampling section, evaluated against {r.num_reference} images of "
                   "the data's test split")
    lines += [
        f"- Array: {describe(study.array)}, {study.num_rows} rows x {len(conds)} replicate(s) = {n_runs} runs "
        f"({n_runs - len(c.missing)} finished, {len(c.missing)} missing).",
        f"- Response: `{r.metric}` ({source}), {r.goal}-the-better.",
        f"- Seeds: replicate k uses seed {study.seed} + k for training.seed and sampling.seed in every row "
        "(common random numbers).",
        f"- Pooling: {study.pool if study.pool is not None else 'none'}; α = {study.alpha}.",
        "- Files: [study.yaml](study.yaml), [study_ledger.csv](study_ledger.csv)"
        + (", [taguchi_report.csv](taguchi_report.csv), [anova.csv](anova.csv), [response.csv](response.csv)"
           if analysis is not None else "")
        + (", [confirmation.json](confirmation.json)" if confirmation is not None else "") + ".",
        "",
        "## Factors",
        "",
    ]
    width = max(len(f.levels) for f in study.factors)
    factor_rows = [[f.name, f"`{f.key}`", f.column, *[f"`{lbl}`" for lbl in f.labels],
                    *[None] * (width - len(f.labels))] for f in study.factors]
    factor_rows += [[f"{a}x{b} (interaction)", None, col, *[None] * width]
                    for (a, b), col in zip(study.interactions, study.interaction_columns, strict=True)]
    lines += markdown_table(["factor", "config key", "column (0-based)", *[f"level {i}" for i in range(width)]],
                            factor_rows)
    if study.noise:
        lines += ["", "Noise factors (crossed with the seeds): " + "; ".join(
            f"{f.name} (`{f.key}`: {', '.join(f.labels)})" for f in study.noise) + "."]
    mapping_levels = [f for f in study.factors if any(isinstance(v, Mapping) for v in f.levels)]
    for f in mapping_levels:
        lines += ["", f"Levels of {f.name} (`{f.key}`):", ""]
        lines += [f"- `{lbl}`: `{json.dumps(v, sort_keys=False)}`" for lbl, v in zip(f.labels, f.levels, strict=True)]

    # Per-run table.
    heads = [f"y{j + 1} (n{cond.noise} s{cond.replicate})" if study.noise else f"y{j + 1} (seed {cond.seed})"
             for j, cond in enumerate(conds)]
    run_rows = []
    for row in range(1, study.num_rows + 1):
        labels = study.level_labels(study.row_levels(row))
        mean = format_number(float(analysis.mean[row - 1])) if analysis is not None else None
        sn = format_number(float(analysis.snr[row - 1]), ".3f") if analysis is not None else None
        run_rows.append([row, *labels.values(), *[format_number(v) for v in c.y[row - 1]], mean, sn])
    lines += ["", "## Runs", "",
              *markdown_table(["row", *[f.name for f in study.factors], *heads, "mean", "S/N (dB)"], run_rows)]
    seconds = [float(x["seconds"]) for x in c.runs.values() if x["seconds"]]
    if seconds:
        lines += ["", f"Run time per run: median {np.median(seconds):.1f} s, total {sum(seconds) / 60:.1f} "
                      "min of worker time (from the ledger)."]

    if analysis is None:
        lines += ["", "## Analysis", "", f"Not possible yet: {len(c.missing)} run(s) have no finished result "
                  f"({', '.join(c.missing[:12])}{' ...' if len(c.missing) > 12 else ''}). Run the study again "
                  "with `--resume`."]
    else:
        lines += ["", analysis.to_markdown().rstrip("\n").replace("## Taguchi analysis", "## Analysis", 1)]
        best_rows = []
        for f in study.factors:
            t = analysis.response[f.name]
            lvl = analysis.best_levels[f.name]
            best_rows.append([f.name, lvl, f"`{f.labels[lvl]}`", format_number(t.snr_delta, ".3f"), t.snr_rank])
        lines += ["", "### Best levels", "",
                  *markdown_table(["factor", "best level", "value", "S/N delta (dB)", "rank"], best_rows)]
        o = analysis.optimum
        top = sorted((a for a in analysis.anova if not a.pooled and not math.isnan(a.contribution)),
                     key=lambda a: -a.contribution)
        lines += ["", f"Predicted optimum: S/N = {o.snr:.3f} dB, {100 * (1 - o.alpha):.0f}% interval "
                      f"[{format_number(o.lower, '.3f')}, {format_number(o.upper, '.3f')}] dB; "
                      f"predicted mean {r.metric} = "
                      f"{o.mean:.4g} (additive model over {', '.join(o.factors_used) or 'no factors'})."]
        lo_mean, hi_mean = float(np.min(analysis.mean)), float(np.max(analysis.mean))
        if not lo_mean <= o.mean <= hi_mean:
            lines += ["", f"The predicted mean ({o.mean:.4g}) lies outside the observed run means [{lo_mean:.4g}, "
                          f"{hi_mean:.4g}]: the additive model extrapolates on the raw scale; read the S/N prediction "
                          "and the confirmation runs instead."]
        if top:
            lines += ["", "Largest contributions: " + ", ".join(f"{a.name} {a.contribution:.1f}%" for a in top[:3])
                      + "."]
        if study.interactions:
            lines += ["", "Interaction columns enter the ANOVA as factors `AxB`; the predicted optimum uses the "
                          "main effects only."]
        if figures:
            lines += ["", "## Figures", ""]
            for title, path in figures.items():
                lines += [f"![{title}]({path})", "", f"*{title}* ([PDF]({path[:-4]}.pdf))", ""]
            lines.pop()
    if confirmation is not None or notes:
        lines += ["", "## Confirmation", ""]
        if confirmation is not None:
            lv = ", ".join(f"{k}={v}" for k, v in confirmation["levels"].items())
            lo, hi = confirmation["interval_db"]
            lines += [f"Best levels ({lv}) run for {len(confirmation['runs'])} replicate(s): responses "
                      f"{', '.join(format_number(v) for v in confirmation['responses'])}; S/N = "
                      f"{confirmation['snr_db']:.3f} dB vs predicted {confirmation['predicted_snr_db']:.3f} dB, "
                      f"confirmation interval [{format_number(lo, '.3f')}, {format_number(hi, '.3f')}] dB: "
                      f"**{'inside' if confirmation['inside'] else 'outside'}** the interval "
                      f"({'inside' if confirmation['inside_mean_interval'] else 'outside'} the narrower interval "
                      "of the mean prediction)."]
        lines += [f"- {n}" for n in notes]
    failed = c.failed
    lines += ["", "## Failed runs", ""]
    if failed:
        lines += markdown_table(["run", "attempts", "last error"],
                                [[x["run_id"], x["attempt"], x["error"]] for x in failed])
    else:
        lines.append("None.")
    lines.append("")
    return "\n".join(lines)
