"""Helpers shared by the layer and model tests: backend switch, parameter perturbation, op recording."""

from __future__ import annotations

import pytest
import torch
from recording import HOST_SYNC_OPS, RecordOps

from specdiff.bench.models import kernels_missing
from specdiff.extension import use_backend

__all__ = ["HOST_SYNC_OPS", "RecordOps", "needs_kernels", "perturb_", "use_backend"]

needs_kernels = pytest.mark.skipif(bool(kernels_missing()), reason=f"no CPU kernel for {kernels_missing()}")


def perturb_(module: torch.nn.Module, seed: int = 0, scale: float = 0.1) -> torch.nn.Module:
    """Adds seeded noise to every parameter, so zero-initialised layers (identity blocks, zero heads) take part
    in the comparison; the same seed gives the same perturbation to modules of the same structure."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module
