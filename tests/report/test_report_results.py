"""Readers of a results folder: values read back as written, malformed pieces skipped with a note."""

import json
import math
import os

import pytest
from reportutil import MODEL_RECORDS, OP_RECORDS, RUNS, make_config, make_log, write_ledger, write_run

from specdiff.report.results import (
    ResultsError,
    load_results,
    read_bench,
    read_ledger,
    read_train_log,
    replicate_groups,
    replicate_key,
)


def test_ledger_rows_and_numbers(results_dir):
    results = load_results(results_dir)
    by_id = {r["run_id"]: r for r in results.ledger}
    assert list(by_id) == [r[0] for r in RUNS] + ["tiny-bad"]
    for run_id, model, seed, final, drop, ips, wall in RUNS:
        row = by_id[run_id]
        assert (row["model"], row["seed"], row["final_loss"], row["loss_drop_per_second"]) == (model, seed, final, drop)
        assert (row["images_per_second"], row["images_per_second_wall"]) == (ips, wall)
        assert row["spectral_op_time_s"] is None  # empty cell
    assert math.isnan(by_id["tiny-bad"]["final_loss"])


def test_runs_read_config_log_and_metrics(results_dir):
    results = load_results(results_dir)
    runs = {r.run_id: r for r in results.runs}
    assert set(runs) == {r[0] for r in RUNS}
    run = runs["spec-s1"]
    assert run.model == "spectral_unet" and run.seed == 1
    assert run.log == make_log([1.0, 0.5, 0.17], 310.0)
    assert run.metrics["final_loss"] == 0.17 and run.metrics["unknown_key"] == {"ignored": True}
    assert any("tiny-bad" in n and "does not exist" in n for n in results.notes)


def test_loss_history_stands_in_for_a_missing_train_log(results_dir):
    os.remove(os.path.join(results_dir, "runs", "tiny-s0", "logs", "train.jsonl"))
    run = {r.run_id: r for r in load_results(results_dir).runs}["tiny-s0"]
    assert run.log == [{"step": 10.0, "loss": 1.0}, {"step": 20.0, "loss": 0.5}, {"step": 30.0, "loss": 0.21}]


def test_bench_files_detected_by_keys(results_dir):
    results = load_results(results_dir)
    assert [r["speedup"] for r in results.op_records] == [r["speedup"] for r in OP_RECORDS]
    assert [r["images_per_second"] for r in results.model_records] == [r["images_per_second"] for r in MODEL_RECORDS]
    assert {os.path.basename(b.path): b.kind for b in results.bench} == {"ops.json": "ops", "models.json": "models"}
    assert all(b.threads == 2 for b in results.bench)


def test_taguchi_study_found_in_nested_folder(results_dir):
    (study,) = load_results(results_dir).taguchi
    assert study.path == os.path.join(results_dir, "taguchi", "lr_study")
    assert study.has_contribution
    assert [r["factor"] for r in study.anova] == ["lr", "base_channels", "weighting", "error"]
    assert [os.path.basename(p) for p in study.figures] == ["contribution.png", "main_effects_snr.png"]
    assert study.report[1]["sn_db"] == "-10.25"


def test_replicates_grouped_by_config_without_seed(results_dir):
    groups = replicate_groups(load_results(results_dir))
    assert {k: [r["run_id"] for r in v] for k, v in groups.items()} == {
        "tiny_unet": ["tiny-s0", "tiny-s1"], "spectral_unet": ["spec-s0", "spec-s1"]}
    assert replicate_key(make_config(seed=0)) == replicate_key(make_config(seed=5))
    assert replicate_key(make_config(lr=1e-3)) != replicate_key(make_config(lr=1e-2))


def test_replicate_groups_of_one_model_are_told_apart_by_what_differs(tmp_path):
    root = str(tmp_path)
    rows = []
    for i, (lr, seed) in enumerate([(1e-3, 0), (1e-3, 1), (1e-2, 0), (1e-2, 1)]):
        run_dir = write_run(root, f"r{i}", make_config(lr=lr, seed=seed), make_log([1.0, 0.5]))
        rows.append({"run_id": f"r{i}", "status": "finished", "model": "tiny_unet", "final_loss": 0.1 * i,
                     "run_dir": run_dir})
    write_ledger(root, rows)
    groups = replicate_groups(load_results(root))
    assert {k: [r["run_id"] for r in v] for k, v in groups.items()} == {
        "tiny_unet (lr=0.001)": ["r0", "r1"], "tiny_unet (lr=0.01)": ["r2", "r3"]}


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="results folder not found: .*nope"):
        load_results(str(tmp_path / "nope"))


