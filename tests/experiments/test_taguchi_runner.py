"""Taguchi sweep runner: validation before anything runs, seeds, workers, resume, retries, ledger, report.

Most tests inject a synthetic run function with known additive effects (taguchiutil), so the sweep machinery
and the analysis are checked exactly and fast; one test runs a real tiny study end to end.
"""

import csv
import json
import math
import multiprocessing
import os

import numpy as np
import pytest
import taguchiutil
import torch
import yaml
from taguchiutil import (
    DB,
    EFFECTS,
    append_many,
    calls,
    error_text,
    expected_response,
    spectral_model,
    study_dict,
    tiny_model,
    write_study,
)

from specdiff.config import from_dict
from specdiff.experiments import interaction_column, orthogonal_array
from specdiff.experiments.runner import LEDGER_FIELDS, LEDGER_NAME, analyze_study, run_study
from specdiff.experiments.study import StudyError, load_study
from specdiff.train.ledger import read_rows

REP_TERM = -10 * math.log10(np.mean([(1 + 0.1 * k) ** 2 for k in range(2)]))  # the two replicates' S/N term


def _ledger(out) -> list[dict[str, str]]:
    return read_rows(str(out), name=LEDGER_NAME)


def _eta(levels: dict[str, int]) -> float:
    """S/N of a row of the synthetic study (smaller-the-better, two replicates)."""
    return -DB * (1.0 + sum(EFFECTS[f][lvl] for f, lvl in levels.items())) + REP_TERM


def _quiet(messages):
    return messages.append


# --------------------------------------------------------------------------------------------- the analysis


