"""SpectralUNet: a U-Net whose every spatial operation is a global filter (a learned frequency response applied
by one fused FFT round trip), with channel mixing and nonlinearities in pixels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from specdiff.nn.global_filter import (
    Downsample,
    GlobalFilter,
    GlobalFilterBlock,
    Mixer,
    Pointwise,
    Upsample,
    check_mixer,
    check_padding,
)
from specdiff.nn.layers import TimeEmbedding, check_input, check_positive_int, group_norm


class SpectralUNet(nn.Module):
    """Global-filter U-Net: ``forward(x [B, C, H, W], t [B] int) -> [B, C, H, W]``.

    TinyUNet's layout with every spatial operation moved to the frequency domain:

    * stem: a 1x1 convolution, then a global filter;
    * per level ``num_res_blocks`` :class:`~specdiff.nn.global_filter.GlobalFilterBlock` s at
      ``base_channels * mult`` (each 3x3 convolution of a ResBlock factored into a 1x1 convolution and a global
      filter), then (except at the last level) :class:`~specdiff.nn.global_filter.Downsample`, a global
      anti-aliasing filter and decimation;
    * a middle block, and the mirrored decoder with one more block per level, each concatenating the matching
      encoder activation, and :class:`~specdiff.nn.global_filter.Upsample` (zero insertion and a global filter);
    * head: GroupNorm, SiLU, a global filter and a 1x1 convolution.

    The timestep enters through a sinusoidal embedding and an MLP (``time_embed_dim``) added in every block.
    Each level's filters are learned on its grid (``image_size / 2**level``); inputs of another size use the
    filters carried through their kernels (exact while the kernels fit). ``mixer`` swaps every global filter for
    its spatial counterpart (``"spatial"``, depthwise 3x3) or removes it (``"identity"``), for ablations.
    ``filters_per_channel`` k gives every block's filters k responses per channel, mixed by the block's 1x1
    convolutions (a depth multiplier, see :class:`~specdiff.nn.global_filter.GlobalFilter`). ``filter_padding`` q > 0
    makes every global filter a zero-padded convolution instead of a circular one: responses on grids q pixels
    larger, each plane zero-padded to it and cropped back inside the fused op (see
    :class:`~specdiff.nn.global_filter.GlobalFilter`).

    H and W must be multiples of ``2 ** (len(channel_mults) - 1)`` (a ValueError says so otherwise).
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 32,
        channel_mults: Sequence[int] = (1, 2),
        num_res_blocks: int = 1,
        time_embed_dim: int = 128,
        image_size: int = 32,
        mixer: Mixer = "global",
        filters_per_channel: int = 1,
        filter_padding: int = 0,
    ):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("base_channels", base_channels),
                            ("num_res_blocks", num_res_blocks), ("image_size", image_size),
                            ("filters_per_channel", filters_per_channel)):
            check_positive_int(name, value)
        if not channel_mults or any(int(m) < 1 for m in channel_mults):
            raise ValueError(f"channel_mults must be a non-empty sequence of positive ints, got {channel_mults!r}")
        check_mixer(mixer)
        check_padding(filter_padding)
        pad = filter_padding
        levels = len(channel_mults)
        self.factor = 2 ** (levels - 1)
        if image_size % self.factor:
            raise ValueError(f"image_size must be a multiple of {self.factor} for {levels} levels, got {image_size}")
        self.in_channels = in_channels
        widths = [base_channels * int(m) for m in channel_mults]
        grids = [(image_size >> level,) * 2 for level in range(levels)]
        self.time_embed = TimeEmbedding(time_embed_dim)
        self.conv_in = Pointwise(in_channels, base_channels)
        self.filter_in = GlobalFilter(base_channels, grids[0], mixer=mixer, padding=pad)

        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips, ch = [base_channels], base_channels
        for level, width in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(GlobalFilterBlock(ch, width, time_embed_dim, grids[level], mixer, filters_per_channel,
                                                pad))
                ch = width
                skips.append(ch)
            self.down.append(blocks)
            if level < levels - 1:
                self.downsample.append(Downsample(ch, grids[level], mixer, pad))
                skips.append(ch)
        self.mid = GlobalFilterBlock(ch, ch, time_embed_dim, grids[-1], mixer, filters_per_channel, pad)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                blocks.append(GlobalFilterBlock(ch + skips.pop(), width, time_embed_dim, grids[level], mixer,
                                                filters_per_channel, pad))
                ch = width
            self.up.append(blocks)
            if level > 0:
                self.upsample.append(Upsample(ch, grids[level - 1], mixer, pad))
        self.norm_out = group_norm(ch, silu=True)
        self.filter_out = GlobalFilter(ch, grids[0], mixer=mixer, padding=pad)
        self.conv_out = Pointwise(ch, in_channels)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        check_input(x, t, self.in_channels, type(self).__name__)
        if x.shape[-2] % self.factor or x.shape[-1] % self.factor:
            raise ValueError(f"{type(self).__name__} with {len(self.down)} levels needs H and W divisible by "
                             f"{self.factor}, got {x.shape[-2]}x{x.shape[-1]}")
        emb = self.time_embed(t)
        h = self.filter_in(self.conv_in(x))
        hs = [h]
        for level, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, emb)
                hs.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
                hs.append(h)
        h = self.mid(h, emb)
        for level, blocks in enumerate(self.up):
            for block in blocks:
                h = block(torch.cat([h, hs.pop()], dim=1), emb)
            if level < len(self.upsample):
                h = self.upsample[level](h)
        return self.conv_out(self.filter_out(self.norm_out(h)))
