"""FrequencyNativeUNetDeep: a multi-scale encoder/decoder that stays in the frequency domain throughout (the first
SpectralUNetDeep design)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from specdiff.nn.complex import ComplexConv2d, ComplexConvTranspose2d, ComplexResBlock, complex_cat
from specdiff.nn.layers import TimeEmbedding, check_input, check_positive_int
from specdiff.nn.spectral import (
    AmplitudeResidual,
    FrequencyPatchEmbed,
    FrequencyPatchHead,
    PhaseMixing,
    from_half_spectrum,
    pad_to_multiple,
    to_half_spectrum,
)


class FrequencyNativeUNetDeep(nn.Module):
    """Multi-scale frequency-domain UNet: ``forward(x [B, C, H, W], t [B] int) -> [B, C, H, W]``.

    The half spectrum (split layout, as in :class:`~specdiff.nn.FrequencyNativeUNet`) goes through a frequency patch
    embedding, an encoder of ``len(channel_mults)`` levels (``num_res_blocks`` complex residual blocks at
    ``base_channels * mult``, then a stride-2 3x3 complex convolution that halves the frequency grid), a
    middle block (followed by phase mixing when ``phase_mixing``), and the mirrored decoder: a 2x2 stride-2
    complex transposed convolution doubles the grid, the encoder activation of that level is joined by
    :func:`~specdiff.nn.complex.complex_cat` (real halves with real halves, imaginary with imaginary) and
    ``num_res_blocks`` blocks follow. The head maps back to bins, the optional amplitude residual acts on the
    magnitude, and ``irfft2`` returns to pixels. The time embedding conditions every block.

    Any H, W >= 2: the frequency grid ``H x (W//2+1)`` is zero-padded to a multiple of
    ``patch_size * 2 ** (len(channel_mults) - 1)`` and cropped back (a ValueError for H or W < 2).
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 32,
        channel_mults: Sequence[int] = (1, 2),
        num_res_blocks: int = 1,
        time_embed_dim: int = 128,
        patch_size: int = 1,
        amplitude_residual: bool = True,
        phase_mixing: bool = False,
    ):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("base_channels", base_channels),
                            ("num_res_blocks", num_res_blocks), ("patch_size", patch_size)):
            check_positive_int(name, value)
        if not channel_mults or any(int(m) < 1 for m in channel_mults):
            raise ValueError(f"channel_mults must be a non-empty sequence of positive ints, got {channel_mults!r}")
        self.in_channels = in_channels
        self.multiple = patch_size * 2 ** (len(channel_mults) - 1)
        widths = [base_channels * int(m) for m in channel_mults]
        self.time_embed = TimeEmbedding(time_embed_dim)
        self.embed = FrequencyPatchEmbed(in_channels, widths[0], patch_size)

        self.down_blocks = nn.ModuleList()
        self.downsample = nn.ModuleList()
        ch = widths[0]
        for level, width in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(ComplexResBlock(ch, width, time_embed_dim))
                ch = width
            self.down_blocks.append(blocks)
            if level < len(widths) - 1:
                self.downsample.append(ComplexConv2d(ch, ch, 3, stride=2, padding=1))
        self.mid = ComplexResBlock(ch, ch, time_embed_dim)
        self.phase_mixing = PhaseMixing(ch) if phase_mixing else None

        self.up_blocks = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(len(widths))):
            width = widths[level]
            blocks = nn.ModuleList([ComplexResBlock(ch + width, width, time_embed_dim)])
            blocks.extend(ComplexResBlock(width, width, time_embed_dim) for _ in range(num_res_blocks - 1))
            ch = width
            self.up_blocks.append(blocks)
            if level > 0:
                self.upsample.append(ComplexConvTranspose2d(ch, ch, 2, stride=2))
        self.head = FrequencyPatchHead(ch, in_channels, patch_size)
        self.amplitude = (
            AmplitudeResidual(in_channels, in_channels, base_channels, time_embed_dim) if amplitude_residual else None
        )

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        check_input(x, t, self.in_channels, "FrequencyNativeUNetDeep")
        height, width = x.shape[-2:]
        if height < 2 or width < 2:
            raise ValueError(f"FrequencyNativeUNetDeep needs H, W >= 2, got {height}x{width}")
        emb = self.time_embed(t)
        spec = to_half_spectrum(x)
        h = self.embed(pad_to_multiple(spec, self.multiple))
        skips = []
        for level, blocks in enumerate(self.down_blocks):
            for block in blocks:
                h = block(h, emb)
            skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
        h = self.mid(h, emb)
        if self.phase_mixing is not None:
            h = self.phase_mixing(h)
        for level, blocks in enumerate(self.up_blocks):
            h = complex_cat(h, skips.pop())
            for block in blocks:
                h = block(h, emb)
            if level < len(self.upsample):
                h = self.upsample[level](h)
        y = self.head(h)[..., : spec.shape[-2], : spec.shape[-1]]
        if self.amplitude is not None:
            y = self.amplitude(y, spec, emb)
        return from_half_spectrum(y, (height, width))
