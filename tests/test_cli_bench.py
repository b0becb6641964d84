"""``specdiff bench ops`` writes the records it prints."""

import json

import pytest

from specdiff import extension
from specdiff.cli import main


@pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")
def test_bench_ops_writes_records_and_plot(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "ops", "--op", "spectral_filter2d", "--shape", "2x3x8x8", "--repeats", "2",
                 "--warmup", "1", "--json", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert [r["pass"] for r in records] == ["fwd", "fwdbwd"]
    for r in records:
        assert r["op"] == "spectral_filter2d" and r["shape"] == [2, 3, 8, 8] and r["dtype"] == "float32"
        assert r["reference_ms"] > 0 and r["kernel_ms"] > 0
        assert r["speedup"] == pytest.approx(r["reference_ms"] / r["kernel_ms"])
    assert (tmp_path / "bench.png").stat().st_size > 0
    assert "spectral_filter2d" in capsys.readouterr().out
    assert main(["bench", "ops", "--op", "spectral_filter2d", "--shape", "1x1x4x4", "--repeats", "1", "--warmup", "0",
                 "--markdown"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| op | B×C×H×W |") and table[2].startswith("| spectral_filter2d | 1x1x4x4 |")


def test_bench_rejects_unknown_op_and_bad_shape(capsys):
    assert main(["bench", "ops", "--op", "nope", "--shape", "1x1x4x4"]) == 1
    assert "specdiff bench: error: unknown op(s) nope; choose from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "ops", "--shape", "4x4x4"])
    assert "shape must look like BxCxHxW" in capsys.readouterr().err


def test_bench_models_writes_records(tmp_path):
    out = tmp_path / "models.json"
    assert main(["bench", "models", "--batch", "2", "--size", "8", "--base-channels", "8", "--steps", "1",
                 "--warmup", "0", "--json", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert {r["model"] for r in records} == {"tiny_unet", "spectral_unet", "baseline_conv"}  # with the floor row
    assert {r["backend"] for r in records} == ({"reference", "kernel"} if extension.is_loaded() else {"reference"})
    assert all(r["images_per_second"] > 0 for r in records)
