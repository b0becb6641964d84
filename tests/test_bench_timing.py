"""specdiff.bench.ops's call order and interleaved_medians, the in-process A/B timer the scripts share, and
scripts/band_weight_floor.py, which times with it."""

import collections
import importlib.util
import pathlib

import pytest
import torch

from specdiff import extension
from specdiff.bench.ops import call_order, interleaved_medians, timed_calls


def followers(calls: list[int]) -> collections.Counter:
    """How often each ordered pair (before, after) occurs in a cyclic sequence of calls."""
    return collections.Counter(zip(calls[-1:] + calls[:-1], calls, strict=True))


@pytest.mark.parametrize("n", range(1, 8))
def test_every_path_follows_every_path_once_per_cycle(n):
    order = call_order(n)
    assert len(order) == n * n and collections.Counter(order) == {i: n for i in range(n)}
    assert followers(order) == {(a, b): 1 for a in range(n) for b in range(n)}


def test_two_paths_alternate_in_pairs():
    """Two paths: 0 0 1 1, the left rotation of (0, 1) each round that the two-path benchmarks always had."""
    assert call_order(2) == [0, 0, 1, 1]


@pytest.mark.parametrize(("n", "repeats", "each"), [(3, 15, 15), (2, 15, 16), (4, 1, 4), (1, 3, 3)])
def test_timed_calls_are_whole_cycles_with_at_least_repeats_of_each(n, repeats, each):
    calls = timed_calls(n, repeats)
    assert collections.Counter(calls) == {i: each for i in range(n)}
    assert followers(calls) == {(a, b): each // n for a in range(n) for b in range(n)}


def test_call_order_rejects_no_paths():
    with pytest.raises(ValueError, match="at least one path, got 0"):
        call_order(0)


def test_interleaved_medians_calls_each_thunk_in_the_balanced_order():
    calls = []
    thunks = [lambda i=i: calls.append(i) for i in range(3)]
    medians = interleaved_medians(thunks, repeats=4, warmup=2)
    assert len(medians) == 3 and all(m >= 0 for m in medians)
    assert calls[:6] == [0, 1, 2, 0, 1, 2]  # warm-up
    assert calls[6:] == call_order(3) * 2  # at least 4 calls of each: two whole cycles, 6 of each


def _band_weight_floor():
    """scripts/band_weight_floor.py as a module (scripts/ is not a package)."""
    path = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "band_weight_floor.py"
    spec = importlib.util.spec_from_file_location("band_weight_floor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_band_weighting_floor_through_autograd_makes_the_five_passes():
    # Forward: the spectrum copied; backward: the upstream gradient plus the spectrum, and zero parameter gradients.
    floor = _band_weight_floor()
    spec = torch.randn(2, 3, 4, 3, dtype=torch.complex128, requires_grad=True)
    params = [torch.rand(2, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    out = floor.FivePasses.apply(spec, *params)
    assert torch.equal(out, spec) and out.data_ptr() != spec.data_ptr()
    grad = torch.randn_like(spec)
    got = torch.autograd.grad(out, [spec, *params], grad)
    assert torch.equal(got[0], grad + spec)
    assert all(torch.equal(g, torch.zeros(2, dtype=torch.float64)) for g in got[1:])


@pytest.mark.skipif(not extension.has_kernel("spectral_band_weight", "cpu"), reason="no CPU band kernel")
def test_the_band_weighting_floor_script_times_every_path(capsys):
    records = _band_weight_floor().main(["--shape", "2x4x8x8", "--repeats", "1", "--warmup", "1"])
    assert [r["shape"] for r in records] == [[2, 4, 8, 8]]
    times = [records[0][k] for k in ("reference_ms", "kernel_ms", "bound_ms", "autograd_bound_ms")]
    assert all(t > 0 for t in times)
    assert "| 2x4x8x8 |" in capsys.readouterr().out
