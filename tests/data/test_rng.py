"""The counter-based generator: bit-exact SplitMix64, distinct keys, the right distributions, no batch coupling."""

import math

import torch

from specdiff.data import rng

# Published SplitMix64 outputs for seed 0 (state += GOLDEN, then the finalizer), e.g. in Vigna's splitmix64.c.
SPLITMIX64_SEED0 = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


def test_mix_matches_the_reference_sequence_and_the_scalar_twin():
    golden = 0x9E3779B97F4A7C15
    assert [rng.mix_int(golden * (n + 1)) for n in range(3)] == SPLITMIX64_SEED0
    values = [0, 1, 2**63 - 1, 2**63, 2**64 - 1, 0x123456789ABCDEF0, golden]
    signed = [v - 2**64 if v >= 2**63 else v for v in values]
    mixed = rng.mix(torch.tensor(signed, dtype=torch.int64)).tolist()
    assert [m % 2**64 for m in mixed] == [rng.mix_int(v) for v in values]


def test_item_keys_are_distinct_and_split_streams_differ():
    index = torch.arange(200_000)
    train = rng.item_keys(rng.base_key(0, "train"), index)
    test = rng.item_keys(rng.base_key(0, "test"), index)
    assert torch.unique(torch.cat([train, test])).numel() == 400_000
    assert rng.base_key(0, "train") != rng.base_key(1, "train")


def test_uniform_and_normal_statistics():
    keys = rng.item_keys(rng.base_key(3, "train"), torch.arange(64))
    u = rng.uniform(keys, 1, 4096).double()
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.002 and abs(u.var() - 1 / 12) < 0.001
    # Equal-width histogram: chi-square with 15 degrees of freedom stays far below 60.
    counts = torch.histc(u, bins=16, min=0, max=1)
    expected = u.numel() / 16
    assert ((counts - expected) ** 2 / expected).sum() < 60
    z = rng.normal(keys, 2, 4096).double()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs((z**4).mean() - 3) < 0.1  # Gaussian kurtosis
    assert abs((z.abs() < 1).double().mean() - math.erf(1 / math.sqrt(2))) < 0.005
    # Neighbouring positions and neighbouring items are uncorrelated.
    assert abs(torch.corrcoef(torch.stack([z[:, :-1].flatten(), z[:, 1:].flatten()]))[0, 1]) < 0.02
    assert abs(torch.corrcoef(torch.stack([z[:-1].flatten(), z[1:].flatten()]))[0, 1]) < 0.02


def test_values_of_an_item_do_not_depend_on_the_batch_or_the_stream_count():
    keys = rng.item_keys(rng.base_key(0, "train"), torch.tensor([5, 9, 2]))
    alone = rng.item_keys(rng.base_key(0, "train"), torch.tensor([9]))
    assert torch.equal(rng.normal(keys, 1, 10)[1], rng.normal(alone, 1, 10)[0])
    # A shorter draw is a prefix of a longer one; another stream is different.
    assert torch.equal(rng.uniform(keys, 1, 7), rng.uniform(keys, 1, 20)[:, :7])
    assert not torch.equal(rng.uniform(keys, 1, 7), rng.uniform(keys, 2, 7))
