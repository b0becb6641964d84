"""BaselineConv: the throughput floor, three 3x3 convolutions that see the timestep."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from specdiff.nn.layers import TimeEmbedding, check_input


class BaselineConv(nn.Module):
    """``forward(x [B, C, H, W], t [B] int) -> [B, C, H, W]``: conv 3x3 (C -> base), plus the time embedding
    (sinusoidal + MLP, projected to ``base_channels``), SiLU, conv 3x3 (base -> base), SiLU, conv 3x3
    (base -> C). No normalisation, no downsampling, any H, W >= 1: the cheapest model that can denoise at all,
    the floor row of ``specdiff bench models``.

    Args:
        in_channels: image channels C (the output has the same).
        base_channels: width of the two hidden layers.
        time_embed_dim: width of the time embedding.
    """

    def __init__(self, in_channels: int = 3, base_channels: int = 32, time_embed_dim: int = 64):
        super().__init__()
        if in_channels < 1 or base_channels < 1:
            raise ValueError(f"in_channels and base_channels must be >= 1, got {in_channels} and {base_channels}")
        self.in_channels = in_channels
        self.time_embed = TimeEmbedding(time_embed_dim)
        self.time_proj = nn.Linear(time_embed_dim, base_channels)
        self.conv1 = nn.Conv2d(in_channels, base_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(base_channels, base_channels, 3, padding=1)
        self.conv3 = nn.Conv2d(base_channels, in_channels, 3, padding=1)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        check_input(x, t, self.in_channels, "BaselineConv")
        h = self.conv1(x) + self.time_proj(F.silu(self.time_embed(t)))[:, :, None, None]
        h = self.conv2(F.silu(h))
        return self.conv3(F.silu(h))
