"""Complex layers on the split layout ``[B, 2C, H, W]``: channels ``[0, C)`` real parts, ``[C, 2C)`` imaginary.

Complex parameters are stored as pairs of real tensors (``weight_re``, ``weight_im``), so optimizers, DDP and
state_dicts see ordinary real parameters. Every complex convolution is ONE call of the fused
:func:`specdiff.ops.complex_conv2d.complex_conv2d` / :func:`~specdiff.ops.complex_conv_transpose2d.
complex_conv_transpose2d` op (never four real convolutions on the kernel path).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specdiff.ops.complex_conv2d import complex_conv2d
from specdiff.ops.complex_conv_transpose2d import complex_conv_transpose2d
from specdiff.ops.complex_norm_act import complex_film, complex_norm_act, modulus_silu  # noqa: F401 (re-export)


def to_split(z: Tensor) -> Tensor:
    """Complex ``Tensor[B, C, H, W]`` -> real split layout ``Tensor[B, 2C, H, W]`` (real half first)."""
    b, c, h, w = z.shape
    return torch.view_as_real(z).permute(0, 4, 1, 2, 3).reshape(b, 2 * c, h, w)


def from_split(x: Tensor) -> Tensor:
    """Split layout ``Tensor[B, 2C, H, W]`` -> complex ``Tensor[B, C, H, W]``."""
    b, c2, h, w = x.shape
    return torch.view_as_complex(x.reshape(b, 2, c2 // 2, h, w).permute(0, 2, 3, 4, 1).contiguous())


def complex_parts(x: Tensor) -> tuple[Tensor, Tensor]:
    """(real, imaginary) halves of a split-layout tensor (views)."""
    c = x.shape[1] // 2
    return x[:, :c], x[:, c:]


def complex_cat(*xs: Tensor) -> Tensor:
    """Concatenates split-layout tensors along channels, real halves with real halves and imaginary with
    imaginary: ``[a_re, b_re, ..., a_im, b_im, ...]``. ``torch.cat`` would interleave ``[a_re, a_im, b_re, ...]``
    and silently turn ``a_im`` into a real part."""
    parts = [complex_parts(x) for x in xs]
    return torch.cat([re for re, _ in parts] + [im for _, im in parts], dim=1)


def complex_modulus(x: Tensor) -> Tensor:
    """``|z|`` of a split-layout tensor, ``Tensor[B, C, H, W]``; finite gradient (zero) at ``z = 0``."""
    b, c2, h, w = x.shape
    sq = x.reshape(b, 2, c2 // 2, h, w).square().sum(dim=1)
    return sq.clamp_min(torch.finfo(x.dtype).tiny).sqrt()


def complex_mul(x: Tensor, y: Tensor) -> Tensor:
    """Elementwise complex product of two split-layout tensors (broadcasting over B, H, W)."""
    xr, xi = complex_parts(x)
    yr, yi = complex_parts(y)
    return torch.cat([xr * yr - xi * yi, xr * yi + xi * yr], dim=1)


def _init_complex(weight_re: Tensor, weight_im: Tensor, bias_re: Tensor | None, bias_im: Tensor | None,
                  fan_in: int) -> None:
    # Each part U(-b, b) with b = 1/sqrt(2·fan_in): the complex weight then has the second moment of
    # torch's default real convolution init (kaiming_uniform with a = sqrt(5)), split over two parts.
    bound = 1.0 / math.sqrt(2 * fan_in)
    for t in (weight_re, weight_im, bias_re, bias_im):
        if t is not None:
            nn.init.uniform_(t, -bound, bound)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


class ComplexConv2d(nn.Module):
    """Complex convolution ``(Wr + i Wi) * z + (br + i bi)`` on the split layout, one fused op per call.

    ``Tensor[B, 2*in_channels, H, W]`` -> ``Tensor[B, 2*out_channels, H', W']`` with ``F.conv2d``'s size rule.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride=1,
                 padding=0, dilation=1, groups: int = 1, bias: bool = True):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
        kh, kw = _pair(kernel_size)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding, self.dilation = (kh, kw), stride, padding, dilation
        shape = (out_channels, in_channels // groups, kh, kw)
        self.weight_re = nn.Parameter(torch.empty(shape))
        self.weight_im = nn.Parameter(torch.empty(shape))
        self.bias_re = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.bias_im = nn.Parameter(torch.empty(out_channels)) if bias else None
        _init_complex(self.weight_re, self.weight_im, self.bias_re, self.bias_im, in_channels // groups * kh * kw)

    def forward(self, x: Tensor) -> Tensor:
        return complex_conv2d(x, self.weight_re, self.weight_im, self.bias_re, self.bias_im, self.stride,
                              self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, groups={self.groups}, bias={self.bias_re is not None}")


class ComplexConvTranspose2d(nn.Module):
    """Complex transposed convolution on the split layout, one fused op per call.

    ``Tensor[B, 2*in_channels, H, W]`` -> ``Tensor[B, 2*out_channels, H', W']`` with ``F.conv_transpose2d``'s
    size rule; weights ``[in_channels, out_channels/groups, kh, kw]`` as in ``nn.ConvTranspose2d``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride=1,
                 padding=0, output_padding=0, groups: int = 1, bias: bool = True, dilation=1):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
        kh, kw = _pair(kernel_size)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.output_padding, self.dilation = output_padding, dilation
        shape = (in_channels, out_channels // groups, kh, kw)
        self.weight_re = nn.Parameter(torch.empty(shape))
        self.weight_im = nn.Parameter(torch.empty(shape))
        self.bias_re = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.bias_im = nn.Parameter(torch.empty(out_channels)) if bias else None
        _init_complex(self.weight_re, self.weight_im, self.bias_re, self.bias_im, out_channels // groups * kh * kw)

    def forward(self, x: Tensor) -> Tensor:
        return complex_conv_transpose2d(x, self.weight_re, self.weight_im, self.bias_re, self.bias_im, self.stride,
                                        self.padding, self.output_padding, self.groups, self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, groups={self.groups}, bias={self.bias_re is not None}")


class ComplexBatchNorm2d(nn.BatchNorm2d):
    """Batch normalization with per-component statistics: the real and the imaginary part of each complex
    channel are normalized (and affinely rescaled) separately, as ``BatchNorm2d`` over the ``2C`` split
    channels.

    This is NOT the whitening complex batch norm of Trabelsi et al. 2018 (which decorrelates the real and
    imaginary parts with a 2x2 covariance per channel): per-component statistics cost one native fused
    pass and, in our models, train as well. Buffers and parameters have ``2 * num_features`` entries.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__(2 * num_features, eps, momentum, affine, track_running_stats)
        self.complex_features = num_features

    def norm_act(self, x: Tensor, film: Tensor | None = None) -> Tensor:
        """``ComplexSiLU()(complex_film(self(x), film))`` (without ``film``: ``ComplexSiLU()(self(x))``) as ONE
        fused :func:`~specdiff.ops.complex_norm_act.complex_norm_act` call; statistics, running-statistics
        updates and ``num_batches_tracked`` exactly as ``self(x)``."""
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return complex_norm_act(x, self.weight, self.bias, film=film,
                                running_mean=self.running_mean if keep else None,
                                running_var=self.running_var if keep else None,
                                training=batch_stats, momentum=factor, eps=self.eps)


class ComplexSiLU(nn.Module):
    """Modulus SiLU ``z · SiLU(|z|) / |z| = z · σ(|z|)``: rescales the modulus, keeps the phase.

    Written as ``z · σ(|z|)`` there is no division, so it is exact at ``z = 0`` (value 0, derivative
    ``σ(0) = 1/2`` times the identity) and its gradient is finite everywhere.
    """

    def forward(self, x: Tensor) -> Tensor:
        return modulus_silu(x)


class ComplexResBlock(nn.Module):
    """Pre-activation complex residual block with optional time conditioning:

    ``h = conv1(act(bn1(x)))``; ``h = bn2(h) · (1 + s) + c`` with a real per-channel scale ``s`` and a complex
    per-channel shift ``c`` from the embedding (FiLM, as ``use_scale_shift_norm`` in Nichol & Dhariwal 2021);
    ``out = skip(x) + conv2(act(h))``. ``skip`` is a 1x1 complex convolution when the width changes. ``conv2``
    starts at zero, so the block starts as the identity (Goyal et al. 2017). Each norm-FiLM-activation chain is
    one fused ``complex_norm_act`` call (:meth:`ComplexBatchNorm2d.norm_act`).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, emb_dim: int | None = None,
                 kernel_size: int = 3):
        super().__init__()
        out_channels = out_channels or in_channels
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd (same-size convolutions), got {kernel_size}")
        pad = kernel_size // 2
        self.out_channels = out_channels
        self.bn1 = ComplexBatchNorm2d(in_channels)
        self.conv1 = ComplexConv2d(in_channels, out_channels, kernel_size, padding=pad)
        self.bn2 = ComplexBatchNorm2d(out_channels)
        self.conv2 = ComplexConv2d(out_channels, out_channels, kernel_size, padding=pad)
        self.emb = nn.Linear(emb_dim, 3 * out_channels) if emb_dim is not None else None
        self.skip = ComplexConv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        for p in (self.conv2.weight_re, self.conv2.weight_im, self.conv2.bias_re, self.conv2.bias_im):
            nn.init.zeros_(p)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        h = self.conv1(self.bn1.norm_act(x))
        film = None
        if self.emb is not None:
            if emb is None:
                raise ValueError("this ComplexResBlock is time-conditioned (emb_dim is set): pass emb [B, emb_dim]")
            film = self.emb(F.silu(emb)).to(h.dtype)
        h = self.conv2(self.bn2.norm_act(h, film))
        return (x if self.skip is None else self.skip(x)) + h
