"""SpectralUNetDeep: SpectralUNet with three levels and two blocks per level."""

from __future__ import annotations

from collections.abc import Sequence

from specdiff.nn.spectral_unet import ModelMixer, SpectralUNet


class SpectralUNetDeep(SpectralUNet):
    """The frequency-domain U-Net of :class:`~specdiff.nn.SpectralUNet` made deeper: by default three levels
    (widths ``base_channels * (1, 2, 2)``, grids 32, 16 and 8 for 32x32 images) and two blocks per level, so the
    coarsest layers see a grid of 8x8 frequencies. Same arguments, same layers; only the defaults differ.

    H and W must be multiples of ``2 ** (len(channel_mults) - 1)``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 32,
        channel_mults: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 2,
        time_embed_dim: int = 128,
        image_size: int = 32,
        mixer: ModelMixer = "basis",
        filters_per_channel: int = 1,
        filter_padding: int = 4,
        fourier_levels: int = 0,
    ):
        super().__init__(in_channels, base_channels, channel_mults, num_res_blocks, time_embed_dim, image_size, mixer,
                         filters_per_channel, filter_padding, fourier_levels)
