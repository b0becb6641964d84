"""specdiff.bench.ops's call order and interleaved_medians, the in-process A/B timer the scripts share."""

import collections

import pytest

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
