"""Convolutions computed in frequency with learned global bases, and the residual block and resampling layers of
SpectralUNet / SpectralUNetDeep built from them (``mixer="basis"``).

:class:`SpectralConv` mixes channels at every frequency bin f by ``M(f) = sum_j basis_j(f) taps_j``
(:func:`~specdiff.ops.spectral_conv2d`, one fused op): K global filters shared by all channel pairs of the layer,
each with a real ``C_out x C_in`` matrix. It starts as a 3x3 convolution: the nine bases are the frequency responses
of a 3x3 kernel's unit shifts (on a grid ``padding`` pixels larger than the image, so the convolution is zero-padded,
not circular) and the taps the convolution's weights. Learning the bases lets every layer grow a global receptive
field while each output channel keeps mixing the input channels differently at each basis, as a 3x3 convolution does
at each of its nine offsets; the global filters of ``mixer="global"`` give each channel one response (or k) before
a 1x1 mixing instead, which on sharp-edged data trails a full convolution at equal steps (docs/spectral_models.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specdiff.nn.global_filter import Pointwise, check_padding, resample_response
from specdiff.nn.layers import check_positive_int, group_norm
from specdiff.ops.spectral_conv2d import spectral_conv2d

BASES = 9  # the unit shifts of a 3x3 kernel


def shift_bases(height: int, width: int) -> Tensor:
    """The half spectra ``[9, height, width//2+1]`` (complex128) of a 3x3 correlation's taps: basis ``3 i + j`` is
    the response of the kernel that moves pixel ``(n + i - 1, m + j - 1)`` to ``(n, m)`` (its one tap at offset
    ``(1 - i, 1 - j)`` of the convolution ``y[n] = sum_m k[m] x[n - m]``), so that taps ``[9, C_out, C_in]`` taken
    from an ``nn.Conv2d`` weight ``[C_out, C_in, 3, 3]`` (``permute(2, 3, 0, 1)``) give that layer's correlation."""
    kernels = torch.zeros(BASES, height, width, dtype=torch.float64)
    for i in range(3):
        for j in range(3):
            kernels[3 * i + j, (1 - i) % height, (1 - j) % width] = 1.0
    return torch.fft.rfft2(kernels)


class SpectralConv(nn.Module):
    """``Tensor[B, C_in, H, W] -> Tensor[B, C_out, H / stride, W / stride]``: a convolution computed in frequency
    with ``BASES`` learned global bases on the ``size`` grid grown by ``padding`` (see the module's docstring),
    plus a bias. It starts as ``nn.Conv2d(C_in, C_out, 3, padding=1)`` with that layer's initialisation (zero-padded
    when ``padding`` >= 1); ``stride`` 2 keeps every other row and column of the result, as a strided convolution.
    Inputs of another size use the bases carried through their kernels (``resample_response``).

    ``basis [K, H+q, (W+q)//2+1, 2]`` holds the bases as real pairs, ``taps [K, C_out, C_in]``, ``bias [C_out]``.
    """

    def __init__(self, in_channels: int, out_channels: int, size: tuple[int, int], padding: int = 4,
                 stride: int = 1):
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("out_channels", out_channels)
        check_padding(padding)
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride!r}")
        self.in_channels, self.out_channels, self.stride, self.padding = in_channels, out_channels, stride, padding
        self.size = (int(size[0]), int(size[1]))
        conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.basis = nn.Parameter(torch.view_as_real(shift_bases(*self.grid).to(torch.complex64)).contiguous())
        self.taps = nn.Parameter(conv.weight.detach().permute(2, 3, 0, 1).reshape(BASES, out_channels, in_channels)
                                 .contiguous())
        self.bias = nn.Parameter(conv.bias.detach().clone())

    @property
    def grid(self) -> tuple[int, int]:
        """The grid the bases live on: ``size`` grown by ``padding`` per axis."""
        return self.size[0] + self.padding, self.size[1] + self.padding

    def bases(self, height: int, width: int, dtype: torch.dtype = torch.float32) -> Tensor:
        """The complex bases applied to ``height x width`` inputs of ``dtype``, on their transform grid."""
        real = self.basis.to(torch.float64 if dtype == torch.float64 else torch.float32)
        grid = (height + self.padding, width + self.padding)
        return resample_response(torch.view_as_complex(real), self.grid, grid)

    def forward(self, x: Tensor, shift: Tensor | None = None) -> Tensor:
        """``shift``: an optional ``Tensor[B, C_out]`` added per sample and channel with the bias."""
        height, width = x.shape[-2:]
        grid = (height + self.padding, width + self.padding) if self.padding else None
        y = spectral_conv2d(x, self.bases(height, width, x.dtype), self.taps.to(x.dtype), grid)
        if self.stride == 2:
            y = y[..., ::2, ::2]
        bias = self.bias if shift is None else shift + self.bias
        return y + (bias[:, :, None, None] if bias.dim() == 2 else bias[:, None, None])

    def extra_repr(self) -> str:
        stride = f", stride={self.stride}" if self.stride != 1 else ""
        return f"{self.in_channels}, {self.out_channels}, size={self.size}, padding={self.padding}{stride}"