def test_malformed_run_folder_is_skipped_with_a_note(results_dir):
    with open(os.path.join(results_dir, "runs", "tiny-s1", "metrics", "tiny-s1.json"), "w") as f:
        f.write("{not json")
    results = load_results(results_dir)
    assert "tiny-s1" not in {r.run_id for r in results.runs}
    assert len(results.runs) == 3
    (note,) = [n for n in results.notes if "tiny-s1" in n]
    assert "skipped run folder runs/tiny-s1" in note and "invalid JSON" in note and "\n" not in note


def test_train_log_tolerates_a_cut_off_last_line_only(tmp_path):
    path = tmp_path / "train.jsonl"
    good = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in good) + '{"step": 3, "lo')
    assert read_train_log(str(path)) == good
    path.write_text(json.dumps(good[0]) + "\n{oops\n" + json.dumps(good[1]) + "\n")
    with pytest.raises(ResultsError, match=r"train.jsonl:2: not a JSON object"):
        read_train_log(str(path))
    path.write_text(json.dumps({"step": 1}) + "\n")
    with pytest.raises(ResultsError, match="numeric 'step' and 'loss'"):
        read_train_log(str(path))


def test_malformed_ledger(tmp_path):
    path = tmp_path / "summary.csv"
    path.write_text("run_id,status,final_loss\na,finished,0.5\nb,finished,oops\n")
    with pytest.raises(ResultsError, match=r"summary.csv:3: column 'final_loss' is not a number: 'oops'"):
        read_ledger(str(path))
    path.write_text("name,loss\na,1\n")
    with pytest.raises(ResultsError, match="not a run ledger"):
        read_ledger(str(path))
    results = load_results(str(tmp_path))
    assert results.ledger == [] and any(n.startswith("skipped the ledger") for n in results.notes)


def test_bench_json_kinds_and_errors(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"threads": 4, "records": OP_RECORDS[:1]}))
    bench = read_bench(str(path))
    assert bench.kind == "ops" and bench.threads == 4 and bench.records[0]["speedup"] == 2.5
    path.write_text(json.dumps({"records": [{"op": "x", "shape": [1, 1, 1, 1]}]}))
    with pytest.raises(ResultsError, match="neither op records"):
        read_bench(str(path))
    path.write_text(json.dumps({"records": [MODEL_RECORDS[0], {"model": "m"}]}))
    with pytest.raises(ResultsError, match="record 1 lacks"):
        read_bench(str(path))
    path.write_text(json.dumps([1, 2]))
    assert read_bench(str(path)) is None
    path.write_text("{")
    results = load_results(str(tmp_path))
    assert results.bench == [] and any("b.json" in n and "invalid JSON" in n for n in results.notes)


def test_a_run_config_with_yaml_aliases_is_skipped_with_a_note(results_dir):
    # A "billion laughs" config: refused by the alias-free loader in milliseconds, never expanded.
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9))
    with open(os.path.join(results_dir, "runs", "spec-s1", "config.yaml"), "w") as f:
        f.write(bomb)
    results = load_results(results_dir)
    assert "spec-s1" not in {r.run_id for r in results.runs}
    assert any("spec-s1" in n and "alias" in n for n in results.notes), results.notes


def test_torn_ledger_rows_are_skipped(results_dir):
    path = os.path.join(results_dir, "summary.csv")
    with open(path) as f:
        header = f.readline().rstrip("\n").split(",")
    whole = {c: "" for c in header} | {"run_id": "extra", "status": "finished", "config_sha256": "ab" * 32}
    with open(path, "a") as f:
        f.write(",".join(whole[c] for c in header) + "\n")
        cut = whole | {"run_id": "cut-sha", "config_sha256": "ab" * 10}  # repaired by an older writer
        f.write(",".join(cut[c] for c in header) + "\n")
        f.write(",".join((whole | {"run_id": "torn"})[c] for c in header)[:-20])  # no newline: a killed writer
    ids = [r["run_id"] for r in read_ledger(path)]
    assert "extra" in ids and "cut-sha" not in ids and "torn" not in ids
