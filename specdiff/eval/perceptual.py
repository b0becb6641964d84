"""LPIPS (Zhang et al. 2018) through the ``lpips`` package, only when it works offline.

``lpips.LPIPS(net="alex")`` needs two weight files: its linear heads, shipped inside the package
(``lpips/weights/v0.1/alex.pth``), and torchvision's AlexNet backbone, which torchvision would download into
``torch.hub.get_dir()/checkpoints/`` if it were missing. specdiff never downloads, so LPIPS is computed only when
both files are already on disk; otherwise the metric is ``null`` with a note saying why.
"""

from __future__ import annotations

import importlib.util
import os

import torch
from torch import Tensor

LPIPS_NET = "alex"


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def lpips_unavailable_reason(net: str = LPIPS_NET) -> str | None:
    """None when LPIPS can run offline, else a sentence saying what is missing."""
    if not _installed("lpips"):
        return "the lpips package is not installed (pip install lpips; its AlexNet weights must also be cached)"
    if not _installed("torchvision"):
        return "the lpips package needs torchvision, which is not installed"
    import lpips

    heads = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", f"{net}.pth")
    if not os.path.isfile(heads):
        return f"the lpips linear weights {heads!r} are missing"
    checkpoints = os.path.join(torch.hub.get_dir(), "checkpoints")
    names = os.listdir(checkpoints) if os.path.isdir(checkpoints) else []
    if not any(n.startswith(f"{net}net-") and n.endswith(".pth") for n in names):
        return (f"the torchvision {net}net backbone weights are not cached in {checkpoints!r} "
                "and specdiff does not download them")
    return None


@torch.no_grad()
def lpips_distance(generated: Tensor, reference: Tensor, *, batch_size: int = 64,
                   device: torch.device | str = "cpu", net: str = LPIPS_NET) -> Tensor:
    """LPIPS per image pair -> ``Tensor[B]`` float64 (lower is more similar). Inputs ``Tensor[B, C, H, W]`` in
    [-1, 1], the range ``lpips`` expects; grey images are repeated to RGB. Call only when
    :func:`lpips_unavailable_reason` is None."""
    import lpips

    if generated.shape != reference.shape or generated.dim() != 4:
        raise ValueError(f"LPIPS needs paired images of one shape, got {tuple(generated.shape)} "
                         f"and {tuple(reference.shape)}")
    model = lpips.LPIPS(net=net, verbose=False).to(device).eval()
    out = []
    for i in range(0, len(generated), batch_size):
        g, r = (t[i:i + batch_size].float().to(device) for t in (generated, reference))
        if g.shape[1] == 1:
            g, r = g.expand(-1, 3, -1, -1), r.expand(-1, 3, -1, -1)
        out.append(model(g, r).reshape(len(g)).double().cpu())
    return torch.cat(out)