def test_synthetic_study_gives_the_exact_analysis_seeds_and_report(tmp_path, capsys):
    study_path = write_study(tmp_path)
    out = tmp_path / "out"
    messages = []
    summary = run_study(study_path, output_dir=str(out), confirm=True, run_fn=taguchiutil.synthetic,
                        log=messages.append)
    assert summary == str(out / "summary.md")

    study = load_study(out / "study.yaml")
    assert study.array == "L4" and study.columns == (0, 1, 2)
    rows = _ledger(out)
    array_rows = [r for r in rows if r["row"] != "confirm"]
    assert [r["run_id"] for r in array_rows] == [f"r{i:02d}-s{k}" for i in range(1, 5) for k in range(2)]
    assert all(r["status"] == "finished" and r["attempt"] == "1" for r in rows)

    # Seeds: replicate k of every row gets seed 7 + k in training and sampling (common random numbers).
    recorded = {c["run_id"]: c for c in calls(out)}
    l4 = orthogonal_array("L4")
    for r in array_rows:
        c = recorded[r["run_id"]]
        k = int(r["replicate"])
        assert int(r["seed"]) == c["seed"] == c["training_seed"] == c["sampling_seed"] == 7 + k
        levels = l4[int(r["row"]) - 1]
        assert c["levels"] == {"model": levels[0], "prediction": levels[1], "sampler": levels[2]}
        # Mapping levels replace the whole model section; scalar levels set their key.
        assert c["model"] == ("tiny_unet", "spectral_unet")[levels[0]]
        assert c["prediction"] == ("eps", "v")[levels[1]] and c["sampler"] == ("ddim", "dpm_solver++")[levels[2]]
        assert float(r["response"]) == pytest.approx(expected_response(c["levels"], k), rel=1e-12)
        # The ledger's hash is the design config (without the worker's thread count).
        cond = study.conditions()[k]
        assert r["config_sha256"] == from_dict(study.raw_config(list(levels), cond)).sha256()
    assert len({r["config_sha256"] for r in array_rows if r["replicate"] == "0"}) == 4

    # The analysis, exactly: S/N deltas are 20·log10(e)·effect, best levels minimise y, the sampler is pooled.
    report = list(csv.DictReader(open(out / "taguchi_report.csv")))
    for r, rec in zip(report, l4, strict=True):
        assert float(r["snr_db"]) == pytest.approx(_eta(dict(zip(EFFECTS, rec, strict=True))), abs=1e-9)
    response = {(r["factor"], int(r["level"])): r for r in csv.DictReader(open(out / "response.csv"))}
    for f, effects in EFFECTS.items():
        assert float(response[(f, 0)]["snr_delta"]) == pytest.approx(DB * abs(effects[1] - effects[0]), abs=1e-9)
    best = {f: lvl for (f, lvl), r in response.items() if r["best"] == "True"}
    assert best == {"model": 0, "prediction": 1, "sampler": 0}
    anova = {r["source"]: r for r in csv.DictReader(open(out / "anova.csv"))}
    assert anova["sampler"]["pooled"] == "True" and anova["model"]["pooled"] == "False"
    v_e = 4 * (DB * 0.025) ** 2  # SS of the pooled sampler, 1 dof
    assert float(anova["error"]["ms"]) == pytest.approx(v_e, rel=1e-9)

    # Confirmation at the best levels: the synthetic response there is known, and so is the prediction.
    confirmation = json.loads((out / "confirmation.json").read_text())
    k_term = -DB * 1.0 + REP_TERM
    assert confirmation["levels"] == {"model": "tiny_unet", "prediction": "v", "sampler": "ddim"}
    assert confirmation["snr_db"] == pytest.approx(k_term, abs=1e-9)
    assert confirmation["predicted_snr_db"] == pytest.approx(k_term - DB * 0.025, abs=1e-9)
    half = math.sqrt(161.4476387 * v_e * (1 / (4 / 3) + 1))  # F(0.05; 1, 1), n_eff = 4 / (1 + 2), r = 1
    assert confirmation["interval_db"] == pytest.approx([k_term - DB * 0.025 - half, k_term - DB * 0.025 + half],
                                                        abs=1e-6)
    assert confirmation["inside"] is True
    assert recorded["confirm-s0"]["levels"] == {"model": 0, "prediction": 1, "sampler": 0}

    text = (out / "summary.md").read_text()
    for needle in ("L4(2^3)", "| model | `model` | 0 | `tiny_unet` | `spectral_unet` |", "### ANOVA on S/N",
                   "sampler (pooled)", "| prediction | 1 | `v` |", "Predicted optimum", "**inside**",
                   "![Main effects (mean response and S/N per level)](figures/main_effects.png)",
                   "![ANOVA contribution](figures/contribution.png)", "## Failed runs\n\nNone."):
        assert needle in text
    for link in ("figures/main_effects.png", "figures/main_effects.pdf", "figures/contribution.pdf",
                 "study.yaml", "anova.csv", "confirmation.json"):
        assert f"({link})" in text and (out / link).stat().st_size > 0

    # `specdiff taguchi analyze D` rebuilds the same report from the study copy and the ledger.
    from specdiff.cli import main

    before = text
    (out / "summary.md").unlink()
    assert main(["taguchi", "analyze", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (out / "summary.md").read_text() == before


# ------------------------------------------------------------------------------------------- validation


def _lr(levels):
    return {"key": "optim.lr", "levels": levels}


@pytest.mark.parametrize("change, message", [
    ({"factors": {**study_dict()["factors"], "lr": {"key": "optim.lrr", "levels": [1e-3, 2e-3]}}},
     "factor 'lr' level 0 (0.001) in row 1: optim.lrr = 0.001: unknown key"),
    ({"factors": {**study_dict()["factors"], "lr": _lr([1e-3, 5.0])}},
     "factor 'lr' level 1 (5.0) in row 2: optim.lr = 5.0: must be in (0, 1]"),
    ({"factors": {**study_dict()["factors"],
                  "model": {"key": "model", "levels": [tiny_model(), spectral_model(channel_mult=2)]}}},
     "factor 'model' level 1 (spectral_unet) in row 3: model.channel_mult"),
    ({"factors": {**study_dict()["factors"], "lr": _lr([1e-3, "1e-3"])}},
     "factor 'lr': levels 0 (0.001) and 1 (1e-3) give the same config in row 1"),
    ({"response": {"metric": "final_loss", "goal": "smaller"}},
     "factors.sampler.key = 'sampling.sampler': cannot affect response 'final_loss'"),
    ({"factors": {**study_dict()["factors"], "seed": {"key": "training.seed", "levels": [0, 1]}}},
     "factors.seed.key = 'training.seed': is the replicate seed"),
    # The study file is parsed like a config: unknown keys with the nearest valid one, at every level.
    ({"factor": {}}, "factor = {}: unknown key (valid: name, description, base, set, array, factors, "),
    ({"factors": {**study_dict()["factors"], "lr": {"key": "optim.lr", "levels": [1e-3, 2e-3], "colum": 1}}},
     "factors.lr.colum = 1: unknown key (valid: key, levels, labels, column); did you mean 'column'?"),
    ({"noise": {"n": {"key": "data.length", "levels": [256, 128], "column": 0}}},
     "noise.n.column = 0: unknown key (valid: key, levels, labels)"),
    ({"response": {"metric": "spectral_distance", "goal": "smaller"}},
     "response.metric = 'spectral_distance': unknown metric (valid: final_loss, "),
    ({"response": {"metric": "spectral_distance", "goal": "smaller"}}, "did you mean 'spectral_distance_db'?"),
    ({"interactions": [["model", "lr"]]}, "interactions[0][1] = 'lr': unknown factor (valid: model, prediction, "
                                          "sampler)"),
    ({"pool": ["modl"]}, "pool[0] = 'modl': unknown factor (valid: model, prediction, sampler); did you mean "
                         "'model'?"),
    # Typed values and range checks.
    ({"replicates": 1.5}, "replicates = 1.5: must be an integer"),
    ({"replicates": 0}, "replicates = 0: must be an integer >= 1"),
    ({"alpha": True}, "alpha = True: must be a number"),
    ({"interactions": [["model"]]}, "interactions[0] = ['model']: must be a list of 2 values"),
    ({"factors": {**study_dict()["factors"], "lr": {"key": "optim.lr", "levels": 0.001}}},
     "factors.lr.levels = 0.001: must be a list"),
    ({"factors": {**study_dict()["factors"], "lr": {"key": "optim.lr", "levels": [1e-3, 2e-3], "labels": ["a"]}}},
     "factors.lr.labels = ['a']: must list one label per level"),
    ({"factors": {**study_dict()["factors"], "lr": {"key": "optm.lr", "levels": [1e-3, 2e-3]}}},
     "factors.lr.key = 'optm.lr': is not in a config section (model, data, diffusion, loss, optim, training, "
     "sampling)"),
    ({"response": {"metric": "final_loss", "goal": "smaller", "num_reference": 8}, "factors": {
        k: v for k, v in study_dict()["factors"].items() if k != "sampler"}},
     "response.num_reference = 8: is only read for sample metrics, not 'final_loss'"),
    ({"set": {"steps": 3}}, "set.steps = 3: the key must be a dotted config key like training.steps"),
    ({"base": "missing.yaml"}, "base: config file "),
    # Factor names name figure files (figures/interaction_<a>x<b>.png): no paths.
    ({"factors": {**study_dict()["factors"], "../../x": _lr([1e-3, 2e-3])}},
     "factors: factor name '../../x' is not a plain name"),
    ({"noise": {"/tmp/n": {"key": "data.length", "levels": [256, 128]}}},
     "noise: factor name '/tmp/n' is not a plain name"),
    ({"name": "../up"}, "name = '../up': must be a plain name"),
])
def test_every_factor_key_and_level_is_validated_before_anything_runs(tmp_path, change, message):
    out = tmp_path / "out"
    with pytest.raises(StudyError, match="^" + str(tmp_path).replace("\\", "\\\\")) as info:
        run_study(write_study(tmp_path, study_dict(**change)), output_dir=str(out), run_fn=taguchiutil.synthetic,
                  log=_quiet([]))
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not out.exists()


def test_a_valid_study_is_not_rejected_by_the_checks(tmp_path):
    # The same factors as the rejected cases, with valid levels: the checks reject the levels, not the factors.
    study = load_study(write_study(tmp_path, study_dict(factors={**study_dict()["factors"], "lr": _lr([1e-3, 2e-3])})))
    assert study.array == "L8" and [f.name for f in study.factors] == ["model", "prediction", "sampler", "lr"]


# -------------------------------------------------------------------------------------------- workers


def test_two_workers_give_the_same_ledger_and_analysis_as_one(tmp_path):
    path = write_study(tmp_path)
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    run_study(path, output_dir=str(serial), workers=1, run_fn=taguchiutil.synthetic, log=_quiet([]))
    run_study(path, output_dir=str(parallel), workers=2, run_fn=taguchiutil.synthetic, log=_quiet([]))

    def key(rows):
        return sorted((r["run_id"], r["row"], r["replicate"], r["seed"], r["attempt"], r["status"], r["response"],
                       r["config_sha256"]) for r in rows)

    assert key(_ledger(serial)) == key(_ledger(parallel))
    for name in ("taguchi_report.csv", "anova.csv", "response.csv"):
        assert (serial / name).read_text() == (parallel / name).read_text()
    # Workers are separate processes with cpus // 2 threads each, set in the config and in torch.
    expected = max(1, len(os.sched_getaffinity(0)) // 2)
    for c in calls(parallel):
        assert c["pid"] != os.getpid()
        assert c["config_threads"] == c["torch_threads"] == expected and c["omp"] == str(expected)


# ----------------------------------------------------------------------------------------- resume, retries


def test_resume_after_a_kill_runs_only_the_missing_runs(tmp_path):
    path = write_study(tmp_path)
    out = tmp_path / "out"
    run_study(path, output_dir=str(out), run_fn=taguchiutil.synthetic, log=_quiet([]))
    reference = {name: (out / name).read_text() for name in ("taguchi_report.csv", "anova.csv", "response.csv")}

    # Simulated kill: three runs lose their ledger rows. r02-s0 was in flight with a checkpoint, r03-s1 in flight
    # before its first checkpoint (with a stale file), r04-s0 had not started.
    lost = {"r02-s0", "r03-s1", "r04-s0"}
    taguchiutil.rewrite_ledger(out, lambda r: r["run_id"] not in lost)
    (out / "runs" / "r02-s0" / "checkpoints").mkdir()
    (out / "runs" / "r02-s0" / "checkpoints" / "step_2.pt").write_bytes(b"checkpoint")
    (out / "runs" / "r03-s1" / "stale.txt").write_text("half-written")
    os.rename(out / "runs" / "r04-s0", tmp_path / "gone")
    for p in (out / "calls").iterdir():
        p.unlink()

    with pytest.raises(StudyError, match="pass --resume"):
        run_study(path, output_dir=str(out), run_fn=taguchiutil.synthetic, log=_quiet([]))
    messages = []
    run_study(path, output_dir=str(out), resume=True, run_fn=taguchiutil.synthetic, log=messages.append)

    ran = {c["run_id"]: c for c in calls(out)}
    assert set(ran) == lost
    assert ran["r02-s0"]["resume"] is True and "checkpoints" in ran["r02-s0"]["run_dir_files"]
    assert ran["r03-s1"]["resume"] is False and ran["r03-s1"]["run_dir_files"] == ["study_attempt.json"]
    assert ran["r04-s0"]["resume"] is False and all(c["attempt"] == 1 for c in ran.values())
    assert "5 run(s) already in the ledger; 3 to run" in messages
    assert len(_ledger(out)) == 8
    for name, text in reference.items():
        assert (out / name).read_text() == text

    # A changed study cannot resume into the same folder.
    with pytest.raises(StudyError, match="differs .* in replicates"):
        run_study(write_study(tmp_path, study_dict(replicates=3), name="changed.yaml"), output_dir=str(out),
                  resume=True, run_fn=taguchiutil.synthetic, log=_quiet([]))


def test_failed_runs_are_retried_then_reported_and_resume_retries_them(tmp_path):
    path = write_study(tmp_path)
    out = tmp_path / "out"
    (tmp_path / "fails.json").write_text(json.dumps({"r02-s0": 99, "r03-s1": 1}))
    messages = []
    summary = run_study(path, output_dir=str(out), max_retries=1, run_fn=taguchiutil.flaky, log=messages.append)

    rows = _ledger(out)
    by_run = {}
    for r in rows:
        by_run.setdefault(r["run_id"], []).append((r["attempt"], r["status"]))
    assert by_run["r02-s0"] == [("1", "failed"), ("2", "failed")]
    assert by_run["r03-s1"] == [("1", "failed"), ("2", "finished")]
    assert all(v == [("1", "finished")] for k, v in by_run.items() if k not in ("r02-s0", "r03-s1"))
    retry = {(c["run_id"], c["attempt"]): c for c in calls(out)}
    assert retry[("r03-s1", 2)]["run_dir_files"] == ["study_attempt.json"]  # a retry restarts cleanly
    assert "RuntimeError: synthetic failure of r02-s0 attempt 2" in rows[-1]["error"] or any(
        "attempt 2" in r["error"] for r in rows if r["run_id"] == "r02-s0")
    assert any(m.startswith("1 run(s) failed after 2 attempt(s): r02-s0 (RuntimeError") for m in messages)

    text = open(summary).read()
    assert "| r02-s0 | 2 | RuntimeError: synthetic failure of r02-s0 attempt 2 |" in text
    assert "Not possible yet: 1 run(s) have no finished result (r02-s0)" in text
    assert not (out / "taguchi_report.csv").exists()

    (tmp_path / "fails.json").write_text("{}")
    for p in (out / "calls").iterdir():
        p.unlink()
    run_study(path, output_dir=str(out), resume=True, max_retries=0, run_fn=taguchiutil.flaky, log=_quiet([]))
    assert [(c["run_id"], c["attempt"]) for c in calls(out)] == [("r02-s0", 3)]
    text = (out / "summary.md").read_text()
    assert "## Failed runs\n\nNone." in text and (out / "taguchi_report.csv").exists()


def test_concurrent_ledger_writes_never_corrupt_it(tmp_path):
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=append_many, args=(str(tmp_path), w, 40)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    rows = _ledger(tmp_path)
    assert len(rows) == 120
    assert sorted(r["run_id"] for r in rows) == sorted(f"w{w}-{i}" for w in range(3) for i in range(40))
    for r in rows:
        w, i = map(int, r["run_id"][1:].split("-"))
        assert r["error"] == error_text(w, i) and r["replicate"] == str(w)


# -------------------------------------------------------------------------------------------- interactions


def test_declared_interaction_reserves_its_column_and_is_analysed(tmp_path):
    study = {
        "name": "interaction",
        "base": str(taguchiutil.SMOKE / "tiny_unet.yaml"),
        "factors": {
            "A": {"key": "diffusion.prediction", "levels": ["eps", "v"]},
            "B": {"key": "loss.weighting", "levels": ["none", "min_snr"]},
            "C": _lr([1e-3, 2e-3]),
            "D": {"key": "diffusion.uniform_corruption", "levels": [False, True]},
        },
        "interactions": [["A", "B"]],
        "response": {"metric": "final_loss", "goal": "smaller"},
        "pool": "none",
    }
    out = tmp_path / "out"
    run_study(write_study(tmp_path, study), output_dir=str(out), run_fn=taguchiutil.interacting, log=_quiet([]))
    s = load_study(out / "study.yaml")
    a, b = s.columns[0], s.columns[1]
    inter = interaction_column("L8", a, b)
    assert s.array == "L8" and s.interaction_columns == (inter,) and inter not in s.columns
    response = {(r["factor"], int(r["level"])): r for r in csv.DictReader(open(out / "response.csv"))}
    # y = exp(1 + 0.3 A + 0.1 B + 0.4 [A == B] + ...): [A == B] is level 0 of the interaction column.
    for name, effect in (("A", 0.3), ("B", 0.1), ("AxB", 0.4), ("C", 0.02), ("D", 0.01)):
        assert float(response[(name, 0)]["snr_delta"]) == pytest.approx(DB * effect, abs=1e-9)
    assert response[("AxB", 0)]["best"] == "False"  # A == B costs 0.4 nepers
    text = (out / "summary.md").read_text()
    assert f"| AxB (interaction) | — | {inter} |" in text
    assert "![Interaction A x B](figures/interaction_AxB.png)" in text
    assert (out / "figures" / "interaction_AxB.png").stat().st_size > 5000


def test_interaction_that_does_not_fit_is_an_error(tmp_path):
    study = study_dict(interactions=[["model", "prediction"], ["model", "sampler"], ["prediction", "sampler"]],
                       array="L4")
    with pytest.raises(StudyError, match="do not fit L4"):
        load_study(write_study(tmp_path, study))


# ------------------------------------------------------------------------------------------- end to end


def test_real_tiny_study_end_to_end(tmp_path, monkeypatch):
    """L4 over model type (mapping levels), prediction and sampler; 2 training steps; sample-based response."""
    from specdiff.experiments import runner

    monkeypatch.setattr(runner, "_cpu_count", lambda: 1)
    study = study_dict(replicates=1)
    out = tmp_path / "out"
    summary = run_study(write_study(tmp_path, study), output_dir=str(out), workers=1, log=_quiet([]))
    assert torch.get_num_threads() == 1

    rows = _ledger(out)
    assert [r["status"] for r in rows] == ["finished"] * 4
    values = [float(r["response"]) for r in rows]
    assert all(math.isfinite(v) and v > 0 for v in values) and len(set(values)) == 4
    l4 = orthogonal_array("L4")
    for r, levels in zip(rows, l4, strict=True):
        run_dir = out / "runs" / r["run_id"]
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["model"]["name"] == ("tiny_unet", "spectral_unet")[levels[0]]
        assert config["diffusion"]["prediction"] == ("eps", "v")[levels[1]]
        assert config["training"]["seed"] == config["sampling"]["seed"] == 7 and config["training"]["threads"] == 1
        assert (run_dir / "checkpoints" / "step_2.pt").exists()
        metadata = json.loads((run_dir / "samples" / "study" / "metadata.json").read_text())
        assert metadata["sampler"] == ("ddim", "dpm_solver++")[levels[2]] and len(metadata["files"]) == 4
        metrics = json.loads((run_dir / "samples" / "study" / "metrics.json").read_text())
        assert metrics["metrics"]["spectral_distance_db"] == pytest.approx(float(r["response"]), rel=1e-12)
        assert metrics["num_reference"] == 8
        assert metrics["num_generated"] == 4  # the listed samples, not grid.png
    assert len(read_rows(str(out))) == 4  # train()'s own ledger summary.csv
    text = open(summary).read()
    assert "## Analysis" in text and "Not possible yet" not in text
    assert (out / "figures" / "main_effects.png").stat().st_size > 5000


def test_stale_confirmation_is_reported_and_run_again(tmp_path):
    path = write_study(tmp_path, study_dict(replicates=1))
    out = tmp_path / "out"
    run_study(path, output_dir=str(out), confirm=True, run_fn=taguchiutil.synthetic, log=_quiet([]))
    assert (out / "confirmation.json").exists()
    # The confirmation in the ledger was run at other levels than the current best ones (e.g. rows re-run since).
    taguchiutil.rewrite_ledger(out, lambda r: True)
    rows = _ledger(out)
    for r in rows:
        if r["run_id"] == "confirm-s0":
            r["config_sha256"] = "0" * 64
    with open(out / LEDGER_NAME, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LEDGER_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    analyze_study(str(out))
    assert not (out / "confirmation.json").exists()
    assert "were run at other levels than the current best levels" in (out / "summary.md").read_text()

    for p in (out / "calls").iterdir():
        p.unlink()
    run_study(path, output_dir=str(out), resume=True, confirm=True, run_fn=taguchiutil.synthetic, log=_quiet([]))
    assert [(c["run_id"], c["attempt"]) for c in calls(out)] == [("confirm-s0", 2)]
    assert json.loads((out / "confirmation.json").read_text())["runs"] == ["confirm-s0"]


def test_model_initialization_is_a_factor_like_any_key(tmp_path):
    factors = {**study_dict()["factors"],
               "init": {"key": "model.initialization",
                        "levels": [{"strategy": "default"}, {"strategy": "cross_domain_flat",
                                                             "source": {"type": "random_normal", "std": 0.02}}]},
               "init_scale": {"key": "model.initialization.scale", "levels": [0.5, 1.0]}}
    with pytest.raises(StudyError, match="model.initialization.scale = 0.5: is only read with strategy"):
        load_study(write_study(tmp_path, study_dict(factors=factors)))  # every row is checked before anything runs
    factors["init"]["levels"][0] = {"strategy": "cross_domain_flat", "source": {"type": "constant", "value": 0.0}}
    study = load_study(write_study(tmp_path, study_dict(factors=factors)))
    configs = [from_dict(study.raw_config(study.row_levels(r), study.conditions()[0])) for r in range(1, 9)]
    assert {(c.model.initialization["source"]["type"], c.model.initialization["scale"]) for c in configs} == {
        ("constant", 0.5), ("constant", 1.0), ("random_normal", 0.5), ("random_normal", 1.0)}


def test_the_older_cli_form_still_runs_with_a_deprecation_note(tmp_path, capsys, monkeypatch):
    from specdiff import cli
    from specdiff.cli import main

    seen = []
    monkeypatch.setattr(cli, "_taguchi", lambda args: seen.append((args.action, args.study, args.workers)) or 0)
    assert main(["taguchi", "study.yaml", "--workers", "2"]) == 0
    assert seen == [("run", "study.yaml", 2)] and "deprecated" in capsys.readouterr().err
    assert main(["taguchi", "run", "study.yaml"]) == 0 and capsys.readouterr().err == ""
