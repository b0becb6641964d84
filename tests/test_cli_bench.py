"""``specdiff bench ops`` writes the records it prints."""

import collections
import json

import pytest
import torch
from recording import RecordOps

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


@pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")
def test_band_weighting_is_timed_against_its_memory_bound(tmp_path, capsys):
    """spectral_band_weight's fwd+bwd records carry the five-pass memory bound timed beside both paths; the other
    records have none."""
    out = tmp_path / "bench.json"
    assert main(["bench", "ops", "--op", "spectral_band_weight", "--op", "spectral_filter2d", "--shape", "2x3x16x16",
                 "--repeats", "2", "--warmup", "1", "--json", str(out), "--markdown"]) == 0
    records = {(r["op"], r["pass"]): r for r in json.loads(out.read_text())["records"]}
    bound = records[("spectral_band_weight", "fwdbwd")]
    assert bound["bound_ms"] > 0 and bound["kernel_over_bound"] == pytest.approx(bound["kernel_ms"] / bound["bound_ms"])
    assert [k for k, r in records.items() if "bound_ms" in r] == [("spectral_band_weight", "fwdbwd")]
    # Every CPU record counts each path's page faults per call; the bound's records count the bound's too.
    assert set(bound["faults_per_call"]) == {"reference", "kernel", "bound"}
    assert set(records[("spectral_filter2d", "fwd")]["faults_per_call"]) == {"reference", "kernel"}
    table = capsys.readouterr().out
    assert "| spectral_band_weight | 2x3x16x16 | fwdbwd |" in table and "kernel / bound" in table
    f = bound["faults_per_call"]
    row = next(line for line in table.splitlines() if line.startswith("| spectral_band_weight | 2x3x16x16 | fwdbwd |"))
    assert row.endswith(f"| {f['bound']:.0f} / {f['kernel']:.0f} |")


def test_minor_faults_count_the_pages_a_fresh_block_maps():
    """A fresh anonymous mapping of 64 MiB written once per 4 KiB: at least one fault per 2 MiB page, the largest a
    kernel maps on a first touch (transparent huge pages), and 4 KiB pages give 16384. The mapping is the test's
    own: a tensor of that size came from memory glibc had already mapped once in a full run of the suite."""
    import mmap

    from specdiff.bench.ops import minor_faults

    faults = minor_faults()
    assert faults is not None
    block = mmap.mmap(-1, 64 << 20)
    try:
        before = faults()
        for offset in range(0, len(block), 4096):
            block[offset] = 1
        assert faults() - before >= 32 and block[len(block) - 4096] == 1
    finally:
        block.close()


def test_five_passes_move_what_band_weighting_must():
    """The bound's thunk writes fresh tensors of the spectrum's size and leaves its input alone."""
    from specdiff.bench.cases import BOUND, CASES

    thunks = CASES["spectral_band_weight"].build((2, 3, 8, 8), torch.float32, torch.device("cpu"))
    assert set(thunks) >= {(BOUND, "fwdbwd")} and (BOUND, "fwd") not in thunks
    with RecordOps() as rec:
        thunks[(BOUND, "fwdbwd")]()
    assert rec.count("aten::copy_") == 1 and rec.count("aten::add") == 1 and rec.count("aten::empty_like") == 2


def test_the_bound_keeps_its_gradient_until_its_next_call_as_a_leaf_does():
    """fwd_bwd's leaves hold their gradients until the next call; the bound holds its gradient output as long."""
    import weakref

    from specdiff.bench.cases import BOUND, CASES

    bound = CASES["spectral_band_weight"].build((2, 3, 8, 8), torch.float32, torch.device("cpu"))[(BOUND, "fwdbwd")]
    first = bound()
    kept = weakref.ref(first)
    assert first.shape == (2, 3, 8, 5) and first.is_complex()
    del first
    assert kept() is not None
    second = bound()
    assert kept() is None and second is not None


def test_every_path_runs_after_every_path_equally_often(monkeypatch):
    """The timed calls follow call_order: each path runs right after each path (itself included) equally often."""
    from specdiff.bench import cases, ops

    calls = []

    def build(shape, dtype, device):
        return {(path, p): (lambda path=path, p=p: calls.append((path, p)))
                for path in ("reference", "kernel", cases.BOUND) for p in cases.PASSES}

    monkeypatch.setitem(cases.CASES, "recorded", cases.Case("recorded", "spectral_filter2d", build))
    monkeypatch.setattr(ops, "kernel_available", lambda case, device: True)
    records = ops.bench_ops(["recorded"], shapes=[(1, 1, 4, 4)], repeats=4, warmup=0)
    assert [r["pass"] for r in records] == ["fwd", "fwdbwd"]
    fwd = [path for path, p in calls if p == "fwd"]
    names = ["reference", "kernel", "bound"]
    assert fwd == [names[i] for i in ops.call_order(3) * 2]  # at least 4 of each: two cycles, 6 of each
    assert [path for path, p in calls if p == "fwdbwd"] == fwd
    after = collections.Counter(zip(fwd[:-1], fwd[1:], strict=True))
    assert after[("reference", "kernel")] == after[("bound", "kernel")] == after[("kernel", "kernel")] == 2
    assert all(set(r.get("faults_per_call", names)) == set(names) for r in records)


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


