"""``complex_conv_transpose2d``: complex 2-D transposed convolution on the split layout as one fused op.

The kernel runs ONE real transposed convolution instead of the four of
:func:`complex_conv_transpose2d_reference`: with the block weight ``[[Wr, Wi], [-Wi, Wr]]`` (rows: real and
imaginary input channels, arranged per group), or Gauss's 3-multiplication form as three transposed convolutions,
chosen as for :func:`~specdiff.ops.complex_conv2d.complex_conv2d`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from specdiff import extension
from specdiff.ops._checks import float32_under_autocast
from specdiff.ops._complex_conv import IntPair, check_complex_conv, io_memory_format, output_shape, pair


def complex_conv_transpose2d_reference(
    x: torch.Tensor,
    weight_re: torch.Tensor,
    weight_im: torch.Tensor,
    bias_re: torch.Tensor | None = None,
    bias_im: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
    groups: int = 1,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """Pure-PyTorch specification of :func:`complex_conv_transpose2d`: four real transposed convolutions."""
    cin = x.shape[1] // 2
    xr, xi = x[:, :cin], x[:, cin:]

    def conv_t(inp: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        return F.conv_transpose2d(inp, weight, bias, stride, padding, output_padding, groups, dilation)

    real = conv_t(xr, weight_re, bias_re) - conv_t(xi, weight_im)
    imag = conv_t(xr, weight_im, bias_im) + conv_t(xi, weight_re)
    return torch.cat([real, imag], dim=1)


@float32_under_autocast()
def complex_conv_transpose2d(
    x: torch.Tensor,
    weight_re: torch.Tensor,
    weight_im: torch.Tensor,
    bias_re: torch.Tensor | None = None,
    bias_im: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
    groups: int = 1,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """Complex transposed convolution ``(Wr + i Wi) *^T (xr + i xi) + (br + i bi)`` on the split layout.

    ``out_re = ct(xr, Wr) - ct(xi, Wi) + br`` and ``out_im = ct(xr, Wi) + ct(xi, Wr) + bi``, with ``ct`` =
    ``F.conv_transpose2d(., ., stride=stride, padding=padding, output_padding=output_padding, groups=groups,
    dilation=dilation)``.

    Args:
        x: ``Tensor[B, 2*Cin, H, W]`` float32/float64, real half first; any memory layout.
        weight_re, weight_im: ``Tensor[Cin, Cout/groups, kh, kw]`` with x's dtype.
        bias_re, bias_im: optional ``Tensor[Cout]`` (a missing one counts as zeros).
        stride, padding, output_padding, dilation: int or pair of ints, as for ``F.conv_transpose2d``.
        groups: positive, divides Cin; complex groups as in :func:`complex_conv2d`.

    Returns:
        ``Tensor[B, 2*Cout, H', W']`` with
        ``H' = (H-1)*stride - 2*padding + dilation*(kh-1) + output_padding + 1``, x's dtype,
        channels_last when x is. Differentiable in x, the weights and the biases.
    """
    stride, padding = pair(stride, "stride"), pair(padding, "padding")
    output_padding, dilation = pair(output_padding, "output_padding"), pair(dilation, "dilation")
    check_complex_conv(
        x, weight_re, weight_im, bias_re, bias_im, stride, padding, dilation, output_padding, groups, True
    )
    if extension.use_kernel("complex_conv_transpose2d", x.device):
        return torch.ops.specdiff.complex_conv_transpose2d(
            x, weight_re, weight_im, bias_re, bias_im, stride, padding, output_padding, groups, dilation
        )
    with extension.reference_scope("complex_conv_transpose2d"):
        return complex_conv_transpose2d_reference(
            x, weight_re, weight_im, bias_re, bias_im, stride, padding, output_padding, groups, dilation
        )


if extension.is_loaded():

    @torch.library.register_fake("specdiff::complex_conv_transpose2d")
    def _(x, weight_re, weight_im, bias_re, bias_im, stride, padding, output_padding, groups, dilation):
        shape = output_shape(x, weight_re, stride, padding, dilation, output_padding, groups, True)
        return torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=io_memory_format(x))

    @torch.library.register_fake("specdiff::_complex_conv_transpose2d_backward")
    def _(grad, x, weight_re, weight_im, stride, padding, output_padding, groups, dilation, output_mask):
        cout = weight_re.shape[1] * groups
        return (
            torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=io_memory_format(x)),
            weight_re.new_empty(weight_re.shape),
            weight_re.new_empty(weight_re.shape),
            x.new_empty(cout),
            x.new_empty(cout),
        )

    def _setup_context(ctx, inputs, output):
        x, weight_re, weight_im, _, _, stride, padding, output_padding, groups, dilation = inputs
        ctx.save_for_backward(x, weight_re, weight_im)
        ctx.params = (stride, padding, output_padding, groups, dilation)

    def _backward(ctx, grad):
        x, weight_re, weight_im = ctx.saved_tensors
        need = ctx.needs_input_grad
        mask = [need[0], need[1] or need[2], need[3] or need[4]]
        grads = torch.ops.specdiff._complex_conv_transpose2d_backward(
            grad, x, weight_re, weight_im, *ctx.params, mask
        )
        return (
            *(g if n else None for g, n in zip(grads, need[:5], strict=True)),
            None,
            None,
            None,
            None,
            None,
        )

    torch.library.register_autograd(
        "specdiff::complex_conv_transpose2d", _backward, setup_context=_setup_context
    )
