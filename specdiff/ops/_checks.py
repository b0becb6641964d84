"""Argument checks shared by the public ops: one line naming the argument and what is allowed."""

from __future__ import annotations

import functools

import torch

REAL_DTYPES = (torch.float32, torch.float64)
# Mixed precision (e.g. under autocast) on CUDA: the kernels compute in float32 and return the input dtype.
REDUCED_DTYPES = (torch.float16, torch.bfloat16)


def check_image(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must be a 4-D tensor [B, C, H, W], got shape {tuple(x.shape)}")
    if x.dtype in REDUCED_DTYPES and x.device.type == "cuda":
        return
    if x.dtype not in REAL_DTYPES:
        raise TypeError(f"{name} must be float32 or float64 (float16/bfloat16 on CUDA), got {x.dtype}")


def float32_under_autocast(*, keep_dtype: bool = True):
    """Decorates a public op ``op(x, ...)``: under autocast it runs in float32 with autocast off (half-precision
    FFTs cover only powers of two, and a reduced-precision convolution inside would lose the op's accuracy).
    float16/bfloat16 tensor arguments are cast up; the result is cast back to x's dtype when ``keep_dtype``
    (images), and stays float32 otherwise (losses, as autocast does for ``mse_loss``). Outside autocast the op
    is called unchanged."""

    def decorate(op):
        @functools.wraps(op)
        def wrapper(x, *args, **kwargs):
            if not (isinstance(x, torch.Tensor) and torch.is_autocast_enabled(x.device.type)):
                return op(x, *args, **kwargs)

            def up(t):
                return t.float() if isinstance(t, torch.Tensor) and t.dtype in REDUCED_DTYPES else t

            with torch.autocast(x.device.type, enabled=False):
                out = op(up(x), *map(up, args), **{k: up(v) for k, v in kwargs.items()})
            return out.to(x.dtype) if keep_dtype and x.dtype in REDUCED_DTYPES else out

        return wrapper

    return decorate


def in_float32(reference, x: torch.Tensor, *args):
    """Runs a reference in float32 for float16/bfloat16 ``x`` (half-precision FFTs only cover powers of two) and
    returns x's dtype; other dtypes pass straight through."""
    if x.dtype not in REDUCED_DTYPES:
        return reference(x, *args)
    return reference(x.float(), *args).to(x.dtype)


def check_same_device(ref: torch.Tensor, ref_name: str, other: torch.Tensor, name: str) -> None:
    if other.device != ref.device:
        raise ValueError(f"{name} is on {other.device} but {ref_name} is on {ref.device}; move them to one device")


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
