"""specdiff.bench.ops.interleaved_medians: the in-process A/B timer the scripts share."""

from specdiff.bench.ops import interleaved_medians


def test_interleaved_medians_calls_each_thunk_per_round_in_rotated_order():
    calls = []
    thunks = [lambda i=i: calls.append(i) for i in range(3)]
    medians = interleaved_medians(thunks, repeats=4, warmup=2)
    assert len(medians) == 3 and all(m >= 0 for m in medians)
    assert calls[:6] == [0, 1, 2, 0, 1, 2]  # warm-up
    assert calls[6:] == [0, 1, 2, 1, 2, 0, 2, 0, 1, 0, 1, 2]  # one call of each per round, rotated left each round
