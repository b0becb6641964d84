"""Frequency-domain building blocks of the spectral models: the half-spectrum frame, frequency patches,
frequency mixing and the SpectralUNet block, the amplitude residual branch (ARE) and phase mixing (PCM)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specdiff.nn.complex import (
    ComplexBatchNorm2d,
    ComplexConv2d,
    ComplexConvTranspose2d,
    complex_modulus,
    complex_mul,
    complex_parts,
    from_split,
    to_split,
)
from specdiff.ops.band import band_mask_reference
from specdiff.ops.spectral_filter2d import spectral_filter2d

# Softening of |z| where a phase z/|z| is taken: bounds the gradient by 1/PHASE_EPS near z = 0. Half spectra
# of [-1, 1] images (norm="ortho") have moduli of order 1 and more, so it does not bias them.
PHASE_EPS = 1e-3


def to_half_spectrum(x: Tensor) -> Tensor:
    """``rfft2(x, norm="ortho")`` of ``Tensor[B, C, H, W]`` with the rows in ``fftshift`` order (fy from -1/2 up,
    so the low frequencies are contiguous for convolutions), as the split layout ``Tensor[B, 2C, H, W//2+1]``."""
    return to_split(torch.fft.fftshift(torch.fft.rfft2(x, norm="ortho"), dim=-2))


def from_half_spectrum(spec: Tensor, size: tuple[int, int]) -> Tensor:
    """Inverse of :func:`to_half_spectrum`: split layout ``[B, 2C, H, W//2+1]`` -> real ``[B, C, H, W]``."""
    return torch.fft.irfft2(torch.fft.ifftshift(from_split(spec), dim=-2), s=size, norm="ortho")


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Zero-pads the last two dims of ``x`` (bottom, right) up to multiples of ``multiple``."""
    ph, pw = -x.shape[-2] % multiple, -x.shape[-1] % multiple
    return F.pad(x, (0, pw, 0, ph)) if ph or pw else x


def soft_phase(x: Tensor) -> Tensor:
    """``z / sqrt(|z|² + PHASE_EPS²)`` on the split layout: the unit phasor of z, bounded and smooth at 0."""
    b, c2, h, w = x.shape
    v = x.reshape(b, 2, c2 // 2, h, w)
    return (v * torch.rsqrt(v.square().sum(dim=1, keepdim=True) + PHASE_EPS**2)).reshape(b, c2, h, w)


class FrequencyPatchEmbed(nn.Module):
    """Complex layer into the working grid: ``patch_size x patch_size`` blocks of frequency bins become one
    position (a complex convolution with kernel = stride = ``patch_size``; 3x3 same-size when it is 1)."""

    def __init__(self, in_channels: int, out_channels: int, patch_size: int):
        super().__init__()
        if patch_size == 1:
            self.conv = ComplexConv2d(in_channels, out_channels, 3, padding=1)
        else:
            self.conv = ComplexConv2d(in_channels, out_channels, patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class FrequencyPatchHead(nn.Module):
    """Complex layer out of the working grid (norm, modulus SiLU, then the transpose of the patch embedding)."""

    def __init__(self, in_channels: int, out_channels: int, patch_size: int):
        super().__init__()
        self.norm = ComplexBatchNorm2d(in_channels)
        if patch_size == 1:
            self.conv = ComplexConv2d(in_channels, out_channels, 3, padding=1)
        else:
            self.conv = ComplexConvTranspose2d(in_channels, out_channels, patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.norm.norm_act(x))


class AmplitudeResidual(nn.Module):
    """ARE: a real convolutional branch on the input amplitude ``|X|`` whose output δ is added to the output
    magnitude, keeping the output phase: ``Y + δ · Y / sqrt(|Y|² + ε²)`` (``|Y| + δ`` where ``|Y| >> ε``).

    The branch sees ``log1p|X|`` (spectra span decades), is conditioned on the time embedding, and its last
    convolution starts at zero (δ = 0 at initialisation).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int, emb_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.emb = nn.Linear(emb_dim, hidden)
        self.conv2 = nn.Conv2d(hidden, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, y: Tensor, x_spec: Tensor, emb: Tensor) -> Tensor:
        """``y``: output spectrum, split ``[B, 2*out, H, Wf]``; ``x_spec``: input spectrum ``[B, 2*in, H, Wf]``."""
        h = self.conv1(torch.log1p(complex_modulus(x_spec))) + self.emb(F.silu(emb))[:, :, None, None]
        delta = self.conv2(F.silu(h))
        b, c2, hh, ww = y.shape
        return y + (soft_phase(y).reshape(b, 2, c2 // 2, hh, ww) * delta.unsqueeze(1)).reshape(b, c2, hh, ww)


class FrequencyMixing(nn.Module):
    """Mixes every complex channel across all frequencies of the grid in ``O(N log N)``: a circular convolution
    over the frequency grid with an isotropic kernel whose transform is the band-pass ``W(rho)`` of
    :mod:`specdiff.ops.band` (rho of the grid's true FFT frequencies), one band per channel (``inner``,
    ``outer``, ``gain``), run as ONE fused :func:`~specdiff.ops.spectral_filter2d` call over the grid's planes.

    ``gain`` starts at zero (no mixing); the outer radii start spread over (0, 1], a range of kernel widths.
    The layer is residual, ``z + mix(z)``, computed as ONE filter by ``1 + W`` (the filter is linear), so the sum
    costs no extra pass forward or backward.
    """

    def __init__(self, channels: int, temperature: float = 10.0):
        super().__init__()
        self.temperature = temperature
        self.inner = nn.Parameter(torch.full((channels,), -0.5))
        self.outer = nn.Parameter(torch.linspace(1.0 / channels, 1.0, channels))
        self.gain = nn.Parameter(torch.zeros(channels))

    def forward(self, z: Tensor) -> Tensor:
        h, w = z.shape[-2:]
        params = (p.to(z.dtype) for p in (self.inner, self.outer, self.gain))
        band = band_mask_reference(h, w, *params, self.temperature, "bandpass").squeeze(1)  # [C, h, w//2+1]
        return spectral_filter2d(z, 1 + torch.cat([band, band]))  # z + mix(z)


class SpectralMixBlock(nn.Module):
    """The SpectralUNet block: channel mixing by 1x1 complex convolutions at each frequency, frequency mixing
    by :class:`FrequencyMixing`, time conditioning by FiLM (real scale, complex shift), pre-activation:

    ``h = conv_a(act(bn1(x)))``; ``h = h + mix(h)`` (one filter); ``h = bn2(h) · (1 + s) + c``;
    ``out = x + conv_b(act(h))``; each norm-FiLM-activation chain is one fused ``complex_norm_act`` call
    (:meth:`ComplexBatchNorm2d.norm_act`).
    ``conv_b`` starts at zero (the block starts as the identity).
    """

    def __init__(self, channels: int, emb_dim: int):
        super().__init__()
        self.channels = channels
        self.bn1 = ComplexBatchNorm2d(channels)
        self.conv_a = ComplexConv2d(channels, channels, 1)
        self.mix = FrequencyMixing(channels)
        self.bn2 = ComplexBatchNorm2d(channels)
        self.emb = nn.Linear(emb_dim, 3 * channels)
        self.conv_b = ComplexConv2d(channels, channels, 1)
        for p in (self.conv_b.weight_re, self.conv_b.weight_im, self.conv_b.bias_re, self.conv_b.bias_im):
            nn.init.zeros_(p)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv_a(self.bn1.norm_act(x))
        h = self.mix(h)  # h + frequency mixing of h
        return x + self.conv_b(self.bn2.norm_act(h, self.emb(F.silu(emb)).to(h.dtype)))


class PhaseMixing(nn.Module):
    """PCM: mixes phases across frequencies at a cost linear in the number of frequencies.

    With the unit phasors ``u = z / |z|``, a local term (a 3x3 complex convolution of u over neighbouring
    frequencies) and a global term (a 1x1 complex map of the mean phasor over all frequencies) give
    ``m``; each ``z`` is rotated by the phase of ``1 + m`` (its modulus is kept). Both maps start at zero, so
    the layer starts as the identity. No all-pairs (``O((HW)²)``) attention.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.local = ComplexConv2d(channels, channels, 3, padding=1, bias=False)
        self.globl = ComplexConv2d(channels, channels, 1, bias=False)
        for p in self.parameters():
            nn.init.zeros_(p)

    def forward(self, z: Tensor) -> Tensor:
        u = soft_phase(z)
        m = self.local(u) + self.globl(u.mean(dim=(-2, -1), keepdim=True))
        re, im = complex_parts(m)
        rot = soft_phase(torch.cat([re + 1, im], dim=1))
        return complex_mul(z, rot)


__all__ = [
    "AmplitudeResidual",
    "FrequencyMixing",
    "SpectralMixBlock",
    "FrequencyPatchEmbed",
    "FrequencyPatchHead",
    "PhaseMixing",
    "from_half_spectrum",
    "pad_to_multiple",
    "soft_phase",
    "to_half_spectrum",
]
