"""``spectral_conv2d``: a convolution computed in frequency, its per-bin channel mixing drawn from K learned global
bases, as one fused op.

At every frequency bin f of the transform grid the op mixes the channels by ``M(f) = sum_j basis_j(f) taps_j``: K
frequency responses shared by every channel pair (the bases) with a real ``C_out x C_in`` matrix each (the taps).
With the nine bases the responses of a 3x3 kernel's unit shifts, it is that 3x3 convolution (zero-padded when the
grid is at least one pixel larger than the image); learned, the bases can grow a global receptive field while every
output channel still mixes the input channels differently at each of them (FNO's spectral convolution with its
per-bin matrices confined to K bases).

The CPU kernel transforms each input plane once, applies the mixing to all samples of a bin at once (one complex
GEMM per bin, the bin's matrix built in the thread's cache from the bases and taps) and transforms each output plane
once: C_in + C_out transforms where K filters per channel followed by a 1x1 convolution would take C_in + K C_in.
"""

from __future__ import annotations

import torch

from specdiff import extension
from specdiff.ops._checks import check_image, check_same_device, check_tensor, float32_under_autocast, in_float32
from specdiff.ops.spectral_filter2d import check_grid


def spectral_conv2d_reference(x: torch.Tensor, basis: torch.Tensor, taps: torch.Tensor,
                              s: tuple[int, int] | None = None) -> torch.Tensor:
    """Pure-PyTorch specification of :func:`spectral_conv2d`."""
    height, width = x.shape[-2:]
    grid = (height, width) if s is None else tuple(s)
    mixing = torch.einsum("jhw,joc->ochw", basis, taps.to(basis.dtype))
    spectrum = torch.einsum("bchw,ochw->bohw", torch.fft.rfft2(x, s=grid, norm="ortho"), mixing)
    y = torch.fft.irfft2(spectrum, s=grid, norm="ortho")
    return y if grid == (height, width) else y[..., :height, :width]


def _check(x: torch.Tensor, basis: torch.Tensor, taps: torch.Tensor, grid: tuple[int, int] | None) -> None:
    check_tensor(basis, "basis")
    check_tensor(taps, "taps")
    check_same_device(x, "x", basis, "basis")
    check_same_device(x, "x", taps, "taps")
    real = torch.float32 if x.dtype != torch.float64 else torch.float64
    complex_ = torch.complex64 if real == torch.float32 else torch.complex128
    if basis.dtype != complex_:
        raise TypeError(f"basis must be {complex_} to match x, got {basis.dtype}")
    if taps.dtype != real:
        raise TypeError(f"taps must be {real} to match x, got {taps.dtype}")
    h, w = grid or tuple(x.shape[-2:])
    if basis.dim() != 3 or basis.shape[0] < 1 or tuple(basis.shape[1:]) != (h, w // 2 + 1):
        raise ValueError(f"basis must be [K, H, W//2+1] = [K, {h}, {w // 2 + 1}] (K >= 1, the half spectrum of the "
                         f"transform grid), got shape {tuple(basis.shape)}")
    k, c_in = basis.shape[0], x.shape[1]
    if taps.dim() != 3 or taps.shape[0] != k or taps.shape[1] < 1 or taps.shape[2] != c_in:
        raise ValueError(f"taps must be [K, C_out, C_in] = [{k}, C_out, {c_in}] (K of basis, C_in of x, C_out >= 1), "
                         f"got shape {tuple(taps.shape)}")


@float32_under_autocast()
def spectral_conv2d(x: torch.Tensor, basis: torch.Tensor, taps: torch.Tensor,
                    s: tuple[int, int] | None = None) -> torch.Tensor:
    """A convolution computed in frequency with K global bases.

    ``y[:, o] = irfft2(sum_c M[o, c] * rfft2(x[:, c], s, norm="ortho"), s, norm="ortho")[..., :H, :W]`` with
    ``M[o, c] = sum_j basis[j] * taps[j, o, c]``.

    With the default ``s = (H, W)`` every channel pair is a circular convolution; a larger transform size zero-pads x
    at the end and crops the result back inside the fused op (with ``s = (H + q, W + q)``, the linear convolution by
    every kernel whose taps lie within ``q`` pixels of the origin).

    Args:
        x: ``Tensor[B, C_in, H, W]`` float32/float64, every size >= 1, any memory layout.
        basis: ``Tensor[K, s[0], s[1]//2+1]`` complex (x's complex counterpart), the K bases' half spectra on the
            transform grid.
        taps: ``Tensor[K, C_out, C_in]`` of x's dtype, each basis' channel mixing.
        s: the transform size, two ints at least ``(H, W)``, like ``torch.fft.rfft2``'s ``s``; default ``(H, W)``.

    Returns:
        ``Tensor[B, C_out, H, W]`` (contiguous) with x's dtype, differentiable in x, basis and taps.
    """
    check_image(x)
    grid = check_grid(x, s)
    _check(x, basis, taps, grid)
    if extension.use_kernel("spectral_conv2d", x.device):
        return torch.ops.specdiff.spectral_conv2d(x, basis, taps, grid)
    with extension.reference_scope("spectral_conv2d"):
        return in_float32(spectral_conv2d_reference, x, basis, taps, grid)


if extension.is_loaded():

    @torch.library.register_fake("specdiff::spectral_conv2d")
    def _(x, basis, taps, s=None):
        return x.new_empty(x.shape[0], taps.shape[1], x.shape[2], x.shape[3])

    @torch.library.register_fake("specdiff::_spectral_conv2d_backward")
    def _(grad, x, basis, taps, output_mask, s=None):
        return x.new_empty(x.shape), basis.new_empty(basis.shape), taps.new_empty(taps.shape)

    @torch.library.register_fake("specdiff::_spectral_conv2d_saving")
    def _(x, basis, taps, s=None):
        b, c_in, h, w = x.shape
        grid_h, grid_w = (h, w) if s is None else s
        return x.new_empty(b, taps.shape[1], h, w), x.new_empty(grid_h, grid_w // 2 + 1, b, 2, c_in)

    @torch.library.register_fake("specdiff::_spectral_conv2d_backward_saved")
    def _(grad, spectra, basis, taps, output_mask, s=None):
        b, _, h, w = grad.shape
        return grad.new_empty(b, taps.shape[2], h, w), basis.new_empty(basis.shape), taps.new_empty(taps.shape)
