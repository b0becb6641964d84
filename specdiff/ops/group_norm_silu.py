"""``group_norm_silu``: ``silu(group_norm(x))`` as one fused op, the pre-activation of every residual block.

The CPU kernel works one (sample, group) at a time, so the group's planes stay in cache between the statistics
and the apply pass, and between the backward's sums and gradient passes; the composition of ATen's ``group_norm``
and ``silu`` writes the normalized tensor and reads it back, forward and backward.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from specdiff import extension
from specdiff.ops._checks import check_channel_vectors, check_image, float32_under_autocast


def group_norm_silu_reference(
    x: torch.Tensor, num_groups: int, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Pure-PyTorch specification of :func:`group_norm_silu`."""
    return F.silu(F.group_norm(x, num_groups, weight, bias, eps))


def _check(x, num_groups, weight, bias, eps) -> None:
    check_image(x)
    c = x.shape[1]
    if not isinstance(num_groups, int) or isinstance(num_groups, bool) or num_groups < 1 or c % num_groups:
        raise ValueError(f"num_groups must be a positive divisor of the channel count {c}, got {num_groups!r}")
    per_group, h, w = c // num_groups, *x.shape[-2:]
    if per_group * h * w == 1:
        raise ValueError(f"a group needs more than 1 value, got 1 ({per_group} channel x {h} x {w}); "
                         "use fewer groups or larger images")
    check_channel_vectors(x, "[C]", c, weight=weight, bias=bias)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")


@float32_under_autocast()
def group_norm_silu(
    x: torch.Tensor, num_groups: int, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """``F.silu(F.group_norm(x, num_groups, weight, bias, eps))``, fused.

    Args:
        x: ``Tensor[B, C, H, W]`` float32/float64, every size >= 1 (empty x: ValueError), any memory layout;
            a group must hold more than one value (C / num_groups * H * W > 1), as ``F.group_norm`` requires.
        num_groups: a positive divisor of C; each group is C / num_groups consecutive channels, normalized over
            its channels and pixels per sample with the biased variance, as ``F.group_norm``.
        weight, bias: ``Tensor[C]`` of x's dtype, the per-channel affine map (None: 1 and 0).

    Returns ``Tensor[B, C, H, W]``, differentiable in x, weight and bias.
    """
    _check(x, num_groups, weight, bias, eps)
    if not extension.use_kernel("group_norm_silu", x.device):
        with extension.reference_scope("group_norm_silu"):
            return group_norm_silu_reference(x, num_groups, weight, bias, eps)
    c = x.shape[1]
    weight = weight if weight is not None else x.new_ones(c)
    bias = bias if bias is not None else x.new_zeros(c)
    y, _, _ = torch.ops.specdiff.group_norm_silu(x, weight, bias, num_groups, float(eps))
    return y


if extension.is_loaded():

    @torch.library.register_fake("specdiff::group_norm_silu")
    def _(x, weight, bias, groups, eps):
        stats = (x.shape[0], groups)
        return x.new_empty(x.shape), x.new_empty(stats), x.new_empty(stats)

    @torch.library.register_fake("specdiff::_group_norm_silu_backward")
    def _(grad, x, weight, bias, mean, rstd, groups, output_mask):
        return (x.new_empty(x.shape), weight.new_empty(weight.shape),
                bias.new_empty(bias.shape))
