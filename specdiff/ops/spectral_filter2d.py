"""``spectral_filter2d``: the FFT-adapter round trip ``irfft2(rfft2(x) · weight)`` as one fused op."""

from __future__ import annotations

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


def spectral_filter2d_reference(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Pure-PyTorch specification of :func:`spectral_filter2d`."""
    height, width = x.shape[-2:]
    return torch.fft.irfft2(torch.fft.rfft2(x, norm="ortho") * weight, s=(height, width), norm="ortho")


def check_filter_weight(x: torch.Tensor, weight: torch.Tensor) -> None:
    """``weight`` must be x's real dtype or its complex counterpart, broadcastable to the half spectrum."""
    check_tensor(weight, "weight")
    check_same_device(x, "x", weight, "weight")
    if x.dtype in REDUCED_DTYPES:
        allowed = (x.dtype, torch.float32, torch.complex64)
    else:
        allowed = (x.dtype, torch.complex64 if x.dtype == torch.float32 else torch.complex128)
    if weight.dtype not in allowed:
        raise TypeError(f"weight must be {' or '.join(map(str, allowed))} to match x, got {weight.dtype}")
    b, c, h, w = x.shape
    check_broadcastable(weight, "weight", (b, c, h, w // 2 + 1), "[B, C, H, W//2+1]")


def _kernel_pays_off(x: torch.Tensor) -> bool:
    """Under ``SPECDIFF_BACKEND=auto``, CUDA planes without a fused kernel take the reference: the op's cuFFT
    fallback transforms x again in its backward and measured slower than the reference (README, CUDA). Which sizes
    are fused is the kernels' rule, asked of the C++."""
    if x.device.type != "cuda" or extension.backend() != "auto":
        return True
    height, width = x.shape[-2:]
    return extension.roundtrip_fused("cuda", height, width)


@float32_under_autocast()
def spectral_filter2d(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Filters each image plane in the frequency domain.

    ``y = irfft2(rfft2(x, norm="ortho") * weight, s=(H, W), norm="ortho")``.

    Args:
        x: ``Tensor[B, C, H, W]`` float32/float64, any B, C, H, W >= 1 (empty x is a ValueError) and any
            memory layout.
        weight: real (x's dtype) or complex (its complex counterpart) ``Tensor`` broadcastable to the half
            spectrum ``[B, C, H, W//2+1]``, e.g. ``[H, W//2+1]``, ``[C, H, W//2+1]``, ``[B, 1, H, W//2+1]``.

    Returns:
        ``Tensor[B, C, H, W]`` (contiguous) with x's dtype. Differentiable in x and weight.
    """
    check_image(x)
    check_filter_weight(x, weight)
    if extension.use_kernel("spectral_filter2d", x.device) and _kernel_pays_off(x):
        return torch.ops.specdiff.spectral_filter2d(x, weight)
    with extension.reference_scope("spectral_filter2d"):
        return in_float32(spectral_filter2d_reference, x, weight)


if extension.is_loaded():

    @torch.library.register_fake("specdiff::spectral_filter2d")
    def _(x, weight):
        return x.new_empty(x.shape)

    @torch.library.register_fake("specdiff::_spectral_filter2d_backward")
    def _(grad, x, weight, output_mask):
        return x.new_empty(x.shape), weight.new_empty(weight.shape)

    def _setup_context(ctx, inputs, output):
        x, weight = inputs
        ctx.save_for_backward(x, weight)

    def _backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad
        grad_x, grad_w = torch.ops.specdiff._spectral_filter2d_backward(grad, x, weight, [need_x, need_w])
        return (grad_x if need_x else None), (grad_w if need_w else None)

    torch.library.register_autograd("specdiff::spectral_filter2d", _backward, setup_context=_setup_context)