class FourierUnit(nn.Module):
    """``Tensor[B, C_in, H, W] -> Tensor[B, C_out, H, W]``: the global branch of Fast Fourier Convolution (Chi et al.
    2020; LaMa's FFC blocks). ``irfft2(P2(ReLU(GN(P1(rfft2(x))))))``: the half spectrum's real and imaginary parts as
    ``2 C_in`` channels, a 1x1 convolution to ``2 C_out``, GroupNorm and ReLU, a second 1x1 convolution, and back.
    Its nonlinearity acts on every frequency bin, unlike :class:`SpectralConv`, which is linear in frequency, so a
    bin can be raised or suppressed by what the others hold (a periodic pattern's peaks). P2 starts at zero, so the
    unit starts as nothing."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("out_channels", out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.project = nn.Conv2d(2 * in_channels, 2 * out_channels, 1)
        self.norm = group_norm(2 * out_channels)
        self.mix = nn.Conv2d(2 * out_channels, 2 * out_channels, 1)
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        spec = torch.fft.rfft2(x, norm="ortho")
        h = self.mix(F.relu(self.norm(self.project(torch.cat([spec.real, spec.imag], dim=1)))))
        real, imag = h.chunk(2, dim=1)
        return torch.fft.irfft2(torch.complex(real, imag), s=(height, width), norm="ortho")

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"


class SpectralConvBlock(nn.Module):
    """TinyUNet's ResBlock with each 3x3 convolution a :class:`SpectralConv`:
    ``h = S1(SiLU(GN(x))) + emb(t)``; ``out = skip(x) + S2(SiLU(GN(h)))``, each ``SiLU(GN(.))`` one fused
    :func:`~specdiff.ops.group_norm_silu`; S2 starts at zero, so the block starts as its skip path. With
    ``fourier`` a :class:`FourierUnit` on the same input is added to ``h`` (FFC's local and global branches)."""

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int, size: tuple[int, int], padding: int = 4,
                 fourier: bool = False):
        super().__init__()
        self.norm1 = group_norm(in_channels, silu=True)
        self.conv1 = SpectralConv(in_channels, out_channels, size, padding)
        self.emb = nn.Linear(emb_dim, out_channels)
        self.norm2 = group_norm(out_channels, silu=True)
        self.conv2 = SpectralConv(out_channels, out_channels, size, padding)
        self.skip = Pointwise(in_channels, out_channels) if in_channels != out_channels else nn.Identity()
        nn.init.zeros_(self.conv2.taps)
        nn.init.zeros_(self.conv2.bias)
        # Drawn last, so that the block's other layers start as they would without it.
        self.fourier = FourierUnit(in_channels, out_channels) if fourier else None

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        a = self.norm1(x)
        h = self.conv1(a, self.emb(F.silu(emb)))
        if self.fourier is not None:
            h = h + self.fourier(a)
        return self.skip(x) + self.conv2(self.norm2(h))


class SpectralConvUpsample(nn.Module):
    """Doubles H and W: nearest-neighbour upsampling, then a :class:`SpectralConv` on the finer grid (TinyUNet's
    upsampling with its convolution computed in frequency)."""

    def __init__(self, channels: int, size: tuple[int, int], padding: int = 4):
        super().__init__()
        self.conv = SpectralConv(channels, channels, size, padding)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


__all__ = ["BASES", "FourierUnit", "SpectralConv", "SpectralConvBlock", "SpectralConvUpsample", "shift_bases"]
