"""Helpers for the Taguchi runner tests: study files and synthetic run functions with known effects.

The run functions are module-level so spawned workers can import them. Each call records what it was given in
``<output_dir>/calls/<run_id>-a<attempt>.json`` (works across processes).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "configs" / "smoke"

# Synthetic response: y = exp(c + Σ_f EFFECTS[f][level]) · (1 + 0.1 k) for replicate k. For smaller-the-better
# η = −20·log10(e)·(c + Σ effects) − 10·log10(mean_k (1 + 0.1 k)²): exactly additive in the factors.
C = 1.0
EFFECTS = {"model": (0.0, 0.5), "prediction": (0.2, 0.0), "sampler": (0.0, 0.05)}
DB = 20 * math.log10(math.e)


def tiny_model(**options):
    return {"name": "tiny_unet", "base_channels": 8, "channel_mults": [1, 2], "num_res_blocks": 1,
            "time_embed_dim": 32, **options}


def spectral_model(**options):
    return {"name": "spectral_unet", "base_channels": 4, "channel_mults": [1, 2], "num_res_blocks": 1,
            "time_embed_dim": 32, "image_size": 16, **options}


def study_dict(**changes):
    """An L4 study over three factors (a mapping-level model factor, prediction, sampler) on the smoke config."""
    study = {
        "name": "synthetic",
        "base": str(SMOKE / "tiny_unet.yaml"),
        "set": {"training.steps": 2, "training.checkpoint_every": 2},
        "factors": {
            "model": {"key": "model", "levels": [tiny_model(), spectral_model()]},
            "prediction": {"key": "diffusion.prediction", "levels": ["eps", "v"]},
            "sampler": {"key": "sampling.sampler", "levels": ["ddim", "dpm_solver++"]},
        },
        "replicates": 2,
        "seed": 7,
        "response": {"metric": "spectral_distance_db", "goal": "smaller", "num_reference": 8},
    }
    study.update(changes)
    return study


def write_study(folder, study=None, name="study.yaml") -> str:
    path = Path(folder) / name
    path.write_text(yaml.safe_dump(study if study is not None else study_dict(), sort_keys=False))
    return str(path)


def expected_response(levels: dict[str, int], replicate: int) -> float:
    return math.exp(C + sum(EFFECTS[f][lvl] for f, lvl in levels.items() if f in EFFECTS)) * (1 + 0.1 * replicate)


def _record(task, **extra) -> None:
    folder = Path(task.output_dir) / "calls"
    folder.mkdir(parents=True, exist_ok=True)
    torch_threads = None
    import sys

    if "torch" in sys.modules:
        torch_threads = sys.modules["torch"].get_num_threads()
    record = {"run_id": task.run_id, "row": task.row, "attempt": task.attempt, "levels": task.levels,
              "replicate": task.replicate, "seed": task.seed, "resume": task.resume,
              "training_seed": task.config["training"]["seed"], "sampling_seed": task.config["sampling"]["seed"],
              "model": task.config["model"]["name"], "prediction": task.config["diffusion"]["prediction"],
              "sampler": task.config["sampling"]["sampler"], "config_threads": task.config["training"]["threads"],
              "torch_threads": torch_threads, "omp": os.environ.get("OMP_NUM_THREADS"), "pid": os.getpid(),
              "run_dir_files": sorted(os.listdir(task.run_dir)), **extra}
    (folder / f"{task.run_id}-a{task.attempt}.json").write_text(json.dumps(record))


def calls(output_dir) -> list[dict]:
    folder = Path(output_dir) / "calls"
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def synthetic(task) -> float:
    """Known additive effects of the levels (see EFFECTS)."""
    _record(task)
    return expected_response(task.levels, task.replicate)


def flaky(task) -> float:
    """Like `synthetic`, but fails while ``task.attempt <= fails[run_id]`` from ``<output_dir>/fails.json``."""
    fails = json.loads((Path(task.output_dir).parent / "fails.json").read_text())
    _record(task)
    if task.attempt <= fails.get(task.run_id, 0):
        raise RuntimeError(f"synthetic failure of {task.run_id} attempt {task.attempt}")
    return expected_response(task.levels, task.replicate)


# A response with an interaction: y = exp(1 + 0.3·A + 0.1·B + 0.4·[A == B] + 0.02·C + 0.01·D), one replicate.
def interacting(task) -> float:
    lv = task.levels
    return math.exp(1 + 0.3 * lv["A"] + 0.1 * lv["B"] + 0.4 * (lv["A"] == lv["B"]) + 0.02 * lv["C"] + 0.01 * lv["D"])


def append_many(directory: str, worker: int, count: int) -> None:
    """Appends ``count`` study-ledger rows with long, comma- and quote-laden errors (bigger than a pipe buffer,
    so unlocked writers would interleave)."""
    from specdiff.experiments.runner import LEDGER_FIELDS, LEDGER_NAME
    from specdiff.train.ledger import append_row

    for i in range(count):
        row = {"run_id": f"w{worker}-{i}", "row": i, "noise": 0, "replicate": worker, "seed": worker,
               "attempt": 1, "status": "failed", "response": None, "error": error_text(worker, i), "seconds": 0.5,
               "config_sha256": "0" * 64, "finished": "now", "worker": worker}
        append_row(directory, row, fields=LEDGER_FIELDS, name=LEDGER_NAME)


def error_text(worker: int, i: int) -> str:
    return f'worker {worker}, row {i}: "quoted", ' + ("abc," * 2000)


def slow(task) -> float:
    """Like `synthetic`, but first sleeps ``<output_dir>/../sleep.txt`` seconds (the run a test kills mid-way)."""
    _record(task)
    time.sleep(float((Path(task.output_dir).parent / "sleep.txt").read_text()))
    return expected_response(task.levels, task.replicate)


def rewrite_ledger(out, keep) -> None:
    """Rewrites the study ledger of folder ``out`` with only the rows ``keep(row)`` accepts (a partial sweep)."""
    import csv

    from specdiff.experiments.runner import LEDGER_FIELDS, LEDGER_NAME
    from specdiff.train.ledger import read_rows

    rows = [r for r in read_rows(str(out), name=LEDGER_NAME) if keep(r)]
    with open(Path(out) / LEDGER_NAME, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LEDGER_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
