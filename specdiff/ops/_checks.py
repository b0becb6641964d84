"""Argument checks shared by the public ops: one line naming the argument and what is allowed.

The public wrappers validate every argument here, before routing, so the kernel and the reference path reject the
same inputs with the same message. The C++ kernels TORCH_CHECK the same rules again only because their
``torch.ops.specdiff`` entry points can be called directly.

Empty inputs: the FFT ops and ``complex_norm_act`` need every dimension of x >= 1 (ValueError otherwise); the
complex convolutions take an empty batch (B = 0 gives an empty result, as ``F.conv2d`` does) but need C, H, W >= 1.
"""

from __future__ import annotations

import functools

import torch

REAL_DTYPES = (torch.float32, torch.float64)
# Mixed precision (e.g. under autocast) on CUDA: the kernels compute in float32 and return the input dtype.
REDUCED_DTYPES = (torch.float16, torch.bfloat16)


def check_image(x: torch.Tensor, name: str = "x", *, empty_batch: bool = False) -> None:
    """``x`` must be a float ``Tensor[B, C, H, W]`` with every size >= 1 (B = 0 allowed when ``empty_batch``)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must be a 4-D tensor [B, C, H, W], got shape {tuple(x.shape)}")
    if not (x.dtype in REDUCED_DTYPES and x.device.type == "cuda") and x.dtype not in REAL_DTYPES:
        raise TypeError(f"{name} must be float32 or float64 (float16/bfloat16 on CUDA), got {x.dtype}")
    check_not_empty(x, name, "[B, C, H, W]", empty_batch)


def check_not_empty(t: torch.Tensor, name: str, layout: str, empty_batch: bool = False) -> None:
    """Every size of ``t`` >= 1; with ``empty_batch`` the first may be 0."""
    sizes = t.shape[1:] if empty_batch else t.shape
    if any(s == 0 for s in sizes):
        allowed = "C, H, W must be >= 1 (B may be 0)" if empty_batch else "every size must be >= 1"
        raise ValueError(f"{name} must not be empty: {layout} = {list(t.shape)}, but {allowed}")


def float32_under_autocast(*, keep_dtype: bool = True):
    """Decorates a public op ``op(x, ...)``: under autocast it runs in float32 with autocast off (half-precision
    FFTs cover only powers of two, and a reduced-precision convolution inside would lose the op's accuracy).
    float16/bfloat16 tensor arguments are cast up; the result is cast back to x's dtype when ``keep_dtype``
    (images), and stays float32 otherwise (losses, as autocast does for ``mse_loss``). Outside autocast the op
    is called unchanged."""

    def decorate(op):
        @functools.wraps(op)
        def wrapper(x, *args, **kwargs):
            if not (isinstance(x, torch.Tensor) and _autocast_enabled(x.device.type)):
                return op(x, *args, **kwargs)

            def up(t):
                return t.float() if isinstance(t, torch.Tensor) and t.dtype in REDUCED_DTYPES else t

            with torch.autocast(x.device.type, enabled=False):
                out = op(up(x), *map(up, args), **{k: up(v) for k, v in kwargs.items()})
            return out.to(x.dtype) if keep_dtype and x.dtype in REDUCED_DTYPES else out

        return wrapper

    return decorate


def _autocast_enabled(device_type: str) -> bool:
    # is_autocast_enabled raises for device types without autocast (meta).
    return torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type)


def in_float32(reference, x: torch.Tensor, *args):
    """Runs a reference in float32 for float16/bfloat16 ``x`` (half-precision FFTs only cover powers of two) and
    returns x's dtype; other dtypes pass straight through."""
    if x.dtype not in REDUCED_DTYPES:
        return reference(x, *args)
    return reference(x.float(), *args).to(x.dtype)


def check_tensor(t: object, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")


def check_same_device(ref: torch.Tensor, ref_name: str, other: torch.Tensor, name: str) -> None:
    if other.device != ref.device:
        raise ValueError(f"{name} is on {other.device} but {ref_name} is on {ref.device}; move them to one device")


def check_channel_vectors(x: torch.Tensor, layout: str, size: int, **vectors: torch.Tensor | None) -> None:
    """Each given vector (None is skipped) must be a 1-D tensor of ``size`` values (``layout``, e.g. "[C]"), on x's
    device and of x's dtype; ValueError / TypeError naming it otherwise."""
    for name, t in vectors.items():
        if t is None:
            continue
        if not isinstance(t, torch.Tensor) or t.shape != (size,):
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a 1-D tensor {layout} = [{size}] or None, got {got}")
        check_same_device(x, "x", t, name)
        if t.dtype != x.dtype:
            raise TypeError(f"{name} must have x's dtype {x.dtype}, got {t.dtype}")


def check_broadcastable(t: torch.Tensor, name: str, target: tuple[int, ...], target_desc: str) -> None:
    """``t`` must broadcast to ``target`` without growing it (rank at most len(target))."""
    if t.dim() < 1 or t.dim() > len(target):
        raise ValueError(
            f"{name} must have 1 to {len(target)} dims broadcastable to {target_desc} = {list(target)}, "
            f"got shape {tuple(t.shape)}"
        )
    for have, want in zip(reversed(t.shape), reversed(target), strict=False):
        if have not in (1, want):
            raise ValueError(
                f"{name} of shape {tuple(t.shape)} is not broadcastable to {target_desc} = {list(target)}"
            )
