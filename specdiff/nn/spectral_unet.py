"""SpectralUNet: a U-Net whose every spatial operation happens in the frequency domain: by default convolutions
computed in frequency with learned global bases (``mixer="basis"``), or global filters followed by 1x1 channel
mixing (``mixer="global"``); nonlinearities act on pixels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from specdiff.nn.global_filter import (
    MIXERS,
    Downsample,
    GlobalFilter,
    GlobalFilterBlock,
    Pointwise,
    Upsample,
    check_padding,
)
from specdiff.nn.layers import TimeEmbedding, check_input, check_positive_int, group_norm
from specdiff.nn.spectral_conv import SpectralConv, SpectralConvBlock, SpectralConvUpsample

# The filters' ablations (global_filter.MIXERS) and "basis": every global filter and the 1x1 convolution after it
# replaced by one SpectralConv (a convolution computed in frequency with learned global bases).
ModelMixer = Literal["basis", "global", "spatial", "identity"]
MODEL_MIXERS: tuple[str, ...] = (*MIXERS, "basis")


class SpectralUNet(nn.Module):
    """Frequency-domain U-Net: ``forward(x [B, C, H, W], t [B] int) -> [B, C, H, W]``.

    ``mixer="basis"`` (the default): TinyUNet's layout with every 3x3 convolution a
    :class:`~specdiff.nn.spectral_conv.SpectralConv`, which mixes the channels at every frequency bin by
    ``sum_j basis_j(f) taps_j``: nine global filters per layer, shared by all channel pairs and learned, each with its
    own ``C_out x C_in`` taps (one fused :func:`~specdiff.ops.spectral_conv2d` per layer). The bases start as the
    responses of a 3x3 kernel's unit shifts, so the untrained model computes TinyUNet's convolutions and every layer
    can grow a global receptive field. Stem, blocks (:class:`~specdiff.nn.spectral_conv.SpectralConvBlock`), strided
    downsampling, nearest-neighbour upsampling followed by a layer, and a GroupNorm-SiLU head, as TinyUNet.

    ``mixer="global"``: every 3x3 convolution factored into a global filter (one learned frequency response per
    channel, or ``filters_per_channel`` k) and a 1x1 convolution:

    * stem: a 1x1 convolution, then a global filter;
    * per level ``num_res_blocks`` :class:`~specdiff.nn.global_filter.GlobalFilterBlock` s at
      ``base_channels * mult``, then (except at the last level) :class:`~specdiff.nn.global_filter.Downsample`, a
      global anti-aliasing filter and decimation;
    * a middle block, and the mirrored decoder with one more block per level, each concatenating the matching
      encoder activation, and :class:`~specdiff.nn.global_filter.Upsample` (zero insertion and a global filter);
    * head: GroupNorm, SiLU, a global filter and a 1x1 convolution.

    ``"spatial"`` and ``"identity"`` swap those global filters for their spatial counterparts (depthwise 3x3) or
    remove them, for ablations; ``filters_per_channel`` applies to these three mixers only.

    The timestep enters through a sinusoidal embedding and an MLP (``time_embed_dim``) added in every block.
    Each level's filters (or bases) are learned on its grid (``image_size / 2**level``); inputs of another size use
    them carried through their kernels (exact while the kernels fit). ``filter_padding`` q > 0 puts them on grids q
    pixels larger, so that every filter is a zero-padded convolution instead of a circular one (each plane padded and
    cropped inside the fused op).

    ``fourier_levels`` k (``mixer="basis"`` only; default 0) adds a
    :class:`~specdiff.nn.spectral_conv.FourierUnit` (FFC's global branch, a ReLU on every frequency bin between two
    1x1 convolutions of the half spectrum) to every block of the k coarsest levels, the middle block included. It
    starts at zero and runs on ATen's transforms, not a fused op: an option for studies, measured in
    docs/spectral_models.md.

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
        mixer: ModelMixer = "basis",
        filters_per_channel: int = 1,
        filter_padding: int = 4,
        fourier_levels: int = 0,
    ):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("base_channels", base_channels),
                            ("num_res_blocks", num_res_blocks), ("image_size", image_size),
                            ("filters_per_channel", filters_per_channel)):
            check_positive_int(name, value)
        if not channel_mults or any(int(m) < 1 for m in channel_mults):
            raise ValueError(f"channel_mults must be a non-empty sequence of positive ints, got {channel_mults!r}")
        if mixer not in MODEL_MIXERS:
            raise ValueError(f"mixer must be one of {', '.join(map(repr, MODEL_MIXERS))}, got {mixer!r}")
        if mixer == "basis" and filters_per_channel != 1:
            raise ValueError(f"filters_per_channel must be 1 with mixer='basis' (its layers mix every channel pair "
                             f"through their bases), got {filters_per_channel!r}")
        check_padding(filter_padding)
        pad = filter_padding
        levels = len(channel_mults)
        if not (isinstance(fourier_levels, int) and 0 <= fourier_levels <= levels):
            raise ValueError(f"fourier_levels must be an int in [0, {levels}] (the coarsest levels whose blocks get a "
                             f"Fourier unit), got {fourier_levels!r}")
        if fourier_levels and mixer != "basis":
            raise ValueError(f"fourier_levels needs mixer='basis' (its blocks carry the Fourier units), got mixer "
                             f"{mixer!r}")
        self.factor = 2 ** (levels - 1)
        if image_size % self.factor:
            raise ValueError(f"image_size must be a multiple of {self.factor} for {levels} levels, got {image_size}")
        self.in_channels = in_channels
        widths = [base_channels * int(m) for m in channel_mults]
        grids = [(image_size >> level,) * 2 for level in range(levels)]
        self.time_embed = TimeEmbedding(time_embed_dim)
        basis = mixer == "basis"

        def block(cin: int, cout: int, level: int) -> nn.Module:
            if basis:
                return SpectralConvBlock(cin, cout, time_embed_dim, grids[level], pad,
                                         fourier=level >= levels - fourier_levels)
            return GlobalFilterBlock(cin, cout, time_embed_dim, grids[level], mixer, filters_per_channel, pad)

        if basis:  # TinyUNet's layout, every 3x3 convolution computed in frequency with learned bases
            self.conv_in = SpectralConv(in_channels, base_channels, grids[0], pad)
            self.filter_in = nn.Identity()
        else:
            self.conv_in = Pointwise(in_channels, base_channels)
            self.filter_in = GlobalFilter(base_channels, grids[0], mixer=mixer, padding=pad)

        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips, ch = [base_channels], base_channels
        for level, width in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(block(ch, width, level))
                ch = width
                skips.append(ch)
            self.down.append(blocks)
            if level < levels - 1:
                self.downsample.append(SpectralConv(ch, ch, grids[level], pad, stride=2) if basis
                                       else Downsample(ch, grids[level], mixer, pad))
                skips.append(ch)
        self.mid = block(ch, ch, levels - 1)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                blocks.append(block(ch + skips.pop(), width, level))
                ch = width
            self.up.append(blocks)
            if level > 0:
                self.upsample.append(SpectralConvUpsample(ch, grids[level - 1], pad) if basis
                                     else Upsample(ch, grids[level - 1], mixer, pad))
        self.norm_out = group_norm(ch, silu=True)
        if basis:
            self.filter_out = nn.Identity()
            self.conv_out = SpectralConv(ch, in_channels, grids[0], pad)
        else:
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
