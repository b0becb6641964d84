"""Counter-based random numbers: every random value a dataset uses is a pure function of
(seed, split, item index, stream, position), computed batch-vectorized with torch int64 ops.

The mixer is the SplitMix64 finalizer (Steele, Lea & Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014). SplitMix64 is itself counter-based: its n-th output is ``mix(state + n * GOLDEN)``,
so the values of one item never depend on which other items share its batch, on the worker that makes it or
on the order a sampler asks for it. torch int64 arithmetic wraps modulo 2**64 like the C reference; the
logical right shift is an arithmetic shift followed by a mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

_MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
SPLITS = {"train": 1, "test": 2}


def mix_int(x: int) -> int:
    """SplitMix64 finalizer on a Python int (unsigned 64-bit result); the scalar twin of :func:`mix`."""
    x &= _MASK64
    x = ((x ^ (x >> 30)) * _M1) & _MASK64
    x = ((x ^ (x >> 27)) * _M2) & _MASK64
    return x ^ (x >> 31)


def _srl(x: Tensor, shift: int) -> Tensor:
    return (x >> shift) & ((1 << (64 - shift)) - 1)


def mix(x: Tensor) -> Tensor:
    """SplitMix64 finalizer, elementwise on an int64 tensor (bit-identical to :func:`mix_int`)."""
    x = (x ^ _srl(x, 30)) * _signed(_M1)
    x = (x ^ _srl(x, 27)) * _signed(_M2)
    return x ^ _srl(x, 31)


def base_key(seed: int, split: str) -> int:
    """The key of a (seed, split) stream; the train and test splits of one seed are different streams."""
    return _signed(mix_int(mix_int(seed) ^ SPLITS[split]))


def item_keys(base: int, indices: Tensor) -> Tensor:
    """``int64[B]`` keys of the items ``indices`` (distinct indices give distinct keys: both steps are bijections)."""
    return mix(base + (indices.to(torch.int64) + 1) * _signed(_GOLDEN))


def derive(keys: Tensor, tag: int) -> Tensor:
    """Keys of an independent stream ``tag`` (e.g. one family parameter set, or the flips of epoch e)."""
    return mix(keys ^ _signed(mix_int(tag + 0x5EED)))


def bits(keys: Tensor, stream: int, n: int) -> Tensor:
    """``int64[B, n]`` random words: position j of item b is ``mix(derive(key_b, stream) + (j + 1) * GOLDEN)``."""
    counters = torch.arange(1, n + 1, dtype=torch.int64, device=keys.device) * _signed(_GOLDEN)
    return mix(derive(keys, stream)[:, None] + counters)


def uniform(keys: Tensor, stream: int, n: int) -> Tensor:
    """``float32[B, n]`` uniform in the open interval (0, 1), two 24-bit values per 64-bit word (exact in float32)."""
    words = bits(keys, stream, (n + 1) // 2)
    halves = torch.stack((_srl(words, 40), (words >> 8) & 0xFFFFFF), dim=-1).flatten(1)[:, :n]
    return (halves.to(torch.float32) + 0.5) * 2.0**-24


def normal(keys: Tensor, stream: int, n: int) -> Tensor:
    """``float32[B, n]`` standard normal by the Box-Muller transform (Box & Muller 1958), one pair per word."""
    u = uniform(keys, stream, 2 * ((n + 1) // 2)).view(keys.shape[0], -1, 2)
    radius = torch.sqrt(-2.0 * torch.log(u[..., 0]))
    angle = (2.0 * math.pi) * u[..., 1]
    return torch.stack((radius * torch.cos(angle), radius * torch.sin(angle)), dim=-1).flatten(1)[:, :n]


def as_index_tensor(indices: Sequence[int] | Tensor, length: int) -> Tensor:
    """``int64[B]`` from a list of item indices; negative indices count from the end, others raise IndexError."""
    index = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
    index = torch.where(index < 0, index + length, index)
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= length):
        bad = [int(i) for i in torch.as_tensor(indices).reshape(-1) if not -length <= int(i) < length]
        raise IndexError(f"index {bad[0]} is out of range for a dataset of length {length}")
    return index
