"""Global filters: learned per-channel frequency responses applied with one fused FFT round trip, and the
residual block and resampling layers of SpectralUNet / SpectralUNetDeep built from them.

A global filter is a depthwise circular convolution whose kernel spans the whole image, stored as its
frequency response (Rao et al., "Global Filter Networks", NeurIPS 2021): for channel c,
``y_c = irfft2(W_c · rfft2(x_c, norm="ortho"), norm="ortho")``, one :func:`~specdiff.ops.spectral_filter2d` call
for all channels. All spatial mixing of the spectral models is done this way; the nonlinearities act on pixels.
That split is the point: a pointwise nonlinearity applied per frequency bin acts on every pixel at once, so a
network made only of such layers cannot build local structure such as an edge, whereas a pixel nonlinearity
between global filters can (see docs/spectral_models.md).

A global filter on the image's own grid is a circular convolution: what leaves one edge re-enters at the opposite
one. ``padding`` q puts the response on a grid q pixels larger per axis, and the fused op zero-pads each plane to it
and crops the result (``spectral_filter2d(..., s=(H + q, W + q))``): the filter is then the linear, zero-padded
convolution by every kernel whose taps stay within q pixels of the origin, like a spatial convolution's
``padding="same"``.

``mixer`` replaces the frequency-domain filters for ablations: ``"spatial"`` by their spatial counterparts (a
depthwise 3x3 convolution in the blocks, a depthwise 2x2 one for resampling, starting from the same kernels as
the global filters' initialisation) and ``"identity"`` by nothing (the blocks keep only their pixel-wise layers,
resampling becomes plain decimation and zero insertion).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specdiff.nn.layers import check_positive_int, group_norm
from specdiff.ops.spectral_filter2d import spectral_filter2d

Mixer = Literal["global", "spatial", "identity"]
MIXERS: tuple[str, ...] = ("global", "spatial", "identity")
Init = Literal["local", "down", "up"]


def check_mixer(mixer: str) -> None:
    if mixer not in MIXERS:
        raise ValueError(f"mixer must be one of {', '.join(map(repr, MIXERS))}, got {mixer!r}")


def check_padding(padding: int) -> None:
    if not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
        raise ValueError(f"filter padding must be an int >= 0 (0: circular filters), got {padding!r}")


def _kernel_to_response(kernel: Tensor, height: int, width: int) -> Tensor:
    """The frequency response ``[C, height, width//2+1]`` (complex) of small kernels ``[C, kh, kw]`` whose tap
    (i, j) sits at offset ``(i - kh//2, j - kw//2)`` of the circular convolution ``y[n] = Σ_m k[m] x[n - m]``."""
    c, kh, kw = kernel.shape
    full = kernel.new_zeros(c, height, width)
    for i in range(kh):
        for j in range(kw):
            full[:, (i - kh // 2) % height, (j - kw // 2) % width] = kernel[:, i, j]
    return torch.fft.rfft2(full)


def initial_kernel(channels: int, init: Init, generator: torch.Generator | None = None) -> Tensor:
    """The spatial kernels ``[C, k, k]`` a filter starts from: ``local`` a random 3x3 depthwise kernel with
    ``nn.Conv2d``'s default scale (uniform in ±1/3); ``down`` the 2x2 box that makes decimation a 2x2 average pool;
    ``up`` the 2x2 ones that make zero insertion nearest-neighbour upsampling."""
    if init == "local":
        return torch.empty(channels, 3, 3).uniform_(-1 / 3, 1 / 3, generator=generator)
    if init == "down":  # taps at offsets 0 and -1: y[n] = mean(x[n], x[n+1]) per axis
        kernel = torch.zeros(channels, 3, 3)
        kernel[:, :2, :2] = 0.25
        return kernel
    if init == "up":  # taps at offsets 0 and +1: y[2i] = y[2i+1] = x[i] after zero insertion
        kernel = torch.zeros(channels, 3, 3)
        kernel[:, 1:, 1:] = 1.0
        return kernel
    raise ValueError(f"init must be 'local', 'down' or 'up', got {init!r}")


def resample_response(response: Tensor, size: tuple[int, int], new_size: tuple[int, int]) -> Tensor:
    """A frequency response ``[C, H, W//2+1]`` (complex) of an ``H x W`` grid (``size``) carried to ``new_size``
    through its kernel: the circular kernel is centred, cropped or zero-padded about its origin, and transformed
    back. Exact for kernels that fit the new grid (a local kernel keeps its taps); a larger grid never wraps
    the kernel around."""
    if tuple(size) == tuple(new_size):
        return response
    kernel = torch.fft.fftshift(torch.fft.irfft2(response, s=tuple(size)), dim=(-2, -1))
    kernel = _centre(_centre(kernel, -2, new_size[0]), -1, new_size[1])
    return torch.fft.rfft2(torch.fft.ifftshift(kernel, dim=(-2, -1)))


def _centre(kernel: Tensor, dim: int, size: int) -> Tensor:
    """Crops or zero-pads dimension ``dim`` of an fftshifted kernel (origin at ``n//2``) to ``size``, keeping the
    origin at ``size//2``."""
    n = kernel.shape[dim]
    if size < n:
        return kernel.narrow(dim, n // 2 - size // 2, size)
    if size > n:
        before = size // 2 - n // 2
        pad = [0, 0] * (-dim - 1) + [before, size - n - before]
        return F.pad(kernel, pad)
    return kernel


class GlobalFilter(nn.Module):
    """Per-channel global filter ``Tensor[B, C, H, W] -> Tensor[B, C, H, W]``: ``irfft2(W_c · rfft2(x_c))`` with a
    learned complex response ``W_c`` on the ``size`` grid (stored as real pairs, ``weight [C, H, W//2+1, 2]``), one
    fused :func:`~specdiff.ops.spectral_filter2d` call. It starts as the response of a small kernel (``init``, see
    :func:`initial_kernel`), so it starts local and may grow global. Inputs of another size use the response
    carried through its kernel (:func:`resample_response`).

    ``multiplier`` k gives every channel k filters of its own (output ``[B, k C, H, W]``, channel ``c k + j`` is
    filter j of channel c), a depth multiplier: followed by a 1x1 convolution, k filters per channel factor a full
    convolution with rank k per input channel instead of 1 (k = 9 fixed shifts would be a full 3x3 convolution).
    The op takes the k C responses at once and transforms each input plane once for its k filters (no copies).

    ``padding`` q > 0: the response lives on the grid ``size + q`` (``weight [C, H+q, (W+q)//2+1, 2]``) and the
    filter is the zero-padded convolution (see the module's docstring) instead of the circular one.

    ``mixer="spatial"``: a depthwise 3x3 convolution (zero padding) starting from the same taps;
    ``mixer="identity"``: no filter at all (k copies of each channel).
    """

    def __init__(self, channels: int, size: tuple[int, int], init: Init = "local", mixer: Mixer = "global",
                 multiplier: int = 1, padding: int = 0):
        super().__init__()
        check_mixer(mixer)
        check_positive_int("multiplier", multiplier)
        check_padding(padding)
        self.channels, self.size, self.init, self.mixer = channels, (int(size[0]), int(size[1])), init, mixer
        self.multiplier, self.padding = multiplier, padding
        kernel = initial_kernel(self.out_channels, init)
        if mixer == "global":
            response = _kernel_to_response(kernel, *self.grid)
            self.weight = nn.Parameter(torch.view_as_real(response).contiguous())
        elif mixer == "spatial":
            # F.conv2d correlates: flipping the taps gives the convolution y[n] = Σ_m k[m] x[n - m].
            self.weight = nn.Parameter(kernel.flip(-2, -1).unsqueeze(1).contiguous())

    @property
    def out_channels(self) -> int:
        """k C: the channels of the output."""
        return self.channels * self.multiplier

    @property
    def grid(self) -> tuple[int, int]:
        """The grid the response lives on: ``size`` grown by ``padding`` per axis."""
        return self.size[0] + self.padding, self.size[1] + self.padding

    def response(self, height: int, width: int, dtype: torch.dtype = torch.float32) -> Tensor:
        """The complex response applied to ``height x width`` inputs of ``dtype``: ``[C, H', W'//2+1]`` on their
        transform grid ``(H', W') = (height + padding, width + padding)``."""
        real = self.weight.to(torch.float64 if dtype == torch.float64 else torch.float32)
        grid = (height + self.padding, width + self.padding)
        return resample_response(torch.view_as_complex(real), self.grid, grid)

    def forward(self, x: Tensor) -> Tensor:
        if self.mixer == "spatial":  # a depthwise convolution with k outputs per group needs no copies
            return F.conv2d(x, self.weight.to(x.dtype), padding=1, groups=self.channels)
        if self.mixer == "identity":
            return x.repeat_interleave(self.multiplier, dim=1) if self.multiplier > 1 else x
        # k C responses: the op gives each channel its k filters and transforms every plane once for all of them.
        height, width = x.shape[-2:]
        grid = (height + self.padding, width + self.padding) if self.padding else None
        return spectral_filter2d(x, self.response(height, width, x.dtype), grid)

    def extra_repr(self) -> str:
        multiplier = f", multiplier={self.multiplier}" if self.multiplier > 1 else ""
        padding = f", padding={self.padding}" if self.padding else ""
        return f"{self.channels}, size={self.size}, init={self.init!r}, mixer={self.mixer!r}{multiplier}{padding}"


class Downsample(nn.Module):
    """Halves H and W: a global filter (starting as a 2x2 box), then every other row and column, i.e. a learned
    anti-aliasing filter and decimation (with an ideal low-pass it is spectral pooling, the crop of the spectrum)."""

    def __init__(self, channels: int, size: tuple[int, int], mixer: Mixer = "global", padding: int = 0):
        super().__init__()
        self.filter = GlobalFilter(channels, size, "down", mixer, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        return self.filter(x)[..., ::2, ::2]


class Upsample(nn.Module):
    """Doubles H and W: zero insertion, then a global filter (starting as 2x2 ones, which makes it
    nearest-neighbour upsampling; with an ideal low-pass it is the zero-padding of the spectrum)."""

    def __init__(self, channels: int, size: tuple[int, int], mixer: Mixer = "global", padding: int = 0):
        super().__init__()
        self.filter = GlobalFilter(channels, size, "up", mixer, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        z = x.new_zeros(b, c, h, 2, w, 2)
        z[:, :, :, 0, :, 0] = x
        return self.filter(z.reshape(b, c, 2 * h, 2 * w))


class Pointwise(nn.Module):
    """1x1 convolution ``Tensor[B, C_in, H, W] -> Tensor[B, C_out, H, W]`` as one batched GEMM on the
    ``[B, C, H*W]`` view (``torch.baddbmm``), with ``nn.Conv2d``'s initialisation. On CPU this is several times
    faster than ``nn.Conv2d`` with a 1x1 kernel on NCHW tensors, which reorders its operands for oneDNN on every
    call (``specdiff bench models`` measures the models that use it)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        bound = 1 / math.sqrt(in_channels)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))

    def forward(self, x: Tensor, shift: Tensor | None = None) -> Tensor:
        """``shift``: an optional ``Tensor[B, C_out]`` added per sample and channel, folded into the GEMM's bias
        term instead of a pass of its own."""
        b, _, h, w = x.shape
        bias = self.bias[None, :, None] if shift is None else (shift + self.bias)[:, :, None]
        out = torch.baddbmm(bias, self.weight.expand(b, -1, -1), x.reshape(b, self.in_channels, -1))
        return out.view(b, self.out_channels, h, w)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"


class GlobalFilterBlock(nn.Module):
    """The residual block of the spectral models, TinyUNet's ResBlock with each 3x3 convolution factored into a
    global filter (spatial mixing, in frequency) followed by a 1x1 convolution (channel mixing, in pixels):

    ``h = P1(F1(SiLU(GN(x)))) + emb(t)``; ``out = skip(x) + P2(F2(SiLU(GN(h))))``.

    ``P2`` starts at zero, so the block starts as its skip path. Each ``SiLU(GN(.))`` is one fused
    :func:`~specdiff.ops.group_norm_silu` call, and the time embedding enters through P1's bias. With
    ``filters_per_channel`` k, F1 and F2 give each channel k filters and P1, P2 mix k times as many channels;
    ``filter_padding`` is the filters' ``padding``.
    """

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int, size: tuple[int, int],
                 mixer: Mixer = "global", filters_per_channel: int = 1, filter_padding: int = 0):
        super().__init__()
        self.norm1 = group_norm(in_channels, silu=True)
        self.filter1 = GlobalFilter(in_channels, size, mixer=mixer, multiplier=filters_per_channel,
                                    padding=filter_padding)
        self.proj1 = Pointwise(self.filter1.out_channels, out_channels)
        self.emb = nn.Linear(emb_dim, out_channels)
        self.norm2 = group_norm(out_channels, silu=True)
        self.filter2 = GlobalFilter(out_channels, size, mixer=mixer, multiplier=filters_per_channel,
                                    padding=filter_padding)
        self.proj2 = Pointwise(self.filter2.out_channels, out_channels)
        self.skip = Pointwise(in_channels, out_channels) if in_channels != out_channels else nn.Identity()
        nn.init.zeros_(self.proj2.weight)
        nn.init.zeros_(self.proj2.bias)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.proj1(self.filter1(self.norm1(x)), self.emb(F.silu(emb)))
        return self.skip(x) + self.proj2(self.filter2(self.norm2(h)))


__all__ = ["MIXERS", "Downsample", "GlobalFilter", "GlobalFilterBlock", "Pointwise", "Upsample", "initial_kernel",
           "resample_response"]
