"""build_report: summary.md with working relative links, the tables' values, and notes instead of crashes."""

import json
import os
import re

import pytest
from reportutil import (
    MODEL_RECORDS,
    OP_RECORDS,
    RUNS,
    make_config,
    make_log,
    write_ledger,
    write_run,
    write_taguchi,
)

from specdiff.report import build_report

FIGURES = ("loss_curves", "throughput", "tradeoff", "replicates", "kernel_speedups", "model_speedups",
           "taguchi_lr_study_contribution")


def links(text):
    return re.findall(r"\]\(([^)]+)\)", text)


def test_full_report(built_report):
    results_dir, path = built_report
    out = os.path.join(results_dir, "report")
    assert path == os.path.join(out, "summary.md")
    text = open(path).read()
    for stem in FIGURES:
        for ext in ("png", "pdf"):
            assert os.path.getsize(os.path.join(out, "figures", f"{stem}.{ext}")) > 1000
            assert f"(figures/{stem}.{ext})" in text
    targets = links(text)
    assert all(not os.path.isabs(t) for t in targets)
    missing = [t for t in targets if not os.path.exists(os.path.join(out, t))]
    assert missing == []
    # The Taguchi study's own figures are embedded from where they lie.
    assert "![main effects snr](../taguchi/lr_study/figures/main_effects_snr.png)" in text
    # Run table: one row per ledger row, with its numbers.
    for run_id, model, seed, final, drop, ips, wall in RUNS:
        assert f"| {run_id} | finished | {model} | noise | 30 | {seed} | {final:.4g} | {drop:.4g} | {ips:.4g} |" \
            f" {wall:.4g} |" in text
    assert "| tiny-bad | diverged | tiny_unet | — | — | 7 | — | — | 5000 |" in text  # empty cells and NaN loss
    # Replicates: mean ± std over the two seeds of each model.
    assert "| tiny_unet | 2 | 0.23 ± 0.028 | 0.045 ± 0.0071 |" in text
    # Kernel table: both passes of one (op, shape) on one row.
    assert "| spectral_filter2d | 8×3×32×32 | float32 | cpu | 2 | 0.8 | **2.50×** | 5 | 1.667 | **3.00×** |" in text
    assert "| spectral_unet | kernel | cpu | 64 | 32 | 1234 | 256 | 250 | 2.50× |" in text
    assert "| spectral_unet | reference | cpu | 64 | 32 | 1234 | 640 | 100 | — |" in text
    # ANOVA table copied from anova.csv.
    assert "| factor | dof | ss | ms | f | contribution | pooled |" in text
    assert "| weighting | 2 | 0.5 | 0.25 | — | 5.0 | True |" in text  # an empty cell is a missing value
    assert "| 2 | 1e-2 | 16 | snr | -10.25 |" in text
    # Notes: the ledger names a folder that is not there; a non-bench JSON is ignored silently.
    assert re.search(r"- run tiny-bad: folder runs/tiny-bad named in summary.csv does not exist", text)
    assert "other.json" not in text


def test_rebuilding_ignores_the_previous_report(tmp_path):
    write_taguchi(str(tmp_path))  # a study in RESULTS_DIR itself, next to the report folder
    first = open(build_report(str(tmp_path))).read()
    assert first.count("## Taguchi study `.`") == 1
    assert "![ANOVA contribution (.)](figures/taguchi_contribution.png)" in first
    assert open(build_report(str(tmp_path))).read() == first


def test_custom_out_dir(tmp_path):
    results_dir = tmp_path / "results"
    (results_dir / "bench").mkdir(parents=True)
    (results_dir / "bench" / "models.json").write_text(json.dumps({"threads": 2, "records": MODEL_RECORDS}))
    out = str(tmp_path / "elsewhere")
    path = build_report(str(results_dir), out)
    text = open(path).read()
    assert path == os.path.join(out, "summary.md")
    assert "(figures/model_speedups.png)" in text and "(../results/bench/models.json)" in text
    assert all(os.path.exists(os.path.join(out, t)) for t in links(text))
    assert "Results folder: `../results`" in text
    assert os.listdir(results_dir) == ["bench"]


def test_empty_folder_says_nothing_was_found(tmp_path):
    text = open(build_report(str(tmp_path))).read()
    assert "Nothing was found" in text
    assert links(text) == []
    assert os.listdir(tmp_path / "report") == ["summary.md"]


def test_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="results folder not found"):
        build_report(str(tmp_path / "missing"))
    assert not os.path.exists(tmp_path / "missing")


def test_only_bench_files(tmp_path):
    (tmp_path / "ops.json").write_text(json.dumps({"threads": 1, "records": OP_RECORDS}))
    text = open(build_report(str(tmp_path))).read()
    assert "## Kernel speedups" in text and "## Runs" not in text
    assert "From [`ops.json`](../ops.json) (1 threads)." in text


def test_malformed_pieces_become_notes(tmp_path):
    root = str(tmp_path)
    for run_id in ("ok", "bad"):
        write_run(root, run_id, make_config(), make_log([1.0, 0.5]))
    write_ledger(root, [{"run_id": r, "status": "finished", "final_loss": 0.5, "run_dir": f"runs/{r}"}
                        for r in ("ok", "bad")])
    with open(os.path.join(root, "runs", "bad", "logs", "train.jsonl"), "a") as f:
        f.write("garbage\n{\"step\": 1, \"loss\": 1.0}\n")
    write_taguchi(os.path.join(root, "study"))
    with open(os.path.join(root, "study", "anova.csv"), "a") as f:
        f.write("extra,1,2,3,4,not-a-number,False\n")
    text = open(build_report(root)).read()
    notes = text.split("## Notes", 1)[1]
    assert "skipped run folder runs/bad" in notes and "train.jsonl:3: not a JSON object" in notes
    assert "skipped Taguchi study study" in notes and "contribution is not a number" in notes
    assert "## Taguchi study" not in text
    assert "| bad | finished |" in text  # the ledger row stays
    assert "(figures/loss_curves.png)" in text  # drawn from the good run


def test_report_reads_the_anova_that_specdiff_experiments_writes(tmp_path):
    import numpy as np

    from specdiff.experiments import analyze, orthogonal_array
    from specdiff.report import load_results
    from specdiff.report.figures import anova_contribution

    levels = orthogonal_array("L8")[:, :4]
    effect = 10.0 + 3.0 * levels[:, 0] + 1.0 * levels[:, 1] + 0.2 * np.arange(8) / 7
    y = np.stack([effect, effect * 1.1], axis=1)  # two replicates per run
    analysis = analyze(levels, y, "larger", factors=["a", "b", "c", "d"])
    study = tmp_path / "study"
    analysis.write_csv(str(study))
    (found,) = load_results(str(tmp_path)).taguchi
    assert found.has_contribution
    saved = anova_contribution(found.anova, str(tmp_path / "contribution"))
    bars = {t.get_text(): b.get_width() for t, b in zip(saved.figure.axes[0].get_yticklabels(),
                                                         saved.figure.axes[0].patches, strict=False)}
    expected = {r.name: r.contribution for r in analysis.anova if np.isfinite(r.contribution)}
    for name, value in expected.items():
        assert any(label.startswith(name) and abs(width - value) < 1e-9 for label, width in bars.items()), name
