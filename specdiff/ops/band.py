"""The analytic band ``W(rho)`` shared by the band ops (reference path and argument handling).

* ``radial``: ``W = gain · rho``
* ``bandpass``: ``W = gain · σ(T(rho − inner)) · (1 − σ(T(rho − outer)))``

``rho`` is the normalized radius of the true FFT bin frequencies (:func:`frequency_radius`); ``inner``,
``outer`` and ``gain`` are Python numbers, 0-d tensors, or per-sample ``[B]`` tensors (differentiable).
"""

from __future__ import annotations

from typing import Literal

import torch

from specdiff import extension
from specdiff.ops.frequency import frequency_radius

BandKind = Literal["radial", "bandpass"]
Param = float | torch.Tensor


def _radial(rho, inner, outer, gain, temperature):
    return gain * rho


def _bandpass(rho, inner, outer, gain, temperature):
    return gain * torch.sigmoid(temperature * (rho - inner)) * (1 - torch.sigmoid(temperature * (rho - outer)))


# The bands as functions of rho: the specification the kernels implement (common/band.h).
_BANDS = {"radial": _radial, "bandpass": _bandpass}
BAND_KINDS: tuple[str, ...] = tuple(_BANDS)


def band_params(
    inner: Param, outer: Param, gain: Param, temperature: float, kind: str, batch: int, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Checks the band arguments and returns (inner, outer, gain) as tensors of ``like``'s real dtype.

    ``kind`` and ``temperature`` are checked by the kernels' own rule (:func:`specdiff.extension.check_band_args`),
    so both paths reject the same values with the same message."""
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a string, got {type(kind).__name__}")
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool):
        raise ValueError(f"temperature must be a number, got {temperature!r}")
    extension.check_band_args(kind, temperature)
    dtype = like.real.dtype if like.is_complex() else like.dtype
    if dtype in (torch.float16, torch.bfloat16):  # band math stays in float32 under mixed precision
        dtype = torch.float32
    out = []
    for name, value in (("inner", inner), ("outer", outer), ("gain", gain)):
        if isinstance(value, torch.Tensor):
            if not (value.is_floating_point()):
                raise TypeError(f"{name} must be a floating-point tensor, got {value.dtype}")
            if value.device != like.device:
                raise ValueError(f"{name} is on {value.device} but the input is on {like.device}")
            if not (value.dim() == 0 or (value.dim() == 1 and value.shape[0] == batch)):
                raise ValueError(f"{name} must be a number, a 0-d tensor or of shape [B] = [{batch}], "
                                 f"got shape {tuple(value.shape)}")
            out.append(value.to(dtype))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(torch.tensor(float(value), dtype=dtype, device=like.device))
        else:
            raise TypeError(f"{name} must be a number or a tensor, got {type(value).__name__}")
    return out[0], out[1], out[2]


def band_mask_reference(
    height: int,
    width: int,
    inner: torch.Tensor,
    outer: torch.Tensor,
    gain: torch.Tensor,
    temperature: float,
    kind: str,
) -> torch.Tensor:
    """The band on the half spectrum: ``Tensor[G, 1, height, width//2+1]`` with G = B if any parameter is
    per-sample, else 1."""
    if kind not in _BANDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, BAND_KINDS))}, got {kind!r}")
    rho = frequency_radius(height, width, dtype=inner.dtype, device=inner.device)
    per_sample = max(p.dim() for p in (inner, outer, gain)) == 1
    shape = (-1, 1, 1, 1) if per_sample else (1, 1, 1, 1)
    inner, outer, gain = (p.reshape(shape) for p in (inner, outer, gain))
    return _BANDS[kind](rho, inner, outer, gain, temperature)


def register_band_backward_fake(backward: str) -> None:
    """Fake impl of a band op's backward op ``backward`` (for torch.compile and opcheck).

    Band ops take ``(tensor, inner, outer, gain, *static)``; their backward op takes
    ``(grad, tensor, inner, outer, gain, *static, output_mask)`` and returns the four gradients. Their autograd is
    registered in C++ (``csrc/autograd.cpp``).
    """

    @torch.library.register_fake(f"specdiff::{backward}")
    def _(grad, tensor, inner, outer, gain, *static_and_mask):
        return tuple(t.new_empty(t.shape) for t in (tensor, inner, outer, gain))
