"""Loads the compiled kernels (``specdiff._C``) once and decides, per op and device, which backend runs.

``SPECDIFF_BACKEND`` (read once, at import):

* ``auto`` (default): the kernel when one is registered for the op and device, else the reference.
* ``reference``: always the pure-PyTorch reference.
* ``kernel``: always the kernel; calling an op with no kernel for the device raises.

When the extension cannot be loaded the package still works on the reference path and warns once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import warnings
from dataclasses import dataclass

import torch

from specdiff.errors import InvalidValue, Unavailable

BACKENDS = ("auto", "reference", "kernel")

# Every public op and the ``specdiff::`` kernels (forward and backward entry points) that must exist for it.
OPS: dict[str, tuple[str, ...]] = {
    "spectral_filter2d": ("spectral_filter2d", "_spectral_filter2d_backward"),
    "spectral_conv2d": ("spectral_conv2d", "_spectral_conv2d_backward"),
    "spectral_band_weight": ("spectral_band_weight", "_spectral_band_weight_backward"),
    "spectral_band_filter2d": ("spectral_band_filter2d", "_spectral_band_filter2d_backward"),
    "spectral_band_mse": ("spectral_band_mse", "_spectral_band_mse_backward"),
    "complex_conv2d": ("complex_conv2d", "_complex_conv2d_backward"),
    "complex_conv_transpose2d": ("complex_conv_transpose2d", "_complex_conv_transpose2d_backward"),
    "complex_norm_act": ("complex_norm_act", "_complex_norm_act_backward"),
    "group_norm_silu": ("group_norm_silu", "_group_norm_silu_backward"),
}


@dataclass(frozen=True)
class _State:
    loaded: bool
    error: str | None
    backend: str


def _load() -> _State:
    backend = os.environ.get("SPECDIFF_BACKEND", "auto").strip().lower() or "auto"
    if backend not in BACKENDS:
        raise InvalidValue(f"SPECDIFF_BACKEND={backend!r} is not valid; expected one of {', '.join(BACKENDS)}")
    if backend == "reference":
        return _State(False, "SPECDIFF_BACKEND=reference", backend)
    try:
        importlib.import_module("specdiff._C")
    except ImportError as exc:  # no compiler at install time, SPECDIFF_NO_EXT=1, or an ABI mismatch
        message = f"extension failed to load: {exc}"
        if backend == "kernel":
            raise Unavailable(f"specdiff: SPECDIFF_BACKEND=kernel but the {message}") from exc
        warnings.warn(f"specdiff: {message}; using the pure-PyTorch reference ops", RuntimeWarning, stacklevel=3)
        return _State(False, message, backend)
    return _State(True, None, backend)


_STATE = _load()
_KERNEL_CACHE: dict[tuple[str, str], bool] = {}


def is_loaded() -> bool:
    """True when ``specdiff._C`` is loaded (the kernels may still be missing for a device)."""
    return _STATE.loaded


def load_error() -> str | None:
    """Why the extension is not in use, or None."""
    return _STATE.error


def backend() -> str:
    """The process-wide backend setting: ``auto``, ``reference`` or ``kernel``."""
    return _STATE.backend


def has_kernel(op: str, device: torch.device | str) -> bool:
    """True when every kernel op behind public op ``op`` is registered for ``device``'s type."""
    return _has_kernel(op, torch.device(device).type)


# Under torch.compile, Dynamo calls this at trace time and keeps the answer as a constant: the dispatcher query
# returns a bool, which Dynamo cannot put into a graph, so tracing into it would break the graph at every op.
@torch.compiler.assume_constant_result
def _has_kernel(op: str, dev: str) -> bool:
    key = (op, dev)
    if key not in _KERNEL_CACHE:
        # Meta tensors run the ops' fake impls (registered as their Meta kernels): shapes and dtypes, no data.
        dispatch_key = {"cpu": "CPU", "cuda": "CUDA", "meta": "Meta"}.get(dev)
        found = _STATE.loaded and dispatch_key is not None
        for kernel in OPS.get(op, (op,)) if found else ():
            try:
                registered = torch._C._dispatch_has_kernel_for_dispatch_key(f"specdiff::{kernel}", dispatch_key)
            except RuntimeError:  # no such op in this build
                registered = False
            if not registered:
                found = False
                break
        _KERNEL_CACHE[key] = found
    return _KERNEL_CACHE[key]


def use_kernel(op: str, device: torch.device) -> bool:
    """The routing predicate every public op calls: kernel or reference for this call."""
    if _STATE.backend == "reference":
        return False
    if has_kernel(op, device):
        return True
    if _STATE.backend == "kernel":
        raise Unavailable(
            f"specdiff: SPECDIFF_BACKEND=kernel but op {op!r} has no {torch.device(device).type} kernel"
            + (f" ({_STATE.error})" if _STATE.error else "")
        )
    return False


