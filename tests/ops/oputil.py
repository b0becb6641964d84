"""Helpers shared by the op tests: error measures, tolerances, memory layouts, backend switches."""

from __future__ import annotations

import contextlib

import pytest
import torch
from recording import RecordOps

from specdiff import extension

# Relative error (||a - b|| / ||b||) allowed against the float64 reference.
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
SIZES = (1, 2, 3, 5, 8, 15, 16, 17, 32, 33, 64, 100)
LAYOUTS = ("contiguous", "channels_last", "permuted", "strided")

needs_cpu_kernels = pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().to(torch.complex128 if a.is_complex() else torch.float64), b.detach()
    b = b.to(a.dtype)
    denom = b.norm().item()
    return (a - b).norm().item() / denom if denom > 0 else (a - b).norm().item()


def with_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """The same values as ``x`` in another memory layout."""
    if layout == "contiguous":
        return x.contiguous()
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if layout == "permuted":  # H and W swapped in memory, [B, C, H, W] view
        return x.transpose(2, 3).contiguous().transpose(2, 3)
    if layout == "strided":  # every other element of a larger buffer
        big = torch.zeros(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype, device=x.device)
        big[..., ::2] = x
        return big[..., ::2]
    raise ValueError(layout)


def cpu_isas() -> list[str]:
    """Every CPU ISA the kernels can run with on this machine."""
    if not extension.is_loaded():
        return []
    order = ["base", "avx2", "avx512"]
    return order[: order.index(torch.ops.specdiff._detected_cpu_isa()) + 1]


@contextlib.contextmanager
def cpu_isa(name: str):
    previous = extension.set_cpu_isa(name)
    try:
        yield
    finally:
        extension.set_cpu_isa(previous)


backend = extension.use_backend  # the process-wide backend switch, as SPECDIFF_BACKEND at import


def kernel_and_reference(fn, *args, **kwargs):
    """Runs a public op on the kernel path and on the reference path."""
    with backend("kernel"):
        k = fn(*args, **kwargs)
    with backend("reference"):
        r = fn(*args, **kwargs)
    return k, r


def specdiff_ops_called(fn, *args, **kwargs) -> list[str]:
    """Names of the ``specdiff::`` kernel ops (those behind the public ops, not the rule and capability queries)
    that ``fn(*args, **kwargs)`` dispatches to."""
    kernels = {f"specdiff::{k}" for names in extension.OPS.values() for k in names}
    with RecordOps() as rec:
        fn(*args, **kwargs)
    return [n for n in rec.names if n in kernels]


def band_args(batch: int, per_sample: bool, dtype=torch.float64, requires_grad: bool = False):
    """(inner, outer, gain) tensors: 0-d, or [B] with distinct values per sample."""
    spread = torch.linspace(0, 0.1, batch, dtype=dtype) if per_sample else torch.tensor(0.0, dtype=dtype)
    params = [(v + spread).requires_grad_(requires_grad) for v in (0.2, 0.6, 1.3)]
    return tuple(params)
