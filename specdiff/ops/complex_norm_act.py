"""``complex_norm_act``: batch norm (per-component statistics), optional FiLM and modulus SiLU on the split layout
``[B, 2C, H, W]`` as one fused op.

The reference composes the three as the models did before the op existed: ``F.batch_norm`` over the 2C real
channels, :func:`complex_film` (a real scale and a complex shift per sample and complex channel) and
:func:`modulus_silu` (with its hand-written backward). The CPU kernel folds norm and FiLM into one affine map per
(sample, part) and works one complex channel at a time, so its planes stay in cache between the statistics and the
apply pass (and between the backward's sums and gradient passes).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from specdiff import extension
from specdiff.ops._checks import check_channel_vectors, check_image, check_same_device, float32_under_autocast


class _ModulusSiLU(torch.autograd.Function):
    """``z · σ(|z|)`` with a hand-written backward: 3 passes forward and 7 backward instead of autograd's ~15.

    With ``s = σ(r)``, ``r = |z|``: ``∂L/∂z = s · g + z · s (1 - s) / r · Re(conj(z) g)``; the second term is
    0 where ``r = 0`` (``Re(conj(z) g) = 0`` there), so ``r`` is clamped to the smallest normal number.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        b, c2, h, w = x.shape
        v = x.reshape(b, 2, c2 // 2, h, w)
        r = torch.hypot(v[:, 0], v[:, 1]).unsqueeze(1)
        s = torch.sigmoid(r)
        ctx.save_for_backward(x, r, s)
        return (v * s).reshape(b, c2, h, w)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        x, r, s = ctx.saved_tensors
        b, c2, h, w = x.shape
        v, g = x.reshape(b, 2, c2 // 2, h, w), grad.reshape(b, 2, c2 // 2, h, w)
        dot = torch.addcmul(v[:, 0] * g[:, 0], v[:, 1], g[:, 1]).unsqueeze(1)  # Re(conj(z) g)
        k = dot * (s * (1 - s) / r.clamp_min(torch.finfo(r.dtype).tiny))
        return torch.addcmul(g * s, v, k).reshape(b, c2, h, w)


def modulus_silu(x: torch.Tensor) -> torch.Tensor:
    """Modulus SiLU ``z · σ(|z|)`` of a split-layout tensor: rescales the modulus, keeps the phase; exact at 0."""
    return _ModulusSiLU.apply(x)


def complex_film(x: torch.Tensor, film: torch.Tensor) -> torch.Tensor:
    """``z · (1 + s) + c`` in one pass: ``film`` is ``Tensor[B, 3C]`` = real scales ``s`` (one per complex channel,
    both halves alike, so the phase is kept), then the complex shifts ``c`` (real parts, imaginary parts)."""
    b, c2, h, w = x.shape
    c = c2 // 2
    scale = film[:, :c].reshape(b, 1, c, 1, 1)
    shift = film[:, c:].reshape(b, 2, c, 1, 1)
    return torch.addcmul(shift, x.reshape(b, 2, c, h, w), 1 + scale).reshape(b, c2, h, w)


def complex_norm_act_reference(
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    film: torch.Tensor | None,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
) -> torch.Tensor:
    """Pure-PyTorch specification of :func:`complex_norm_act` (updates the running statistics as F.batch_norm)."""
    h = F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
    return modulus_silu(complex_film(h, film) if film is not None else h)


def _check(x, weight, bias, film, running_mean, running_var, training, momentum, eps) -> None:
    check_image(x)
    if x.shape[1] % 2:
        raise ValueError(
            f"x must have an even channel count on the split layout [B, 2C, H, W] (real half first), got {x.shape[1]}"
        )
    c2 = x.shape[1]
    check_channel_vectors(x, "[2C]", c2, weight=weight, bias=bias, running_mean=running_mean, running_var=running_var)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must be given together or both be None")
    if film is not None:
        if not isinstance(film, torch.Tensor) or film.shape != (x.shape[0], c2 // 2 * 3):
            got = tuple(film.shape) if isinstance(film, torch.Tensor) else type(film).__name__
            raise ValueError(f"film must be a tensor [B, 3C] = [{x.shape[0]}, {c2 // 2 * 3}] or None, got {got}")
        check_same_device(x, "x", film, "film")
        if film.dtype != x.dtype:
            raise TypeError(f"film must have x's dtype {x.dtype}, got {film.dtype}")
    if not _is_number(eps) or not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if training and running_mean is not None:
        if not _is_number(momentum) or not math.isfinite(momentum):
            raise ValueError(f"momentum must be a finite number to update the running statistics, got {momentum!r}")
        for name, t in (("running_mean", running_mean), ("running_var", running_var)):
            # An in-place update of an expanded (stride-0) tensor would write one element for many channels.
            if t.stride(0) == 0:
                raise ValueError(
                    f"{name} is updated in place in training, so it must not be an expanded view (stride "
                    f"{tuple(t.stride())}); pass a tensor with its own storage, e.g. {name}.clone()"
                )


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@float32_under_autocast()
def complex_norm_act(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    *,
    film: torch.Tensor | None = None,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """``modulus_silu(film(batch_norm(x)))`` on the split layout, fused.

    Args:
        x: ``Tensor[B, 2C, H, W]``, real parts in channels ``[0, C)``; every size >= 1 (empty x: ValueError).
        weight, bias: ``Tensor[2C]`` affine parameters of the norm (None: 1 and 0).
        film: ``Tensor[B, 3C]``: per sample and complex channel a real scale ``s`` and a complex shift ``c``
            (real parts, imaginary parts), applied as ``z · (1 + s) + c``; None skips it.
        running_mean, running_var: ``Tensor[2C]``. Batch statistics are used when ``training`` or when these are
            None; in training they are updated in place as ``F.batch_norm`` does (``momentum``, unbiased
            variance), so they must not be expanded (stride-0) views. Otherwise they normalize. All tensors have
            x's dtype.

    Returns ``Tensor[B, 2C, H, W]``, differentiable in x, weight, bias and film.
    """
    _check(x, weight, bias, film, running_mean, running_var, training, momentum, eps)
    batch_stats = training or running_mean is None
    if batch_stats and x.numel() // x.shape[1] <= 1:
        raise ValueError(
            f"batch statistics need more than 1 value per channel, got x of shape {tuple(x.shape)}; "
            "pass running_mean and running_var with training=False to normalize by them"
        )
    if not extension.use_kernel("complex_norm_act", x.device):
        with extension.reference_scope("complex_norm_act"):
            return complex_norm_act_reference(
                x, weight, bias, film, running_mean, running_var, batch_stats, momentum, eps
            )
    c2 = x.shape[1]
    weight = weight if weight is not None else x.new_ones(c2)
    bias = bias if bias is not None else x.new_zeros(c2)
    fixed = (None, None) if batch_stats else (running_mean, running_var)
    y, mean, var = torch.ops.specdiff.complex_norm_act(x, weight, bias, *fixed, film, float(eps))
    if batch_stats and running_mean is not None:
        n = x.numel() // c2
        with torch.no_grad():
            running_mean.lerp_(mean.to(running_mean.dtype), momentum)
            running_var.lerp_((var * (n / (n - 1))).to(running_var.dtype), momentum)
    return y


if extension.is_loaded():

    @torch.library.register_fake("specdiff::complex_norm_act")
    def _(x, weight, bias, mean, var, film, eps):
        return x.new_empty(x.shape), x.new_empty(x.shape[1:2]), x.new_empty(x.shape[1:2])

    @torch.library.register_fake("specdiff::_complex_norm_act_backward")
    def _(grad, x, weight, bias, mean, var, film, eps, batch_stats, output_mask):
        film_grad = film.new_empty(film.shape) if film is not None else x.new_empty((0,))
        return x.new_empty(x.shape), weight.new_empty(weight.shape), bias.new_empty(bias.shape), film_grad

    def _setup_context(ctx, inputs, output):
        x, weight, bias, mean_in, _, film, eps = inputs
        _, mean, var = output
        ctx.save_for_backward(x, weight, bias, mean, var, film)
        ctx.batch_stats = mean_in is None
        ctx.eps = eps
        ctx.mark_non_differentiable(mean, var)

    def _backward(ctx, grad, _grad_mean, _grad_var):
        x, weight, bias, mean, var, film = ctx.saved_tensors
        need = ctx.needs_input_grad
        mask = [need[0], need[1] or need[2], film is not None and need[5]]
        gx, gw, gb, gfilm = torch.ops.specdiff._complex_norm_act_backward(
            grad, x, weight, bias, mean, var, film, ctx.eps, ctx.batch_stats, mask
        )
        return (
            gx if need[0] else None,
            gw if need[1] else None,
            gb if need[2] else None,
            None,
            None,
            gfilm if mask[2] else None,
            None,
        )

    torch.library.register_autograd("specdiff::complex_norm_act", _backward, setup_context=_setup_context)