def test_bench_models_times_a_configured_model(tmp_path, capsys):
    """--set gives one model constructor arguments (read as YAML) and --channels the images' channels: the record
    names them and counts the parameters of exactly that model."""
    from specdiff.nn import build_model

    out = tmp_path / "models.json"
    assert main(["bench", "models", "--model", "spectral_unet", "--model", "tiny_unet", "--backend", "reference",
                 "--batch", "2", "--channels", "1", "--size", "8", "--base-channels", "4",
                 "--set", "spectral_unet.mixer=global", "--set", "spectral_unet.filters_per_channel=3",
                 "--set", "spectral_unet.channel_mults=[1, 2]",
                 "--set", "spectral_unet.image_size=8", "--steps", "1", "--warmup", "0", "--json", str(out)]) == 0
    spectral, tiny = json.loads(out.read_text())["records"]
    arguments = {"mixer": "global", "filters_per_channel": 3, "channel_mults": [1, 2], "image_size": 8}
    assert spectral["arguments"] == arguments and tiny["arguments"] == {}
    assert spectral["channels"] == tiny["channels"] == 1
    assert spectral["params"] == sum(p.numel() for p in build_model("spectral_unet", in_channels=1, base_channels=4,
                                                                     **arguments).parameters())
    for bad, message in ((["--set", "tiny_unet.base=3"], "constructor arguments must name a benchmarked model "
                                                          "(spectral_unet) as MODEL.ARG=VALUE, got 'tiny_unet'"),
                         (["--set", "spectral_unet.bogus=3"], "unknown argument(s) 'bogus'")):
        assert main(["bench", "models", "--model", "spectral_unet", "--batch", "2", "--size", "8", "--base-channels",
                     "4", "--steps", "1", "--warmup", "0", *bad]) == 1
        assert message in capsys.readouterr().err


def test_bench_models_compile_times_each_pair_twice(tmp_path, monkeypatch, capsys):
    # Dynamo's "eager" backend keeps the test fast; the timing run uses inductor, the default.
    compiled_models = []
    real_compile = torch.compile

    def compile_eager(model, **kwargs):
        compiled_models.append(type(model).__name__)
        return real_compile(model, backend="eager", **kwargs)

    monkeypatch.setattr(torch, "compile", compile_eager)
    out = tmp_path / "models.json"
    assert main(["bench", "models", "--model", "spectral_unet", "--backend", "reference", "--batch", "2", "--size",
                 "8", "--base-channels", "8", "--steps", "1", "--warmup", "0", "--compile", "--json", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert [(r["model"], r["backend"], r["compiled"]) for r in records] == [
        ("spectral_unet", "reference", False), ("spectral_unet", "reference", True)]
    assert compiled_models == ["SpectralUNet"]
    assert records[0]["params"] == records[1]["params"]
    assert "spectral_unet (reference): compiled / eager throughput = " in capsys.readouterr().out


def test_bench_models_compiles_without_the_graph_caches(monkeypatch):
    """Every step of a --compile run, warm-up (where the graphs compile) and timed, runs with inductor's FX graph
    cache and AOTAutograd's cache off, so no graph traced before the extension was rebuilt is reused; the setting
    is restored afterwards."""
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    from specdiff.bench import models as bench

    seen = []

    def recording_step(model, x0, seed=0):
        return lambda: seen.append((inductor_config.fx_graph_cache, functorch_config.enable_autograd_cache))

    before = (inductor_config.fx_graph_cache, functorch_config.enable_autograd_cache)
    monkeypatch.setattr(bench, "make_step", recording_step)
    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: model)
    bench.bench_models(["baseline_conv"], ["reference"], steps=2, warmup=1, compile=True, **bench.TINY)
    assert len(seen) == 2 * 2 + 2 * 2 and set(seen) == {(False, False)}
    assert (inductor_config.fx_graph_cache, functorch_config.enable_autograd_cache) == before
    seen.clear()
    bench.bench_models(["baseline_conv"], ["reference"], steps=2, warmup=1, **bench.TINY)
    assert set(seen) == {before}
