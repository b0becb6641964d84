"""Helpers shared by the layer and model tests: backend switch, parameter perturbation, op recording."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from specdiff.bench.models import kernels_missing, use_backend

__all__ = ["HOST_SYNC_OPS", "RecordOps", "needs_kernels", "perturb_", "use_backend"]

needs_kernels = pytest.mark.skipif(bool(kernels_missing()), reason=f"no CPU kernel for {kernels_missing()}")

# What .item(), float(t), bool(t) / `if t:` and .tolist() dispatch to: each one waits for the device.
HOST_SYNC_OPS = {"aten::_local_scalar_dense", "aten::is_nonzero", "aten::item", "aten::equal"}


def perturb_(module: torch.nn.Module, seed: int = 0, scale: float = 0.1) -> torch.nn.Module:
    """Adds seeded noise to every parameter, so zero-initialised layers (identity blocks, zero heads) take part
    in the comparison; the same seed gives the same perturbation to modules of the same structure."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


class RecordOps(TorchDispatchMode):
    """Records the name of every op dispatched inside the ``with`` block."""

    def __init__(self):
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.name())
        return func(*args, **(kwargs or {}))

    def count(self, name: str) -> int:
        """Calls of op ``name`` (any overload)."""
        return sum(n.split(".")[0] == name for n in self.names)

    def host_syncs(self) -> list[str]:
        return [n for n in self.names if n.split(".")[0] in HOST_SYNC_OPS]
