"""``spectral_filter2d``: the FFT-adapter round trip ``irfft2(rfft2(x) · weight)`` as one fused op."""

from __future__ import annotations

import operator

import torch

from specdiff import extension
from specdiff.ops._checks import (
    REDUCED_DTYPES,
    check_broadcastable,
    check_image,
    check_same_device,
    check_tensor,
    float32_under_autocast,
    in_float32,
)


def spectral_filter2d_reference(x: torch.Tensor, weight: torch.Tensor, s: tuple[int, int] | None = None
                                ) -> torch.Tensor:
    """Pure-PyTorch specification of :func:`spectral_filter2d`."""
    responses = filter_responses(x, weight)
    if responses > 1:
        x = x.repeat_interleave(responses, dim=1)
    height, width = x.shape[-2:]
    grid = (height, width) if s is None else tuple(s)
    y = torch.fft.irfft2(torch.fft.rfft2(x, s=grid, norm="ortho") * weight, s=grid, norm="ortho")
    return y if grid == (height, width) else y[..., :height, :width]


def check_grid(x: torch.Tensor, s) -> tuple[int, int] | None:
    """``s``: None (x's size) or two ints at least x's height and width; returned as a tuple."""
    if s is None:
        return None
    height, width = x.shape[-2:]
    try:
        grid = tuple(operator.index(n) for n in s)
    except TypeError:
        grid = ()
    if len(grid) != 2 or grid[0] < height or grid[1] < width:
        raise ValueError(f"s must be two ints at least x's height and width ({height}, {width}), got {s!r}")
    return grid


def filter_responses(x: torch.Tensor, weight: torch.Tensor) -> int:
    """k, the filters per channel of x: ``weight``'s channel dim (dim -3) over x's C when it is a multiple k > 1 of
    C, else 1 (one filter per channel, or one for all)."""
    channels, wchannels = x.shape[1], weight.shape[-3] if weight.dim() >= 3 else 1
    return wchannels // channels if wchannels > channels and wchannels % channels == 0 else 1


def check_filter_weight(x: torch.Tensor, weight: torch.Tensor, s: tuple[int, int] | None = None) -> None:
    """``weight`` must be x's real dtype or its complex counterpart, broadcastable to the half spectrum (of the
    transform grid ``s`` when given), or to its k-fold channels ``[B, k C, ...]``."""
    check_tensor(weight, "weight")
    check_same_device(x, "x", weight, "weight")
    if x.dtype in REDUCED_DTYPES:
        allowed = (x.dtype, torch.float32, torch.complex64)
    else:
        allowed = (x.dtype, torch.complex64 if x.dtype == torch.float32 else torch.complex128)
    if weight.dtype not in allowed:
        raise TypeError(f"weight must be {' or '.join(map(str, allowed))} to match x, got {weight.dtype}")
    b, c, h, w = x.shape
    if s is not None:
        h, w = s
    k = filter_responses(x, weight)
    try:
        check_broadcastable(weight, "weight", (b, k * c, h, w // 2 + 1),
                            f"[B, {'k ' if k > 1 else ''}C, {'H, W' if s is None else 's[0], s[1]'}//2+1]")
    except ValueError as e:
        if k > 1 or weight.dim() < 3:
            raise
        raise ValueError(f"{e}, nor has it k C channels (k filters for each of x's {c} channels)") from None


def _kernel_pays_off(x: torch.Tensor, s: tuple[int, int] | None) -> bool:
    """Under ``SPECDIFF_BACKEND=auto``, CUDA planes without a fused kernel take the reference: the op's cuFFT
    fallback transforms x again in its backward and measured slower than the reference (README, CUDA). Which sizes
    are fused is the kernels' rule, asked of the C++."""
    if x.device.type != "cuda" or extension.backend() != "auto":
        return True
    height, width = x.shape[-2:] if s is None else s
    return extension.roundtrip_fused("cuda", height, width)


@float32_under_autocast()
def spectral_filter2d(x: torch.Tensor, weight: torch.Tensor, s: tuple[int, int] | None = None) -> torch.Tensor:
    """Filters each image plane in the frequency domain.

    ``y = irfft2(rfft2(x, s, norm="ortho") * weight, s, norm="ortho")[..., :H, :W]``.

    With the default ``s = (H, W)`` this is a circular convolution. A larger transform size zero-pads x at the end
    before the transform and crops the result back, inside the fused round trip: with ``s = (H + q, W + q)`` it is
    the linear (zero-padded) convolution by every kernel whose taps lie within ``q`` pixels of the origin.

    A weight with ``k C`` channels gives every channel k filters (a depth multiplier, like a convolution with
    ``groups=C`` and ``k C`` outputs): output channel ``c k + j`` is channel c filtered by ``weight[..., c k + j, :,
    :]``, i.e. x with each channel repeated k times (``x.repeat_interleave(k, 1)``) filtered channel by channel. The
    fused CPU round trip transforms each plane of x once for all k (and its backward sums the k gradients in
    frequency).

    Args:
        x: ``Tensor[B, C, H, W]`` float32/float64, any B, C, H, W >= 1 (empty x is a ValueError) and any
            memory layout.
        weight: real (x's dtype) or complex (its complex counterpart) ``Tensor`` broadcastable to the half
            spectrum ``[B, C, H, W//2+1]``, e.g. ``[H, W//2+1]``, ``[C, H, W//2+1]``, ``[B, 1, H, W//2+1]`` (of the
            transform grid, ``[B, C, s[0], s[1]//2+1]``, when ``s`` is given), or to ``[B, k C, H, W//2+1]``.
        s: the transform size, two ints at least ``(H, W)``, like ``torch.fft.rfft2``'s ``s``; default ``(H, W)``.

    Returns:
        ``Tensor[B, k C, H, W]`` (contiguous; k = 1 unless the weight has ``k C`` channels) with x's dtype.
        Differentiable in x and weight.
    """
    check_image(x)
    grid = check_grid(x, s)
    check_filter_weight(x, weight, grid)
    if extension.use_kernel("spectral_filter2d", x.device) and _kernel_pays_off(x, grid):
        return torch.ops.specdiff.spectral_filter2d(x, weight, grid)
    with extension.reference_scope("spectral_filter2d"):
        return in_float32(spectral_filter2d_reference, x, weight, grid)


if extension.is_loaded():

    @torch.library.register_fake("specdiff::spectral_filter2d")
    def _(x, weight, s=None):
        b, c, h, w = x.shape
        return x.new_empty(b, c * filter_responses(x, weight), h, w)

    @torch.library.register_fake("specdiff::_spectral_filter2d_backward")
    def _(grad, x, weight, output_mask, s=None):
        return x.new_empty(x.shape), weight.new_empty(weight.shape)

    @torch.library.register_fake("specdiff::_spectral_filter2d_saving")
    def _(x, weight, s=None):
        b, c, h, w = x.shape
        grid_h, grid_w = (h, w) if s is None else s
        return x.new_empty(b, c, h, w), x.new_empty(b, c, 2, grid_w // 2 + 1, grid_h)

    @torch.library.register_fake("specdiff::_spectral_filter2d_backward_saved")
    def _(grad, spectra, weight, output_mask, s=None):
        return grad.new_empty(grad.shape), weight.new_empty(weight.shape)
