"""Argument handling shared by ``complex_conv2d`` and ``complex_conv_transpose2d`` (split layout)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from specdiff.ops._checks import check_image, check_same_device

IntPair = int | Sequence[int]


def pair(value: IntPair, name: str) -> list[int]:
    """``value`` as ``[a, b]``: an int is repeated, a sequence must have two ints."""
    items = [value, value] if isinstance(value, int) else list(value) if isinstance(value, Sequence) else None
    if (
        items is None
        or len(items) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in items)
    ):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return items


def weight_layout(transposed: bool) -> str:
    return "[Cin, Cout/groups, kh, kw]" if transposed else "[Cout, Cin/groups, kh, kw]"


def out_channels(weight_re: torch.Tensor, groups: int, transposed: bool) -> int:
    return weight_re.shape[1] * groups if transposed else weight_re.shape[0]


def output_shape(
    x: torch.Tensor,
    weight_re: torch.Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    output_padding: Sequence[int],
    groups: int,
    transposed: bool,
) -> list:
    """``[B, 2*Cout, H', W']`` with torch's conv2d / conv_transpose2d size formulas (works on SymInts)."""
    shape = [x.shape[0], 2 * out_channels(weight_re, groups, transposed)]
    for d in range(2):
        size, span = x.shape[d + 2], dilation[d] * (weight_re.shape[d + 2] - 1) + 1
        if transposed:
            shape.append((size - 1) * stride[d] - 2 * padding[d] + span + output_padding[d])
        else:
            shape.append((size + 2 * padding[d] - span) // stride[d] + 1)
    return shape


def io_memory_format(x: torch.Tensor) -> torch.memory_format:
    """Layout of the kernel's output and grad_x: channels_last when x is, else contiguous (as in the C++)."""
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def _check_weight(t: object, name: str, x: torch.Tensor, transposed: bool) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    check_same_device(x, "x", t, name)
    if t.dim() != 4:
        raise ValueError(
            f"{name} must be a 4-D tensor {weight_layout(transposed)}, got shape {tuple(t.shape)}"
        )
    if t.dtype != x.dtype:
        raise TypeError(f"{name} must have x's dtype {x.dtype}, got {t.dtype}")


def _check_bias(t: object, name: str, x: torch.Tensor, cout: int) -> None:
    if t is None:
        return
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(t).__name__}")
    check_same_device(x, "x", t, name)
    if t.dim() != 1 or t.shape[0] != cout:
        raise ValueError(f"{name} must be a 1-D tensor [Cout] = [{cout}], got shape {tuple(t.shape)}")
    if t.dtype != x.dtype:
        raise TypeError(f"{name} must have x's dtype {x.dtype}, got {t.dtype}")


def check_complex_conv(
    x: torch.Tensor,
    weight_re: torch.Tensor,
    weight_im: torch.Tensor,
    bias_re: torch.Tensor | None,
    bias_im: torch.Tensor | None,
    stride: list[int],
    padding: list[int],
    dilation: list[int],
    output_padding: list[int],
    groups: int,
    transposed: bool,
) -> None:
    """One-line errors naming the argument and what it must be; the C++ kernels check the same."""
    check_image(x, empty_batch=True)
    if x.shape[1] % 2:
        raise ValueError(
            "x must have an even channel count on the split layout [B, 2*Cin, H, W] (real half first), "
            f"got {x.shape[1]} channels"
        )
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups must be a positive integer, got {groups!r}")
    for name, values, low in (("stride", stride, 1), ("dilation", dilation, 1), ("padding", padding, 0)):
        if min(values) < low:
            raise ValueError(f"{name} must be {'positive' if low else 'non-negative'}, got {values}")
    for op, s, d in zip(output_padding, stride, dilation, strict=True):
        if op < 0 or (op >= s and op >= d):
            raise ValueError(
                "output_padding must be non-negative and smaller than stride or dilation, "
                f"got {output_padding}"
            )
    _check_weight(weight_re, "weight_re", x, transposed)
    _check_weight(weight_im, "weight_im", x, transposed)
    if weight_im.shape != weight_re.shape:
        raise ValueError(
            f"weight_im must have weight_re's shape {tuple(weight_re.shape)}, got {tuple(weight_im.shape)}"
        )
    if weight_re.shape[2] < 1 or weight_re.shape[3] < 1:
        raise ValueError(f"weight_re must have kernel sizes kh, kw >= 1, got shape {tuple(weight_re.shape)}")
    cin = x.shape[1] // 2
    if cin % groups:
        raise ValueError(
            f"groups={groups} must divide the complex input channels Cin={cin} of x [B, 2*Cin, H, W]"
        )
    if transposed:
        if weight_re.shape[0] != cin:
            raise ValueError(
                f"weight_re must be [Cin, Cout/groups, kh, kw] with Cin={cin} "
                f"(x has 2*Cin={x.shape[1]} channels), "
                f"got shape {tuple(weight_re.shape)}"
            )
    else:
        if weight_re.shape[0] % groups:
            raise ValueError(
                f"groups={groups} must divide the output channels Cout=weight_re.size(0)={weight_re.shape[0]}"
            )
        if weight_re.shape[1] * groups != cin:
            raise ValueError(
                f"weight_re must be [Cout, Cin/groups, kh, kw] with Cin/groups={cin // groups} "
                f"(x has 2*Cin={x.shape[1]} channels, groups={groups}), got shape {tuple(weight_re.shape)}"
            )
    cout = out_channels(weight_re, groups, transposed)
    if cout == 0:
        raise ValueError(
            f"weight_re {weight_layout(transposed)} gives no output channels, got shape {tuple(weight_re.shape)}"
        )
    _check_bias(bias_re, "bias_re", x, cout)
    _check_bias(bias_im, "bias_im", x, cout)
    shape = output_shape(x, weight_re, stride, padding, dilation, output_padding, groups, transposed)
    if shape[2] < 1 or shape[3] < 1:
        raise ValueError(
            f"x of spatial size {list(x.shape[2:])} gives an empty output {shape[2:]} with weight_re "
            f"{tuple(weight_re.shape)}, padding {padding} and dilation {dilation}"
        )
