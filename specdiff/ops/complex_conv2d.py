"""``complex_conv2d``: complex 2-D convolution on the split layout ``[B, 2C, H, W]`` as one fused op.

The CPU kernel runs one of four algorithms instead of the four real convolutions of
:func:`complex_conv2d_reference` (csrc/cpu/complex_conv_algorithms.h, one file each): ONE real convolution with
the block weight ``[[Wr, -Wi], [Wi, Wr]]``, Gauss's three products as three convolutions, Winograd's F(4x4, 3x3)
with Gauss's products for 3x3 stride-1 convolutions, or per-sample BLAS GEMMs for pointwise ones.
``choose_algorithm`` (csrc/cpu/complex_conv.cpp) picks per shape; ``torch.ops.specdiff._complex_conv_choice`` says
which, and ``torch.ops.specdiff._complex_conv_algorithm`` forces one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from specdiff import extension
from specdiff.ops._checks import float32_under_autocast
from specdiff.ops._complex_conv import IntPair, check_complex_conv, io_memory_format, output_shape, pair


def complex_conv2d_reference(
    x: torch.Tensor,
    weight_re: torch.Tensor,
    weight_im: torch.Tensor,
    bias_re: torch.Tensor | None = None,
    bias_im: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Pure-PyTorch specification of :func:`complex_conv2d`: four real convolutions."""
    cin = x.shape[1] // 2
    xr, xi = x[:, :cin], x[:, cin:]

    def conv(inp: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        return F.conv2d(inp, weight, bias, stride, padding, dilation, groups)

    real = conv(xr, weight_re, bias_re) - conv(xi, weight_im)
    imag = conv(xr, weight_im, bias_im) + conv(xi, weight_re)
    return torch.cat([real, imag], dim=1)


@float32_under_autocast()
def complex_conv2d(
    x: torch.Tensor,
    weight_re: torch.Tensor,
    weight_im: torch.Tensor,
    bias_re: torch.Tensor | None = None,
    bias_im: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Complex convolution ``(Wr + i Wi) * (xr + i xi) + (br + i bi)`` on the split layout.

    ``out_re = conv(xr, Wr) - conv(xi, Wi) + br`` and ``out_im = conv(xr, Wi) + conv(xi, Wr) + bi``, with
    ``conv`` = ``F.conv2d(., ., stride=stride, padding=padding, dilation=dilation, groups=groups)``.

    Args:
        x: ``Tensor[B, 2*Cin, H, W]`` float32/float64, channels ``[0, Cin)`` real parts and ``[Cin, 2*Cin)``
            imaginary parts; any memory layout.
        weight_re, weight_im: ``Tensor[Cout, Cin/groups, kh, kw]`` with x's dtype.
        bias_re, bias_im: optional ``Tensor[Cout]`` (a missing one counts as zeros).
        stride, padding, dilation: int or pair of ints, as for ``F.conv2d``.
        groups: positive, divides Cin and Cout; complex group ``k`` maps the complex input channels
            ``[k*Cin/groups, (k+1)*Cin/groups)`` to the complex output channels
            ``[k*Cout/groups, (k+1)*Cout/groups)``.

    Returns:
        ``Tensor[B, 2*Cout, H', W']`` (real half first) with x's dtype; channels_last when x is.
        Differentiable in x, the weights and the biases.
    """
    stride, padding, dilation = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    check_complex_conv(
        x, weight_re, weight_im, bias_re, bias_im, stride, padding, dilation, [0, 0], groups, False
    )
    if extension.use_kernel("complex_conv2d", x.device):
        return torch.ops.specdiff.complex_conv2d(
            x, weight_re, weight_im, bias_re, bias_im, stride, padding, dilation, groups
        )
    with extension.reference_scope("complex_conv2d"):
        return complex_conv2d_reference(
            x, weight_re, weight_im, bias_re, bias_im, stride, padding, dilation, groups
        )


if extension.is_loaded():

    @torch.library.register_fake("specdiff::complex_conv2d")
    def _(x, weight_re, weight_im, bias_re, bias_im, stride, padding, dilation, groups):
        shape = output_shape(x, weight_re, stride, padding, dilation, [0, 0], groups, False)
        return torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=io_memory_format(x))

    @torch.library.register_fake("specdiff::_complex_conv2d_backward")
    def _(grad, x, weight_re, weight_im, stride, padding, dilation, groups, output_mask):
        cout = weight_re.shape[0]
        return (
            torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=io_memory_format(x)),
            weight_re.new_empty(weight_re.shape),
            weight_re.new_empty(weight_re.shape),
            x.new_empty(cout),
            x.new_empty(cout),
        )

    def _setup_context(ctx, inputs, output):
        x, weight_re, weight_im, _, _, stride, padding, dilation, groups = inputs
        ctx.save_for_backward(x, weight_re, weight_im)
        ctx.params = (stride, padding, dilation, groups)

    def _backward(ctx, grad):
        x, weight_re, weight_im = ctx.saved_tensors
        need = ctx.needs_input_grad
        mask = [need[0], need[1] or need[2], need[3] or need[4]]
        grads = torch.ops.specdiff._complex_conv2d_backward(grad, x, weight_re, weight_im, *ctx.params, mask)
        return (*(g if n else None for g, n in zip(grads, need[:5], strict=True)), None, None, None, None)

    torch.library.register_autograd("specdiff::complex_conv2d", _backward, setup_context=_setup_context)