@contextlib.contextmanager
def use_backend(name: str):
    """Runs the block with the op backend ``name`` (``reference``, ``kernel`` or ``auto``) for the whole process,
    as ``SPECDIFF_BACKEND`` would at import, then restores the previous one."""
    global _STATE
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    saved = _STATE
    _STATE = dataclasses.replace(saved, backend=name)
    try:
        yield
    finally:
        _STATE = saved


def reference_scope(op: str):
    """The profiler scope ``specdiff::<op>[reference]`` around an op's reference path, so profiles (and the
    trainer's spectral-op time) attribute the pure-PyTorch work to the op it implements. Costs a few µs."""
    return torch.profiler.record_function(f"specdiff::{op}[reference]")


def cpu_isa() -> str | None:
    """The instruction set the CPU kernels run with (``avx512``, ``avx2``, ``base``), or None."""
    return torch.ops.specdiff._cpu_isa() if _STATE.loaded else None


def set_cpu_isa(isa: str) -> str:
    """Forces the CPU kernels' instruction set (for tests and benchmarks); returns the previous one."""
    if not _STATE.loaded:
        raise RuntimeError(f"specdiff: no CPU kernels ({_STATE.error})")
    return torch.ops.specdiff._set_cpu_isa(isa)


# The rules and choices of the kernels, asked of the C++ (csrc/capabilities.cpp) rather than mirrored here.


def check_band_args(kind: str, temperature: float) -> None:
    """Raises ValueError unless ``kind`` and ``temperature`` are valid band arguments (common/band_params.h), the
    rule every kernel applies. Without the extension only the reference's own needs are checked (its kinds)."""
    if not _STATE.loaded or (kind, temperature) in _VALID_BAND_ARGS:
        return
    try:
        torch.ops.specdiff._check_band_args(kind, float(temperature))
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix("specdiff: ")) from None
    if len(_VALID_BAND_ARGS) < 1024:
        _VALID_BAND_ARGS.add((kind, temperature))


_VALID_BAND_ARGS: set[tuple[str, float]] = set()


def roundtrip_fused(device_type: str, height: int, width: int) -> bool:
    """Whether the kernels run planes of ``height`` x ``width`` through their fused FFT round trip on
    ``device_type`` (CPU: every size whose prime factors are at most the largest radix; CUDA: the sizes with a fused
    kernel under the SPECDIFF_CUDA_* tuning, see csrc/cuda/roundtrip_plan.h)."""
    if not _STATE.loaded:
        return False
    return torch.ops.specdiff._roundtrip_fused(device_type, height, width)


def cpu_caches() -> dict | None:
    """The CPU data caches the kernels size their blocks from (detected at run time), or None."""
    if not _STATE.loaded:
        return None
    names = ("l1d_bytes", "l1d_ways", "l2_bytes", "llc_bytes", "llc_cpus", "line_bytes")
    return dict(zip(names, torch.ops.specdiff._cpu_caches(), strict=True))


def stream_output(nbytes: int) -> bool:
    """Whether the CPU kernels write an output of ``nbytes`` with streaming stores: one that does not fit the L2s of
    the threads in use (the detected L2 times ``torch.get_num_threads()``) together with an input of its size.
    False without the extension."""
    return bool(_STATE.loaded and torch.ops.specdiff._stream_output(int(nbytes)))


def band_planes_in_pairs(plane_bytes: int, tables: int) -> bool:
    """Whether a CPU loop of ``spectral_band_weight`` that reads ``tables`` tables of ``plane_bytes`` (the forward one,
    the backward three) takes its planes two at a time, each vector of the tables loaded once for both: when the
    tables do not fit one core's L1d. False without the extension."""
    return bool(_STATE.loaded and torch.ops.specdiff._band_planes_in_pairs(int(plane_bytes), int(tables)))


def info() -> dict:
    """Build and run-time facts: versions, CPU ISA, kernels per op and device, active backend and why."""
    import platform

    import numpy

    import specdiff

    if _STATE.backend == "reference":
        active, why = "reference", "SPECDIFF_BACKEND=reference"
    elif not _STATE.loaded:
        active, why = "reference", _STATE.error
    else:
        active = "kernel"
        why = f"SPECDIFF_BACKEND={_STATE.backend}: kernels used where registered, reference elsewhere"
    return {
        "specdiff": specdiff.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "extension_loaded": _STATE.loaded,
        "extension_error": _STATE.error,
        "built_with_cuda": bool(_STATE.loaded and torch.ops.specdiff._built_with_cuda()),
        "cpu_isa": cpu_isa(),
        "cpu_isa_detected": torch.ops.specdiff._detected_cpu_isa() if _STATE.loaded else None,
        "cpu_caches": cpu_caches(),
        "backend_setting": _STATE.backend,
        "backend": active,
        "backend_reason": why,
        "ops": {op: {"cpu": has_kernel(op, "cpu"), "cuda": has_kernel(op, "cuda")} for op in sorted(OPS)},
    }
