"""Loading the extension, backend selection, and the pure-PyTorch fallback when the extension is missing."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from specdiff import extension

# Imports specdiff with specdiff._C made unimportable, as on a machine where the build failed.
_BLOCK_EXTENSION = textwrap.dedent(
    """
    import sys, warnings
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "specdiff._C":
                raise ImportError("simulated: no compiled extension")
    sys.meta_path.insert(0, Block())
    """
)


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_missing_extension_warns_once_and_uses_the_reference():
    code = _BLOCK_EXTENSION + textwrap.dedent(
        """
        import torch
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import specdiff.ops as ops
            from specdiff import extension
            x, w = torch.randn(2, 3, 8, 9, dtype=torch.float64), torch.rand(8, 5, dtype=torch.float64)
            y = ops.spectral_filter2d(x, w)
            ops.spectral_band_mse(x)
        assert torch.allclose(y, ops.spectral_filter2d_reference(x, w))
        assert not extension.has_kernel("spectral_filter2d", "cpu")
        messages = [str(w.message) for w in caught if "specdiff" in str(w.message)]
        print(len(messages), messages[0])
        print(extension.info()["backend_reason"])
        """
    )
    out = run_python(code, SPECDIFF_BACKEND="auto")
    assert out.returncode == 0, out.stderr
    count, message = out.stdout.splitlines()[0].split(" ", 1)
    assert count == "1" and "extension failed to load" in message and "reference" in message
    assert "simulated: no compiled extension" in out.stdout.splitlines()[1]


def test_kernel_backend_without_extension_is_an_error():
    out = run_python(_BLOCK_EXTENSION + "import specdiff.ops", SPECDIFF_BACKEND="kernel")
    assert out.returncode != 0
    assert "SPECDIFF_BACKEND=kernel but the extension failed to load" in out.stderr


def test_invalid_backend_setting_is_rejected():
    out = run_python("import specdiff.ops", SPECDIFF_BACKEND="fast")
    assert out.returncode != 0
    assert "SPECDIFF_BACKEND='fast' is not valid; expected one of auto, reference, kernel" in out.stderr


def test_reference_backend_from_the_environment():
    code = (
        "import torch, specdiff.ops; from specdiff import extension; "
        "print(extension.use_kernel('spectral_filter2d', torch.device('cpu')))"
    )
    assert run_python(code, SPECDIFF_BACKEND="reference").stdout.strip() == "False"
    assert run_python(code, SPECDIFF_BACKEND="auto").stdout.strip() == str(extension.is_loaded())


@pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")
def test_kernel_backend_without_a_device_kernel_is_an_error(monkeypatch):
    import dataclasses

    monkeypatch.setattr(extension, "_STATE", dataclasses.replace(extension._STATE, backend="kernel"))
    with pytest.raises(RuntimeError, match="op 'no_such_op' has no cpu kernel"):
        extension.use_kernel("no_such_op", torch.device("cpu"))
    if extension.is_loaded():  # meta tensors run the registered fake impls, so meta counts as having a kernel
        assert extension.use_kernel("spectral_filter2d", torch.device("meta"))


@pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")
def test_has_kernel_reports_what_is_registered():
    import specdiff.ops  # noqa: F401

    assert extension.has_kernel("spectral_filter2d", "cpu")
    assert extension.has_kernel("spectral_filter2d", "cuda") == torch.ops.specdiff._built_with_cuda()
    assert not extension.has_kernel("no_such_op", "cpu")


@pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")
def test_cpu_isa_switch():
    detected = torch.ops.specdiff._detected_cpu_isa()
    previous = extension.set_cpu_isa("base")
    try:
        assert extension.cpu_isa() == "base"
    finally:
        extension.set_cpu_isa(previous)
    assert extension.cpu_isa() == previous == detected
    with pytest.raises(ValueError, match="unknown CPU ISA 'sse9'; expected one of base, avx2, avx512"):
        extension.set_cpu_isa("sse9")


def test_info_cli_json():
    out = subprocess.run([sys.executable, "-m", "specdiff", "info", "--json"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout)
    assert facts["torch"] == torch.__version__
    assert set(facts["ops"]) >= {"spectral_filter2d", "spectral_band_weight", "spectral_band_filter2d",
                                 "spectral_band_mse"}
    assert facts["ops"]["spectral_filter2d"]["cpu"] == extension.is_loaded()
    if extension.is_loaded():
        assert facts["cpu_isa"] in ("base", "avx2", "avx512") and facts["backend"] == "kernel"


def test_use_backend_switches_the_routing_and_restores_it():
    before = extension.backend()
    with extension.use_backend("reference"):
        assert extension.backend() == "reference"
        assert not extension.use_kernel("spectral_filter2d", torch.device("cpu"))
    assert extension.backend() == before
    with pytest.raises(ValueError, match="backend must be one of auto, reference, kernel"):
        with extension.use_backend("fast"):
            pass


@pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")
def test_has_kernel_without_importing_the_ops():
    """The op table is static: has_kernel answers before (and without) specdiff.ops being imported."""
    code = ("import sys, specdiff.extension as e; print(e.has_kernel('complex_norm_act', 'cpu'), "
            "'specdiff.ops' in sys.modules, sorted(e.OPS) == sorted(set(e.OPS)))")
    assert run_python(code).stdout.split() == ["True", "False", "True"]


@pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")
def test_band_rule_is_the_kernels():
    """Python asks the kernels' one band-argument rule (common/band_params.cpp): the same messages as a direct call of
    the kernel op on every device, so the CPU and CUDA kernels cannot disagree (they used to on temperature <= 0)."""
    extension.check_band_args("bandpass", 1e-3)
    extension.check_band_args("radial", 10)
    for kind, temperature, message in (("notch", 1.0, "kind must be one of 'radial', 'bandpass', got 'notch'"),
                                       ("radial", 0.0, "temperature must be a finite number > 0, got 0"),
                                       ("bandpass", -2.5, "temperature must be a finite number > 0, got -2.5"),
                                       ("bandpass", float("nan"), "temperature must be a finite number > 0, got nan")):
        with pytest.raises(ValueError) as py:
            extension.check_band_args(kind, temperature)
        assert str(py.value) == message
        x, zero = torch.randn(1, 1, 4, 4), torch.tensor(0.0)
        with pytest.raises(ValueError) as cpp:
            torch.ops.specdiff.spectral_band_filter2d(x, zero, zero, zero, temperature, kind)
        assert str(cpp.value).splitlines()[0] == "specdiff: " + message


@pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")
def test_fused_sizes_come_from_the_kernels():
    """The CPU round trip fuses every size whose prime factors are at most the largest radix; CUDA's fused sizes
    are answered only by a CUDA build (and never for devices without kernels)."""
    radix = torch.ops.specdiff._max_fft_radix()
    assert extension.roundtrip_fused("cpu", 8, 8) and extension.roundtrip_fused("cpu", 3 * radix, 7)
    prime = next(p for p in range(radix + 1, 4 * radix) if all(p % d for d in range(2, p)))
    assert not extension.roundtrip_fused("cpu", prime, 8)
    assert not extension.roundtrip_fused("xpu", 8, 8)
    if not torch.ops.specdiff._built_with_cuda():
        assert not extension.roundtrip_fused("cuda", 32, 32)


@pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")
def test_cpu_caches_are_detected_and_can_be_overridden():
    caches = extension.cpu_caches()
    assert set(caches) == {"l1d_bytes", "l1d_ways", "l2_bytes", "llc_bytes", "llc_cpus", "line_bytes"}
    assert caches["l1d_bytes"] >= 8 << 10 and caches["l2_bytes"] >= caches["l1d_bytes"] and caches["line_bytes"] >= 32
    code = "import specdiff.extension as e; c = e.cpu_caches(); print(c['l1d_bytes'], c['l2_bytes'], c['l1d_ways'])"
    out = run_python(code, SPECDIFF_CPU_CACHES="l1d=32K,l2=1M,l1d_ways=8")
    assert out.stdout.split() == [str(32 << 10), str(1 << 20), "8"]


def _sysfs_caches() -> dict[int, tuple[int, int]]:
    """{level: (bytes, CPUs sharing it)} of cpu0's data and unified caches as Linux lists them, {} without sysfs."""
    found = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index[0-9]*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
            shared = (index / "shared_cpu_list").read_text().strip()
        except (OSError, ValueError):
            return {}
        if kind == "Instruction" or level in found or not size.endswith("K"):
            continue
        cpus = 0
        for part in filter(None, shared.split(",")):
            first, _, last = part.partition("-")
            cpus += int(last or first) - int(first) + 1
        found[level] = (int(size[:-1]) << 10, cpus)
    return found


@pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")
@pytest.mark.skipif(3 not in _sysfs_caches(), reason="no level-3 cache listed in sysfs")
@pytest.mark.skipif("SPECDIFF_CPU_CACHES" in os.environ, reason="SPECDIFF_CPU_CACHES overrides the detected sizes")
def test_the_last_level_cache_is_one_instance_as_sysfs_lists_it():
    # sysfs, not glibc's sysconf: under a hypervisor sysconf can report the host's L3 total (256 MiB on an AMD EPYC
    # guest whose sysfs lists one 32 MiB L3 shared by its two CPUs).
    listed = _sysfs_caches()
    caches = extension.cpu_caches()
    assert (caches["llc_bytes"], caches["llc_cpus"]) == listed[3]
    if 2 in listed:
        assert caches["l2_bytes"] == listed[2][0]


@pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")
@pytest.mark.parametrize("threads", [1, 2])
def test_outputs_that_do_not_fit_the_threads_l2s_with_an_input_are_streamed(threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        half = extension.cpu_caches()["l2_bytes"] * threads // 2  # an output and an input of `half` bytes fit
        assert not extension.stream_output(half) and extension.stream_output(half + 1)
    finally:
        torch.set_num_threads(previous)


@pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")
@pytest.mark.parametrize("tables", [1, 3])
def test_band_planes_go_in_pairs_when_their_tables_do_not_fit_the_l1(tables):
    share = extension.cpu_caches()["l1d_bytes"] // tables  # `tables` tables of `share` bytes fit one core's L1d
    assert not extension.band_planes_in_pairs(share, tables) and extension.band_planes_in_pairs(share + 1, tables)


@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_models_trace_without_graph_breaks_on_a_cold_kernel_cache(monkeypatch, backend):
    # The routing predicate asks the dispatcher which kernels exist; traced by Dynamo, that query (a bool from a
    # C++ function) would split the graph at every op on the first compile of a process. It is a constant at trace
    # time instead, so a cold cache must give one graph.
    from specdiff.nn import build_model

    monkeypatch.setattr(extension, "_KERNEL_CACHE", {})
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = build_model("spectral_unet", in_channels=1, base_channels=4, image_size=8)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 500])
    with extension.use_backend(backend):
        explanation = torch._dynamo.explain(model)(x, t)
    torch._dynamo.reset()
    assert explanation.graph_break_count == 0, [b.reason for b in explanation.break_reasons]
    assert explanation.graph_count == 1
    asked = ("spectral_conv2d", "group_norm_silu")
    assert extension._KERNEL_CACHE == ({(op, "cpu"): extension.is_loaded() for op in asked} if backend == "auto"
                                       else {})
