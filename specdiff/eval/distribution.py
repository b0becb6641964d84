"""Distribution metrics FID and KID, computed by torchmetrics on features from :mod:`specdiff.eval.features`.

Features are extracted once per image set and handed to torchmetrics through a pass-through "feature network",
so FID and KID share one extraction (Inception on a CPU is the expensive part).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

KID_MAX_SUBSET = 1000
KID_SUBSETS = 100


class _Precomputed(nn.Module):
    """Identity "feature network": torchmetrics' update() receives features that were already extracted."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


@torch.no_grad()
def extract_features(images: Tensor, extractor: nn.Module, *, batch_size: int = 64,
                     device: torch.device | str = "cpu") -> Tensor:
    """Runs ``extractor`` over ``Tensor[N, C, H, W]`` in batches on ``device`` -> ``Tensor[N, D]`` float64 on CPU."""
    extractor = extractor.to(device).eval()
    out = [extractor(images[i:i + batch_size].to(device)).double().cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(out)


def _check_counts(what: str, n_gen: int, n_ref: int) -> None:
    if n_gen < 2 or n_ref < 2:
        raise ValueError(f"{what} needs at least 2 generated and 2 reference images, got {n_gen} and {n_ref}")


def frechet_distance(generated: Tensor, reference: Tensor) -> float:
    """FID from features ``Tensor[N, D]``: ``|μ_g − μ_r|² + tr(Σ_g + Σ_r − 2 (Σ_g Σ_r)^{1/2})`` (Heusel et al. 2017),
    sample covariances (N − 1), computed in float64 by ``torchmetrics.image.fid.FrechetInceptionDistance``."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check_counts("FID", len(generated), len(reference))
    metric = FrechetInceptionDistance(feature=_Precomputed(generated.shape[1]))
    metric.update(reference.double(), real=True)
    metric.update(generated.double(), real=False)
    return float(metric.compute())


def kid_subset_size(n_generated: int, n_reference: int, max_size: int = KID_MAX_SUBSET) -> int:
    """KID subset size adapted to small sets: ``min(1000, n_generated, n_reference)``; at least 2 are needed."""
    _check_counts("KID", n_generated, n_reference)
    return min(max_size, n_generated, n_reference)


def kernel_distance(generated: Tensor, reference: Tensor, *, subsets: int = KID_SUBSETS,
                    subset_size: int | None = None, seed: int = 0) -> tuple[float, float]:
    """KID from features ``Tensor[N, D]`` (Bińkowski et al. 2018): the unbiased MMD² with the cubic polynomial
    kernel ``k(a, b) = (a·b / D + 1)³``, averaged over ``subsets`` random subsets of ``subset_size`` images
    (default :func:`kid_subset_size`) by ``torchmetrics.image.kid.KernelInceptionDistance``. Returns
    ``(mean, std)``; the subsets are drawn from a generator seeded with ``seed`` (the global RNG is untouched)."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = subset_size or kid_subset_size(len(generated), len(reference))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=_Precomputed(generated.shape[1]), subsets=subsets, subset_size=size)
    metric.update(reference.double(), real=True)
    metric.update(generated.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)
