"""Argument checks shared by the public ops: one line naming the argument and what is allowed."""

from __future__ import annotations

import torch

REAL_DTYPES = (torch.float32, torch.float64)


def check_image(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must be a 4-D tensor [B, C, H, W], got shape {tuple(x.shape)}")
    if x.dtype not in REAL_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")


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
