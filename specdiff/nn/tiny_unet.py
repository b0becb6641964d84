"""TinyUNet: a small spatial DDPM UNet with optional spectral adapters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specdiff.nn.layers import TimeEmbedding, build_adapter, check_input, check_kwargs, group_norm

ADAPTER_SITES: tuple[str, ...] = ("input", "output", "per_block")


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice with the time embedding added in between (Ho et al. 2020); the second conv
    starts at zero so the block starts as its skip path."""

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int):
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_channels)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class TinyUNet(nn.Module):
    """Spatial UNet: ``forward(x [B, C, H, W], t [B] int) -> [B, C, H, W]``.

    ``conv_in``; per level ``num_res_blocks`` :class:`ResBlock` s at ``base_channels * mult`` followed (except
    at the last level) by a stride-2 convolution; a middle block; the mirrored decoder with one more block per
    level, each concatenating the matching encoder activation (skip connection), and nearest-neighbour 2x
    upsampling + convolution; GroupNorm-SiLU-conv out. The timestep enters through a sinusoidal embedding and
    an MLP (``time_embed_dim``) added inside every block.

    Args:
        in_channels: image channels C (the output has the same).
        base_channels: width of the first level.
        channel_mults: width multiplier per level; ``len(channel_mults)`` levels.
        num_res_blocks: residual blocks per level in the encoder (decoder: one more).
        time_embed_dim: width of the time embedding.
        adapters: optional mapping ``{site: SpectralAdapter kwargs}`` with sites ``input`` (on x before
            ``conv_in``), ``output`` (on the prediction) and ``per_block`` (on every residual block's output,
            an adapter per block); the kwargs are :class:`~specdiff.nn.layers.SpectralAdapter`'s, with
            ``time_conditioned: true`` for a learnable band conditioned on the time embedding.

    H and W must be multiples of ``2 ** (len(channel_mults) - 1)`` (a ValueError says so otherwise).
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 32,
        channel_mults: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 1,
        time_embed_dim: int = 128,
        adapters: Mapping[str, Mapping] | None = None,
    ):
        super().__init__()
        if in_channels < 1 or base_channels < 1 or num_res_blocks < 1 or not channel_mults:
            raise ValueError("in_channels, base_channels and num_res_blocks must be >= 1 and channel_mults non-empty")
        if any(int(m) < 1 for m in channel_mults):
            raise ValueError(f"channel_mults must be positive, got {tuple(channel_mults)}")
        adapters = dict(adapters or {})
        check_kwargs("TinyUNet adapters", adapters, ADAPTER_SITES)
        self.in_channels = in_channels
        self.factor = 2 ** (len(channel_mults) - 1)
        self.time_embed = TimeEmbedding(time_embed_dim)
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)

        widths = [base_channels * int(m) for m in channel_mults]
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips = [base_channels]
        ch = base_channels
        for level, width in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(ch, width, time_embed_dim))
                ch = width
                skips.append(ch)
            self.down.append(blocks)
            if level < len(widths) - 1:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.mid = ResBlock(ch, ch, time_embed_dim)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                blocks.append(ResBlock(ch + skips.pop(), width, time_embed_dim))
                ch = width
            self.up.append(blocks)
            if level > 0:
                self.upsample.append(nn.Conv2d(ch, ch, 3, padding=1))
        self.norm_out = group_norm(ch)
        self.conv_out = nn.Conv2d(ch, in_channels, 3, padding=1)

        self.adapter_in = build_adapter(adapters.get("input"), time_embed_dim, "adapters['input']")
        self.adapter_out = build_adapter(adapters.get("output"), time_embed_dim, "adapters['output']")
        per_block = adapters.get("per_block")
        n_blocks = len(widths) * (2 * num_res_blocks + 1) + 1
        self.adapter_blocks = (
            nn.ModuleList(build_adapter(per_block, time_embed_dim, "adapters['per_block']") for _ in range(n_blocks))
            if per_block is not None
            else None
        )

    def _block(self, block: ResBlock, h: Tensor, emb: Tensor, index: int) -> Tensor:
        h = block(h, emb)
        return h if self.adapter_blocks is None else self.adapter_blocks[index](h, emb)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        check_input(x, t, self.in_channels, "TinyUNet")
        if x.shape[-2] % self.factor or x.shape[-1] % self.factor:
            raise ValueError(
                f"TinyUNet with {len(self.down)} levels needs H and W divisible by {self.factor}, "
                f"got {x.shape[-2]}x{x.shape[-1]}"
            )
        emb = self.time_embed(t)
        if self.adapter_in is not None:
            x = self.adapter_in(x, emb)
        h = self.conv_in(x)
        hs = [h]
        index = 0
        for level, blocks in enumerate(self.down):
            for block in blocks:
                h = self._block(block, h, emb, index)
                index += 1
                hs.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
                hs.append(h)
        h = self._block(self.mid, h, emb, index)
        index += 1
        for level, blocks in enumerate(self.up):
            for block in blocks:
                h = self._block(block, torch.cat([h, hs.pop()], dim=1), emb, index)
                index += 1
            if level < len(self.upsample):
                h = self.upsample[level](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        out = self.conv_out(F.silu(self.norm_out(h)))
        if self.adapter_out is not None:
            out = self.adapter_out(out, emb)
        return out

